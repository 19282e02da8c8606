"""Command line: serve | check-config | routes test/show | render | explain | migrate |
healthcheck.

Flags are spelled as Prometheus components spell them (`--config.file`,
`--web.listen-address`, `--log.level`, ...), beside this project's first spellings. Every
refusal is one line on stderr and a non-zero exit: a bad flag (2), a config or start-up
problem (1); never a traceback. `routes` takes amtool's flags (`--tree`,
`--verify.receivers`) and reads labels as amtool does, so its scripts carry over.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import socket
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

from router.logs import LEVELS

# Only what parsing and a fast refusal need is imported up here: the config loader pulls in
# every channel (aiohttp, pywebpush: about a second), so a taken port or an unusable
# storage named by a flag is refused before it is imported.

DEFAULT_DB = "alert-router.db"  # inside a --storage.path directory


class _Parser(argparse.ArgumentParser):
    """argparse, but a refusal is one line (usage stays behind --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _serve_flags(serve: argparse.ArgumentParser) -> None:
    add = serve.add_argument
    add("--config.file", "--config", dest="config", metavar="FILE",
        help="YAML config file (default: the built-in zero-config)")
    add("--web.listen-address", "--listen", dest="listen", metavar="HOST:PORT",
        help="address to listen on (overrides server.listen; default 127.0.0.1:9095)")
    add("--web.external-url", dest="external_url", metavar="URL",
        help="base of the links in messages (overrides server.external_url)")
    add("--web.config.file", dest="web_config", metavar="FILE",
        help="TLS, basic auth and headers, in Prometheus exporter-toolkit's format")
    add("--storage.path", "--storage", dest="storage", metavar="PATH",
        help=f"SQLite file, or a directory to hold {DEFAULT_DB} (overrides storage.path)")
    add("--log.level", "--log-level", dest="log_level", default="info",
        choices=sorted(LEVELS, key=LEVELS.__getitem__), type=str.lower)
    add("--log.format", "--log-format", dest="log_format", default="auto",
        choices=["logfmt", "json", "text", "auto"],
        help="auto (default): text on a terminal, logfmt otherwise")
    add("--version", action="store_true", help="print the version and exit")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="alert-router", description=__doc__)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    _serve_flags(sub.add_parser("serve", help="run the router"))
    check = sub.add_parser("check-config", help="validate config files")
    check.add_argument("files", nargs="+")
    check_web = sub.add_parser("check-web-config",
                               help="validate --web.config.file files (TLS files loaded)")
    check_web.add_argument("files", nargs="+")
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
    explain.add_argument("--config", "--config.file", dest="config", required=True)
    explain.add_argument("--url", help="router base URL (default: from server.listen)")
    explain.add_argument("alert", nargs="+",
                         help="a fingerprint, or label=value ... (all or some of its labels)")
    render = sub.add_parser("render", help="print what each channel of a receiver would send")
    render.add_argument("--config", "--config.file", dest="config", required=True)
    render.add_argument("--receiver", required=True)
    render.add_argument("--payload", required=True,
                        help="JSON file: Alertmanager webhook payload or API v2 alert list")
    render.add_argument("--raw", action="store_true",
                        help="the bytes on the wire instead of the readable text")
    mig = sub.add_parser("migrate", help="rewrite an Alertmanager config and its Go "
                         "templates for alert-router (Jinja), then check the result")
    mig.add_argument("config", help="the Alertmanager config (alertmanager.yml)")
    mig.add_argument("-o", "--output", help="where to write the new config (its translated "
                     "templates go to templates/ beside it); default: standard output")
    health = sub.add_parser("healthcheck", help="probe /-/healthy of a running router "
                            "(the container's HEALTHCHECK)")
    health.add_argument("--url", help="router base URL (default: from the command line "
                        "and config of the process --pid)")
    health.add_argument("--pid", type=int, default=1,
                        help="the router's process id (default 1: a container's)")
    return p


