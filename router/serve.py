"""`alert-router serve`: bind, open, serve, reload on SIGHUP, stop on SIGTERM.

Start-up fails fast and in one line (`StartupError`), never half-alive: the listening
sockets are bound first (a taken port fails before the store opens or any loop starts),
the storage is checked for what no retry can fix (a missing directory, no permission), the
TLS files are loaded, and only then does the app start. A store that exists but cannot
commit now (a read-only or full filesystem) is not a start-up error: the router serves,
not ready, and heals (README, "Storage faults heal by themselves").
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from router.config.types import RouterConfig
    from router.config.web_config import WebConfigFile
    from router.service import Service
    from router.web.tls import ServerTls

__all__ = ["StartupError", "bind", "check_storage", "serve"]

log = logging.getLogger("router")

# amtool and Grafana put matchers in the URL: aiohttp's 8 KiB request line refuses long
# filters with a 400. Go's net/http allows 1 MiB of headers in all.
MAX_LINE = 64 * 1024
MAX_FIELD = 16 * 1024


class StartupError(Exception):
    """A reason the router cannot start, as one line for the operator."""


def split_listen(listen: str) -> tuple[str | None, int]:
    """`host:port`, `[v6]:port` or `:port` (every interface) → (host or None, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise StartupError(f"invalid listen address {listen!r}: expected host:port")
    return (host.strip("[]") or None), int(port)


def bind(listen: str) -> list[socket.socket]:
    """Listening sockets for every address `listen` resolves to, bound now."""
    host, port = split_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {listen}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    failed: OSError | None = None
    for family, kind, proto, _, address in dict.fromkeys(
            (i[0], i[1], i[2], "", i[4]) for i in infos):
        try:
            sockets.append(_listen(family, kind, proto, address))
        except OSError as exc:
            # `:9095` on a host without IPv6: the IPv4 socket is enough.
            if host is None and exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                continue
            failed = exc
            break
    if failed is not None or not sockets:
        for sock in sockets:
            sock.close()
        code = failed.errno if failed is not None else None
        reason = os.strerror(code).lower() if code else "no address to listen on"
        raise StartupError(f"cannot listen on {listen}: {reason}")
    return sockets


def _listen(family: int, kind: int, proto: int, address: Any) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # IPv4 has its own socket when both resolve
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def check_storage(path: str) -> None:
    """Refuse a storage path no retry can fix. A read-only filesystem is not refused:
    it may be remounted (the store heals then)."""
    db = Path(path)
    folder = db.parent if str(db.parent) else Path()
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise StartupError(f"storage {path}: directory {folder} {what}")
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return
    for target, mode in ((folder, os.W_OK | os.X_OK), (db, os.R_OK | os.W_OK)):
        if target.exists() and not os.access(target, mode):
            raise StartupError(
                f"storage {path}: {target} is not writable by uid {os.geteuid()}")


async def serve(config: RouterConfig, config_path: str | None, overrides: dict[str, str],
                web_config: WebConfigFile, sockets: list[socket.socket]) -> None:
    """Serve on `sockets` (bound by `bind`) until SIGTERM/SIGINT; StartupError before
    anything is served."""
    # Imported here: `bind` and `check_storage` refuse before the whole object graph loads.
    from aiohttp import web

    from router.app import create_app
    from router.errors import StoreUnavailable
    from router.web.keys import SERVICE

    try:
        check_storage(config.storage.path)
        tls = _tls(web_config)
        app = create_app(config, config_path=config_path, overrides=overrides,
                         web_config=web_config.current)
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               max_line_size=MAX_LINE, max_field_size=MAX_FIELD)
        try:
            await runner.setup()
        except StoreUnavailable as exc:
            raise StartupError(f"storage {config.storage.path}: {exc}") from None
        except Exception as exc:  # e.g. a file that is not a database: still one line
            log.debug("start-up failed", exc_info=exc)
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise StartupError(f"cannot start: {type(exc).__name__}: {first}") from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    try:
        for sock in sockets:
            await web.SockSite(runner, sock, ssl_context=tls.context if tls else None).start()
        log.info("alert-router listening", extra={
            "listen": config.server.listen, "tls": tls is not None,
            "web_config": web_config.path or "none",
            "config": config_path or "built-in default (every alert to the log channel)",
            "storage": config.storage.path})
        await _until_stopped(app[SERVICE])
    finally:
        log.info("shutting down")
        await runner.cleanup()


def _tls(web_config: WebConfigFile) -> ServerTls | None:
    from router.web.tls import ServerTls

    cfg = web_config.current().tls
    if cfg is None:
        return None
    try:
        return ServerTls(cfg)
    except (OSError, ssl.SSLError, ValueError) as exc:
        # The type and OpenSSL's reason only: its text may quote bytes of a key.
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(
            exc).__name__
        raise StartupError(f"web config {web_config.path}: tls_server_config: cannot load "
                           f"the certificate and key: {reason}") from None


async def _until_stopped(service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            await service.reload()
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
