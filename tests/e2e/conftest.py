"""End-to-end fixtures: run alert-router as a real subprocess on a free loopback port, and
loopback fake receivers that record every request and answer slowly or from a script.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

# A scripted answer: a status, or a status with extra headers (e.g. Retry-After).
Answer = int | tuple[int, Mapping[str, str]]


def free_port() -> int:
    """A loopback port that was free a moment ago (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rfc3339(at: datetime | None = None, *, offset: float = 0.0) -> str:
    """UTC timestamp as Alertmanager writes it (`...Z`)."""
    moment = (at or datetime.now(UTC)) + timedelta(seconds=offset)
    return moment.isoformat().replace("+00:00", "Z")


def tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "<no output file>"
    return text[-limit:]


async def wait_until(
    predicate: Callable[[], bool], *, within: float, what: str, interval: float = 0.05
) -> None:
    """Poll `predicate` on the wall clock (end-to-end tests only) until true or fail."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass(slots=True)
class Recorded:
    """One request a fake received; `answered_at` is set once its response was written."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float  # time.monotonic()
    status: int = 0
    answered_at: float | None = None


class FakeReceiver:
    """A loopback HTTP endpoint that records every request.

    `delay` (mutable while running) holds each answer back; `script` supplies the next
    statuses (then 200); `json_by_path` gives a JSON body per path (Slack's Web API).
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        script: Iterable[Answer] = (),
        json_by_path: Mapping[str, Any] | None = None,
    ) -> None:
        self.delay = delay
        self.script: deque[Answer] = deque(script)
        self.json_by_path = dict(json_by_path or {})
        self.requests: list[Recorded] = []
        self.server: TestServer | None = None
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    def url(self, path: str = "/") -> str:
        assert self.server is not None, "fake receiver not started"
        return str(self.server.make_url(path))

    def at(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = await request.json() if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        rec = Recorded(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            received_at=time.monotonic(),
        )
        self.requests.append(rec)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        answer = self.script.popleft() if self.script else 200
        status, headers = (answer, {}) if isinstance(answer, int) else answer
        payload = self.json_by_path.get(request.path)
        resp: web.Response
        if payload is not None:
            resp = web.json_response(payload, status=status, headers=headers)
        else:
            resp = web.Response(status=status, text="ok", headers=headers)
        rec.status = status
        try:
            # Write the answer before recording it as answered: a client killed while
            # this handler slept never got it.
            await resp.prepare(request)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            return resp
        if request.transport is not None and not request.transport.is_closing():
            rec.answered_at = time.monotonic()
        return resp


FakeFactory = Callable[..., Awaitable[FakeReceiver]]


@pytest.fixture
def fake_receiver(aiohttp_server: AiohttpServer) -> FakeFactory:
    """`await fake_receiver(delay=2.0, script=[503, 200], json_by_path={...})`."""

    async def start(**kwargs: Any) -> FakeReceiver:
        fake = FakeReceiver(**kwargs)
        fake.server = await aiohttp_server(fake.app, host="127.0.0.1")
        return fake

    return start


@dataclass
class ServiceProcess:
    """A running program (alert-router, Alertmanager); its output goes to files."""

    proc: asyncio.subprocess.Process
    url: str
    stdout_path: Path
    stderr_path: Path
    files: list[TextIO] = field(default_factory=list)

    def logs(self) -> str:
        return (
            f"--- alert-router stdout ({self.stdout_path}) ---\n{tail(self.stdout_path)}\n"
            f"--- alert-router stderr ({self.stderr_path}) ---\n{tail(self.stderr_path)}"
        )

    async def kill(self) -> None:
        """SIGKILL: the crash the durability guarantees are about."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self._close()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.send_signal(signal.SIGKILL)
                await self.proc.wait()
        self._close()

    def _close(self) -> None:
        for f in self.files:
            f.close()
        self.files.clear()


def _open_output(path: Path) -> TextIO:
    return path.open("w", encoding="utf-8")


async def spawn(
    argv: list[str], *, name: str, workdir: Path, env: Mapping[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, Path, Path, list[TextIO]]:
    """Start a program with stdout/stderr captured to `<workdir>/<name>.{out,err}`."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    files = [_open_output(out_path), _open_output(err_path)]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=files[0],
        stderr=files[1],
        cwd=workdir,
        env=dict(env) if env is not None else None,
    )
    return proc, out_path, err_path, files


async def wait_ready(
    url: str,
    proc: asyncio.subprocess.Process,
    describe: Callable[[], str],
    *,
    within: float = READY_TIMEOUT,
) -> None:
    """Poll `url` until it answers 200; fail early with the output if the process exits."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if proc.returncode is not None:
                pytest.fail(f"process exited with {proc.returncode} before {url}\n{describe()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                pytest.fail(f"{url} not ready after {within:.0f}s\n{describe()}")
            await asyncio.sleep(0.1)


RouterFactory = Callable[..., Awaitable[ServiceProcess]]


@pytest.fixture
async def start_router(tmp_path: Path) -> AsyncIterator[RouterFactory]:
    """`await start_router(config_dict, storage=path, port=n)` → a ready ServiceProcess.

    Every process started here is stopped (SIGTERM, then SIGKILL) at teardown.
    """
    started: list[ServiceProcess] = []

    async def start(
        config: Mapping[str, Any], *, storage: Path | None = None, name: str = "router",
        port: int | None = None,
    ) -> ServiceProcess:
        index = len(started)
        cfg_path = tmp_path / f"{name}-{index}.yml"
        cfg_path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
        db = storage or tmp_path / "router.db"
        port = port or free_port()  # given: a peer (Alertmanager) already points at it
        env = dict(os.environ)
        # Importable even when the project is not installed (running from the checkout).
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        argv = [
            sys.executable, "-m", "router", "serve",
            "--config", str(cfg_path),
            "--storage", str(db),
            "--listen", f"127.0.0.1:{port}",
        ]  # fmt: skip
        proc, out, err, files = await spawn(argv, name=f"{name}-{index}", workdir=tmp_path, env=env)
        router = ServiceProcess(proc, f"http://127.0.0.1:{port}", out, err, files)
        started.append(router)
        await wait_ready(f"{router.url}/-/ready", proc, router.logs)
        return router

    yield start
    for router in started:
        await router.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


# --- the real Alertmanager (Debian's prometheus-alertmanager 0.25) -----------------------


def need(*names: str) -> str:
    """Path of the first program found; skip without it, or fail when CI requires it."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    reason = f"{' / '.join(names)} not on PATH (apt-get install prometheus-alertmanager)"
    if os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
        pytest.fail(f"{reason}; ALERT_ROUTER_REQUIRE_ALERTMANAGER is set")
    pytest.skip(reason)


AlertmanagerFactory = Callable[[dict[str, Any]], Awaitable[str]]


@pytest.fixture
async def start_alertmanager(tmp_path: Path) -> AsyncIterator[AlertmanagerFactory]:
    binary = need("alertmanager", "prometheus-alertmanager")
    procs: list[ServiceProcess] = []

    async def start(config: dict[str, Any]) -> str:
        cfg = tmp_path / "am.yml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        data = tmp_path / "am-data"
        data.mkdir()
        port = free_port()
        argv = [
            binary,
            f"--config.file={cfg}",
            f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # empty: no gossip, no settle wait
        ]
        proc, out, err, files = await spawn(argv, name="alertmanager", workdir=tmp_path)
        am = ServiceProcess(proc, f"http://127.0.0.1:{port}", out, err, files)
        procs.append(am)
        await wait_ready(f"{am.url}/-/ready", proc, am.logs)
        return am.url

    yield start
    for proc in procs:
        await proc.stop()