def _argv(argv: Sequence[str] | None) -> list[str]:
    """`alert-router --config.file=x` (flags only, as Prometheus is run) means serve."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
        args.insert(0, "serve")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_argv(argv))
    try:
        return _dispatch(parser, args)
    except BrokenPipeError:
        # `alert-router render ... | head`: the reader left; say nothing more and exit as a
        # program killed by SIGPIPE would (128 + 13). What is still buffered goes nowhere.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.version:
        from router.version import version_text

        print(version_text(), end="")
        return 0
    if args.command is None:
        parser.error("a command is required: serve, check-config, routes, render, explain, "
                     "migrate or healthcheck")
    if args.command == "check-config":
        return cmd_check(args.files)
    if args.command == "check-web-config":
        from router.cli_tools import cmd_check_web

        return cmd_check_web(args.files)
    if args.command == "routes" and args.routes_command == "show":
        return cmd_routes_show(args.config)
    if args.command == "routes":
        return cmd_routes_test(args.config, args.labels, tree=args.tree, verify=args.verify)
    if args.command == "serve":
        return cmd_serve(args)
    from router import cli_tools

    if args.command == "explain":
        return cli_tools.cmd_explain(args.config, args.alert, args.url)
    if args.command == "migrate":
        return cli_tools.cmd_migrate(args.config, args.output)
    if args.command == "render":
        return cli_tools.cmd_render(args.config, args.receiver, args.payload, raw=args.raw)
    return cli_tools.cmd_healthcheck(args.url, args.pid, parser)


def cmd_check(files: list[str]) -> int:
    from router.config.load import check_report

    problems, warnings = check_report(files)
    for line in problems + warnings:
        print(line)
    if problems:
        return 1
    print(f"{len(files)} file(s) valid")
    return 0


def _amtool_labels(args: list[str]) -> dict[str, str] | None:
    """amtool's parseLabels: each argument one `labels.ParseMatcher` matcher, `=` only; a
    later argument for the same name wins. `{a="b"}` and `a!=b` are refused, not misread."""
    from router.errors import MatcherError
    from router.matchers import MatchOp, parse_classic_matcher

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
    from router.cli_tools import load_or_print
    from router.routing import tree as routing
    from router.routing.show import format_matching_tree

    config = load_or_print(config_path)
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
    from router.cli_tools import load_or_print
    from router.routing.show import format_tree

    config = load_or_print(config_path)
    if config is None:
        return 1
    sys.stdout.write(format_tree(config.route))
    return 0


def serve_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The flags that win over the config file (and survive reloads)."""
    pairs = (("listen", args.listen), ("storage", args.storage),
             ("external_url", args.external_url))
    overrides = {k: v for k, v in pairs if v}
    if "storage" in overrides and Path(overrides["storage"]).is_dir():
        overrides["storage"] = str(Path(overrides["storage"]) / DEFAULT_DB)
    return overrides


def cmd_serve(args: argparse.Namespace) -> int:
    from router.logs import setup_logging
    from router.serve import StartupError, bind, check_storage

    setup_logging(args.log_level, args.log_format)
    overrides = serve_overrides(args)
    sockets: list[socket.socket] = []
    try:
        # What the flags name is checked before the heavy imports (see the top).
        if "listen" in overrides:
            sockets = bind(overrides["listen"])
        if "storage" in overrides:
            check_storage(overrides["storage"])
        return _serve(args, overrides, sockets)
    except StartupError as exc:
        print(f"alert-router: error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sock in sockets:
            sock.close()


def _serve(args: argparse.Namespace, overrides: dict[str, str],
           sockets: list[socket.socket]) -> int:
    from router.cli_tools import load_or_print
    from router.config.load import default_config
    from router.config.web_config import WebConfigFile
    from router.errors import ConfigError
    from router.serve import bind, serve
    from router.service import apply_overrides

    if args.config:
        config = load_or_print(args.config, strict=True)
        if config is None:
            return 1
    else:
        config = default_config()
    config = apply_overrides(config, overrides)
    try:
        web_config = WebConfigFile(args.web_config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    sockets = sockets or bind(config.server.listen)
    with contextlib.suppress(KeyboardInterrupt):
        _run(serve(config, args.config, overrides, web_config, sockets))
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (about twice asyncio's socket throughput), else asyncio."""
    import asyncio

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
