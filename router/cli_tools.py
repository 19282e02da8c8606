"""The command line's tools beside serve: render (what each channel would send, as a person
reads it), explain (a running router's decision trace for an alert found by fingerprint or
by some of its labels), migrate (an Alertmanager config and its Go templates, translated)
and healthcheck (the container's probe).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from router.config.load import as_warning, check_report, load_config, load_config_text
from router.config.types import RouterConfig
from router.errors import ConfigError, InputError, Problem
from router.model import fingerprint

_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")


def load_or_print(path: str, *, strict: bool = False) -> RouterConfig | None:
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


def parse_labels(pairs: list[str]) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            print(f"not a label=value pair: {pair!r}", file=sys.stderr)
            return None
        labels[name] = value.strip('"')
    return labels


def _local_url(listen: str, scheme: str) -> str:
    """The URL of a router listening on `listen` (host:port), as reached from this host: a
    wildcard or empty host is the loopback address."""
    host, _, port = listen.rpartition(":")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"{scheme}://{host}:{port}"


# --- explain ---------------------------------------------------------------------------


class _Router:
    """A running router's read API, with the config's first bearer token if it has one."""

    def __init__(self, config: RouterConfig, url: str | None) -> None:
        self.base = (url or _local_url(config.server.listen, "http")).rstrip("/")
        tokens = config.server.auth.bearer_tokens
        self._token = tokens[0].reveal() if tokens else None

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path)
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())


def _show(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in sorted(labels.items())) + "}"


def _find(router: _Router, wanted: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    """The one current alert carrying every wanted label; with several, they are listed
    and None returned. With none, the full label set's fingerprint (a resolved or
    forgotten alert may still have its trace)."""
    alerts = router.get("/api/v1/alerts")
    found = [a for a in alerts if wanted.items() <= a["labels"].items()]
    if len(found) > 1:
        print(f"{len(found)} alerts carry {_show(wanted)}; name one by fingerprint or "
              "add labels:")
        for a in found:
            print(f"  {a['fingerprint']}  {_show(a['labels'])}  {a['state']}")
        return None
    if found:
        return found[0]["fingerprint"], found[0]["labels"]
    return fingerprint(wanted), wanted


def cmd_explain(config_path: str, words: list[str], url: str | None) -> int:
    """Ask a running router why it did what it did with one alert."""
    from router.routing import tree as routing

    config = load_or_print(config_path)
    if config is None:
        return 1
    router = _Router(config, url)
    labels: dict[str, str] | None = {}
    try:
        if len(words) == 1 and _FINGERPRINT.match(words[0]):
            fp = words[0]
            trace = router.get(f"/api/v1/alerts/{fp}/trace")
            labels = (trace.get("alert") or {}).get("labels") or {}
        else:
            labels = parse_labels(words)
            found = _find(router, labels) if labels is not None else None
            if found is None:
                return 1
            fp, labels = found
            trace = router.get(f"/api/v1/alerts/{fp}/trace")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            print(f"the router at {router.base} has no trace of this alert "
                  "(never received, or forgotten after the retention period)")
            return 1
        print(f"{router.base}: HTTP {exc.code}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"cannot reach the router at {router.base}: {exc}", file=sys.stderr)
        return 1
    print(f"alert {fp} {_show(labels)}")
    if labels:
        print(routing.format_routes_test(config.route, labels))
    if trace.get("alert"):
        print(f"state: {trace['alert']['state']}")
    for event in trace.get("events", []):
        detail = " ".join(f"{k}={v}" for k, v in event["detail"].items())
        print(f"{event['at']}  {event['kind']:<9} {detail}")
    return 0


# --- render ----------------------------------------------------------------------------


def _alerts(path: str, config: RouterConfig, now: float) -> tuple[Any, list[Any]]:
    """(the webhook body or {}, alerts) from a webhook payload, a captured request holding
    one, or an API v2 alert list (what Prometheus posts)."""
    from router.ingest.formats import from_postable, from_webhook

    body = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(body, dict) and "body" in body and "alerts" not in body:
        body = body["body"]  # a captured request (as in the fixtures)
    if isinstance(body, list):
        return {}, from_postable(body, now, config.global_.resolve_timeout)
    return body, from_webhook(body, now)


def cmd_render(config_path: str, receiver_name: str, payload_path: str, *,
               raw: bool = False) -> int:
    from router.channels import build_channel
    from router.channels.http import HttpClient
    from router.clock import SystemClock
    from router.model import Notification, NotifyReason, sort_alerts
    from router.readable import readable
    from router.rendering import Renderer
    from router.routing import tree as routing

    config = load_or_print(config_path)
    if config is None:
        return 1
    receiver = config.receivers.get(receiver_name)
    if receiver is None:
        print(f"no receiver named {receiver_name!r}; have: {', '.join(config.receivers)}",
              file=sys.stderr)
        return 1
    now = SystemClock().now()
    try:
        body, alerts = _alerts(payload_path, config, now)
    except (OSError, json.JSONDecodeError, InputError) as exc:
        where = getattr(exc, "path", "")
        print(f"{payload_path}: {where + ': ' if where else ''}{exc}", file=sys.stderr)
        return 1
    route = routing.match_routes(config.route, alerts[0].labels)[0] if alerts else config.route
    group_labels = routing.group_labels(route, alerts[0].labels) if alerts else {}
    renderer = Renderer(config.templates)
    n = Notification(
        receiver=receiver.name,
        group_key=body.get("groupKey") or routing.group_key(route, group_labels),
        group_labels=body.get("groupLabels") or group_labels,
        alerts=sort_alerts(alerts), reason=NotifyReason.FIRST, now=now,
        external_url=config.server.external_url,
        silence_url=config.server.silence_url,
    )
    for kind, index, cfg in receiver.channels():
        channel = build_channel(kind, cfg, renderer, HttpClient())  # renders only: never started
        payload = channel.render(n)
        print(f"--- {kind}[{index}] ---")
        print(payload.decode("utf-8", errors="replace") if raw else readable(kind, payload))
    if not receiver.channels():
        print(f"receiver {receiver_name!r} has no channels (a black hole)")
    return 0


def cmd_check_web(files: list[str]) -> int:
    """Like `promtool check web-config`, with the certificate and key loaded too."""
    from router.config.web_config import load_web_config
    from router.web.tls import build_server_context

    bad = False
    for path in files:
        try:
            tls = load_web_config(path).tls
            if tls is not None:
                build_server_context(tls)
        except ConfigError as exc:
            bad = True
            print("\n".join(str(p) for p in exc.problems))
        except (OSError, ssl.SSLError, ValueError) as exc:
            bad = True  # the reason only: an SSL error's text may quote bytes of a key
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
            print(f"{path}: tls_server_config: cannot load the certificate and key: "
                  f"{reason or type(exc).__name__}")
    if not bad:
        print(f"{len(files)} file(s) valid")
    return 1 if bad else 0


# --- healthcheck -----------------------------------------------------------------------


def _serve_url(pid: int, parser: argparse.ArgumentParser) -> str:
    """The URL of the router running as `pid`, from its command line and config."""
    from router.config.load import default_config
    from router.config.web_config import load_web_config

    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    if "serve" in argv:
        rest = argv[argv.index("serve") + 1:]
    else:  # flags only (`alert-router --config.file x`): from the first flag on, values kept
        rest = next((argv[i:] for i, a in enumerate(argv) if i and a.startswith("-")), [])
    refusal = io.StringIO()
    try:
        with contextlib.redirect_stderr(refusal):
            args, _ = parser.parse_known_args(["serve", *rest])
    except SystemExit:
        raise ValueError(refusal.getvalue().strip() or "cannot parse its command line") from None
    listen = args.listen or (load_config(args.config, lenient_files=True).server.listen
                             if args.config else default_config().server.listen)
    scheme = "http"
    if args.web_config and load_web_config(args.web_config).tls is not None:
        scheme = "https"
    return _local_url(listen, scheme)


def cmd_healthcheck(url: str | None, pid: int, parser: argparse.ArgumentParser) -> int:
    """0 when /-/healthy answers 200; 1 with one line saying why not."""
    try:
        base = url or _serve_url(pid, parser)
    except (OSError, ValueError, ConfigError) as exc:
        print(f"healthcheck: cannot tell the router's address from process {pid}: "
              f"{str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    context = ssl.create_default_context()
    context.check_hostname = False  # a probe of this host's own port, not of its name
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(base.rstrip("/") + "/-/healthy", timeout=4,
                                    context=context) as resp:
            ok = resp.status == 200
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {base}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def cmd_migrate(config: str, output: str | None) -> int:
    """Translate, write, then load the result as check-config does: 0 when it is valid."""
    from router.config.migrate import migrate

    src = Path(config)
    out = Path(output) if output else None
    if out is not None and out.absolute() == src.absolute():
        print(f"{src}: -o must name a new file: the Alertmanager config stays as it is",
              file=sys.stderr)
        return 2
    try:
        result = migrate(src, (out or src).absolute().parent)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{src}: cannot read: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    except yaml.YAMLError as exc:
        print(f"{src}: not YAML: {exc}", file=sys.stderr)
        return 2
    if result.templates and out is None:
        print(f"{src}: templates: the translated template files need a place: give -o "
              "alert-router.yml (they are written to templates/ beside it)", file=sys.stderr)
        return 2
    for note in result.notes:
        print(note, file=sys.stderr)
    if out is None:
        sys.stdout.write(result.config)
        try:
            load_config_text(result.config, str(src), lenient_files=True)
            problems: list[str] = []
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
    else:
        try:
            for path, text in {**result.templates, out: result.config}.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"{exc.filename}: cannot write: {exc.strerror}", file=sys.stderr)
            return 2
        problems, warnings = check_report([str(out)])
        for line in warnings:
            print(line, file=sys.stderr)
    for line in problems:
        print(line, file=sys.stderr)
    written = f"{out} and {len(result.templates)} template file(s)" if out else "stdout"
    verdict = f"{len(problems)} problem(s): fix them" if problems else "check-config: valid"
    print(f"migrated {src} to {written}; {verdict}", file=sys.stderr)
    return 1 if problems else 0
