"""Browser fixtures: Debian's Chromium driven by Python Playwright (never a downloaded
browser), and the real router app on loopback with a webhook receiver fake.

Without /usr/bin/chromium (or without playwright) the browser tests skip with the reason
on a developer machine; in CI (`CI` or `ALERT_ROUTER_REQUIRE_BROWSER=1`, which `.ci/run`
exports) they fail instead, so a missing install step cannot hide.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from channels.fakes import Fake, start_fake
from conftest import config_from
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer

from router.app import create_app
from router.service import Service
from router.timefmt import format_time
from router.web.keys import SERVICE

CHROMIUM = Path(os.environ.get("ALERT_ROUTER_CHROMIUM", "/usr/bin/chromium"))
# From the reference's checked setup: without the background-networking flags Chromium
# keeps trying the internet.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def _required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("ALERT_ROUTER_REQUIRE_BROWSER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = _missing()
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.browser)
        if reason is not None and not _required():
            item.add_marker(pytest.mark.skip(reason=f"browser test: {reason}"))


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    reason = _missing()
    if reason is not None:
        pytest.fail(f"browser tests must run in CI: {reason}")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


SECOND = 1000  # Playwright timeouts are in milliseconds


@pytest.fixture
async def context(browser: Any) -> AsyncIterator[Any]:
    """One browser profile (its tabs share Web Locks and BroadcastChannel), dark."""
    ctx = await browser.new_context(viewport=LAPTOP, color_scheme="dark")
    ctx.set_default_timeout(5 * SECOND)
    yield ctx
    await ctx.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go (ALERT_ROUTER_SCREENSHOTS keeps them for a look)."""
    keep = os.environ.get("ALERT_ROUTER_SCREENSHOTS")
    out = Path(keep) if keep else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: [severity="critical"]
      receiver: oncall
      group_by: [alertname, cluster]
receivers:
  - name: team
    webhook_configs: [{url: URL}]
  - name: oncall
    webhook_configs: [{url: URL}]
"""


@dataclass
class Router:
    url: str
    service: Service
    clock: FakeClock
    fake: Fake
    http: aiohttp.ClientSession

    async def post(self, *alerts: dict[str, Any]) -> None:
        async with self.http.post(f"{self.url}api/v2/alerts", json=list(alerts)) as resp:
            assert resp.status == 202, await resp.text()

    async def get(self, path: str, **kw: Any) -> Any:
        async with self.http.get(f"{self.url}{path.lstrip('/')}", **kw) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def silence(self, alertname: str, comment: str) -> None:
        now = self.clock.now()
        body = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False}],
                "startsAt": format_time(now), "endsAt": format_time(now + 7200),
                "createdBy": "alice", "comment": comment}
        async with self.http.post(f"{self.url}api/v2/silences", json=body) as resp:
            assert resp.status == 200, await resp.text()

    def stream_clients(self) -> int:
        return self.service.events.clients()


def alert(name: str, severity: str = "warning", **labels: str) -> dict[str, Any]:
    summary = labels.pop("summary", f"{name} on {labels.get('instance', 'db-1')}")
    return {"labels": {"alertname": name, "severity": severity, "instance": "db-1", **labels},
            "annotations": {"summary": summary},
            "generatorURL": "http://prometheus.example/graph?g0.expr=up"}


@pytest.fixture
async def make_router(aiohttp_server: AiohttpServer, tmp_path: Path
                      ) -> AsyncIterator[Callable[..., Awaitable[Router]]]:
    """`await make_router(config)`: the real app on a loopback port, its clock at the real
    time (pages compute ages with the browser's clock) but moving only when told."""
    async with aiohttp.ClientSession() as http:
        async def make(text: str = CONFIG) -> Router:
            fake = await start_fake(aiohttp_server, "webhook")
            clock = FakeClock(time.time())
            app = create_app(config_from(text.replace("URL", fake.url), tmp_path),
                             clock=clock, registry=CollectorRegistry())
            server = await aiohttp_server(app)
            return Router(str(server.make_url("/")), app[SERVICE], clock, fake, http)

        yield make
