"""Command line: serve | check-config | routes test/show | render | explain; exit 0 or 1.

`routes` takes amtool's flags (`--config.file`, `--tree`, `--verify.receivers`) and reads
label arguments as amtool does, so scripts written for `amtool config routes` carry over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from router.channels import build_channel
from router.channels.http import HttpClient
from router.clock import SystemClock
from router.config.load import as_warning, check_report, default_config, load_config
from router.config.types import RouterConfig
from router.errors import ConfigError, InputError, MatcherError, Problem
from router.ingest.formats import from_webhook
from router.logs import setup_logging
from router.matchers import MatchOp, parse_classic_matcher
from router.model import fingerprint, sort_alerts
from router.routing import tree as routing
from router.routing.show import format_matching_tree, format_tree

log = logging.getLogger("router")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alert-router", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the router")
    serve.add_argument("--config", help="YAML config file (default: built-in zero-config)")
    serve.add_argument("--listen", help="HOST:PORT (overrides server.listen)")
    serve.add_argument("--storage", help="SQLite file (overrides storage.path)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--log-format", choices=["auto", "json", "text"], default="auto")
    check = sub.add_parser("check-config", help="validate config files")
    check.add_argument("files", nargs="+")
    routes = sub.add_parser("routes", help="routing tools")
    rsub = routes.add_subparsers(dest="routes_command", required=True)
    rtest = rsub.add_parser("test", help="which receivers would labels reach")
    rtest.add_argument("--config", "--config.file", dest="config", required=True)
    rtest.add_argument("--tree", action="store_true", help="print the matching routes tree")
    rtest.add_argument("--verify.receivers", dest="verify", default="",
                       help="fail (exit 1) unless the labels reach exactly these, e.g. a,b")
    rtest.add_argument("labels", nargs="*", help="label=value ...")
    rshow = rsub.add_parser("show", help="print the routing tree")
    rshow.add_argument("--config", "--config.file", dest="config", required=True)
    explain = sub.add_parser(
        "explain", help="print the decision trace of an alert from a running router")
    explain.add_argument("--config", required=True)
    explain.add_argument("--url", help="router base URL (default: from server.listen)")
    explain.add_argument("labels", nargs="+", help="label=value ... (the alert's full label set)")
    render = sub.add_parser("render", help="print what each channel of a receiver would send")
    render.add_argument("--config", required=True)
    render.add_argument("--receiver", required=True)
    render.add_argument("--payload", required=True, help="Alertmanager webhook JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return cmd_check(args.files)
    if args.command == "routes" and args.routes_command == "show":
        return cmd_routes_show(args.config)
    if args.command == "routes":
        return cmd_routes_test(args.config, args.labels, tree=args.tree, verify=args.verify)
    if args.command == "explain":
        return cmd_explain(args.config, args.labels, args.url)
    if args.command == "render":
        return cmd_render(args.config, args.receiver, args.payload)
    return cmd_serve(args)


def _load(path: str, *, strict: bool = False) -> RouterConfig | None:
    """The config at `path`, or None after printing its problems. `strict` (serve): a
    secret file missing here is an error; otherwise a warning, as in check-config."""
    warnings: list[Problem] = []
    try:
        config = load_config(path, lenient_files=not strict, warnings=warnings)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
    for warning in warnings:
        print(as_warning(warning), file=sys.stderr)
    return config


def cmd_check(files: list[str]) -> int:
    problems, warnings = check_report(files)
    for line in problems + warnings:
        print(line)
    if problems:
        return 1
    print(f"{len(files)} file(s) valid")
    return 0


def _labels(pairs: list[str]) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            print(f"not a label=value pair: {pair!r}", file=sys.stderr)
            return None
        labels[name] = value.strip('"')
    return labels


def _amtool_labels(args: list[str]) -> dict[str, str] | None:
    """amtool's parseLabels: each argument one `labels.ParseMatcher` matcher, `=` only; a
    later argument for the same name wins. `{a="b"}` and `a!=b` are refused, not misread."""
    labels: dict[str, str] = {}
    for arg in args:
        try:
            matcher = parse_classic_matcher(arg)
        except MatcherError as exc:
            print(f"Failed to parse labels: {exc.message}", file=sys.stderr)
            return None
        if matcher.op is not MatchOp.EQ:
            print("Failed to parse labels: labels must be specified as key=value pairs",
                  file=sys.stderr)
            return None
        labels[matcher.name] = matcher.value
    return labels


def cmd_routes_test(config_path: str, args: list[str], *, tree: bool = False,
                    verify: str = "") -> int:
    config = _load(config_path)
    labels = _amtool_labels(args)
    if config is None or labels is None:
        return 1
    if tree:
        sys.stdout.write(format_matching_tree(config.route, labels))
    report = routing.format_routes_test(config.route, labels)
    print(report)
    if verify and verify != report.partition("\n")[0]:
        print("WARNING: Expected receivers did not match resolved receivers.")
        return 1
    return 0


def cmd_routes_show(config_path: str) -> int:
    config = _load(config_path)
    if config is None:
        return 1
    sys.stdout.write(format_tree(config.route))
    return 0


def cmd_explain(config_path: str, pairs: list[str], url: str | None) -> int:
    """Ask a running router why it did what it did with this alert."""
    config = _load(config_path)
    labels = _labels(pairs)
    if config is None or labels is None:
        return 1
    fp = fingerprint(labels)
    base = (url or "http://" + config.server.listen.replace("0.0.0.0", "127.0.0.1")).rstrip("/")
    request = urllib.request.Request(f"{base}/api/v1/alerts/{fp}/trace")
    if config.server.auth.bearer_tokens:
        token = config.server.auth.bearer_tokens[0].reveal()
        request.add_header("Authorization", f"Bearer {token}")
    print(f"alert {fp} {{{', '.join(f'{k}={v!r}' for k, v in sorted(labels.items()))}}}")
    print(routing.format_routes_test(config.route, labels))
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            print("the router at " + base + " has no trace of this alert "
                  "(never received, or forgotten after the retention period)")
            return 1
        print(f"{base}: HTTP {exc.code}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"cannot reach the router at {base}: {exc}", file=sys.stderr)
        return 1
    if body.get("alert"):
        print(f"state: {body['alert']['state']}")
    for event in body.get("events", []):
        detail = " ".join(f"{k}={v}" for k, v in event["detail"].items())
        print(f"{event['at']}  {event['kind']:<9} {detail}")
    return 0


def cmd_render(config_path: str, receiver_name: str, payload_path: str) -> int:
    from router.model import Notification, NotifyReason
    from router.rendering import Renderer

    config = _load(config_path)
    if config is None:
        return 1
    receiver = config.receivers.get(receiver_name)
    if receiver is None:
        print(f"no receiver named {receiver_name!r}; have: {', '.join(config.receivers)}",
              file=sys.stderr)
        return 1
    try:
        body = json.loads(Path(payload_path).read_text(encoding="utf-8"))
        if isinstance(body, dict) and "body" in body and "alerts" not in body:
            body = body["body"]  # a captured request (as in the fixtures)
        now = SystemClock().now()
        alerts = from_webhook(body, now)
    except (OSError, json.JSONDecodeError, InputError) as exc:
        print(f"{payload_path}: {getattr(exc, 'path', '')} {exc}", file=sys.stderr)
        return 1
    route = routing.match_routes(config.route, alerts[0].labels)[0] if alerts else config.route
    group_labels = routing.group_labels(route, alerts[0].labels) if alerts else {}
    renderer = Renderer(config.templates)
    n = Notification(
        receiver=receiver.name,
        group_key=body.get("groupKey") or routing.group_key(route, group_labels),
        group_labels=body.get("groupLabels") or group_labels,
        alerts=sort_alerts(alerts),
        reason=NotifyReason.FIRST,
        now=now,
        external_url=config.server.external_url,
        silence_url=config.server.silence_url,
    )
    for kind, index, cfg in receiver.channels():
        channel = build_channel(kind, cfg, renderer, HttpClient())  # renders only: never started
        print(f"--- {kind}[{index}] ---")
        print(channel.render(n).decode("utf-8"))
    if not receiver.channels():
        print(f"receiver {receiver_name!r} has no channels (a black hole)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    overrides = {k: v for k, v in (("listen", args.listen), ("storage", args.storage)) if v}
    from router.service import apply_overrides

    if args.config:
        config = _load(args.config, strict=True)
        if config is None:
            return 1
    else:
        config = default_config()
    config = apply_overrides(config, overrides)
    with contextlib.suppress(KeyboardInterrupt):
        _run(_serve(config, args.config, overrides))
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (about twice asyncio's socket throughput), else asyncio."""
    # Full GC passes walk every held alert and stall the loop (a p99 of 26 ms at 1,000
    # alerts/s, measured). A larger young generation and 10x rarer full passes cut that
    # to about 10 ms; cyclic garbage is still collected (bench/README.md).
    gc.set_threshold(2000, 10, 100)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def _serve(config: RouterConfig, config_path: str | None,
                 overrides: dict[str, str]) -> None:
    from router.app import create_app
    from router.web.keys import SERVICE

    app = create_app(config, config_path=config_path, overrides=overrides)
    host, _, port = config.server.listen.rpartition(":")
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "0.0.0.0", int(port))
    await site.start()
    log.info(
        "alert-router listening",
        extra={"listen": config.server.listen,
               "config": config_path or "built-in default (every alert to the log channel)",
               "storage": config.storage.path},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    state = app[SERVICE]
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            await state.reload()
        except Exception as exc:
            log.error("reload refused; the running config stays", extra={"error": str(exc)})

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
