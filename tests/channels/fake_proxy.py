"""A loopback HTTP proxy for tests: CONNECT tunnels (HTTPS) and absolute-URI forwarding
(plain HTTP), recording what it was asked; host names resolve through a test map, so a
request that reaches a `*.test` host must have gone through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult


@dataclass
class ProxyRequest:
    method: str
    target: str  # `host:port` for CONNECT, the absolute URL otherwise
    headers: dict[str, str]


@dataclass
class FakeProxy:
    """Start with `start()`; `url` is its address; `requests` what it saw."""

    hosts: dict[str, str] = field(default_factory=dict)  # name → address to connect to
    requests: list[ProxyRequest] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> FakeProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def _address(self, host: str, port: int) -> tuple[str, int]:
        return self.hosts.get(host, host), port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        self.requests.append(ProxyRequest(method, target, headers))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(*self._address(host, int(port)))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            parts = urlsplit(target)
            assert parts.hostname is not None
            up_reader, up_writer = await asyncio.open_connection(
                *self._address(parts.hostname, parts.port or 80))
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            up_writer.write(f"{method} {path} {version}\r\n".encode() + head.split(b"\r\n", 1)[1])
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()


class TestResolver(AbstractResolver):
    """Resolves every `*.test` name to 127.0.0.1 (and nothing else): a client session with
    it reaches loopback servers by name, so proxy and no_proxy rules see a real host."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if not host.endswith(".test"):
            raise OSError(f"{host} does not resolve in tests")
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None
