"""The web UI in a real headless Chromium against the real app on loopback: an alert posted
after the page loaded shows within a second; a silence made in the page mutes the alert;
two tabs stay in sync over one connection; a reload (and a dropped connection) resumes
without duplicates; with `server.auth` the page asks for a login. Screenshots at laptop
and phone sizes are written for review (ALERT_ROUTER_SCREENSHOTS=dir keeps them).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from router.events.hub import TOO_SLOW

from .conftest import LAPTOP, PHONE, SECOND, Router, alert


class Console:
    """Every script error of a page and every console error but failed loads (a CSP
    violation is one): a test ends by asserting there were none."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        # An API's error status is logged too; the tests check those answers themselves
        # (and Web Push's key endpoint is a 404 until that branch lands).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)


async def open_page(context: Any, url: str, hash_: str = "") -> tuple[Any, Console]:
    page = await context.new_page()
    console = Console(page)
    await page.goto(url + hash_)
    await page.wait_for_selector("#live[data-state=live]", timeout=5 * SECOND)
    return page, console


async def fits(page: Any, width: int) -> None:
    """Nothing sticks out sideways at `width` CSS pixels (the narrowest phones)."""
    await page.set_viewport_size({"width": width, "height": 740})
    # reading scrollWidth lays the page out at the new size first
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= width


def card(name: str) -> str:
    return f'article.alert:has(h3:text-is("{name}"))'


async def test_an_alert_posted_after_load_shows_within_a_second(
        make_router: Any, context: Any, shots: Path) -> None:
    router: Router = await make_router()
    await router.post(alert("DiskFilling", "warning", summary="Disk /var will fill in 4h"),
                      alert("BackupLate", "info", instance="backup-1",
                            summary="Nightly backup is 2h late"))
    await router.silence("BackupLate", "backup window moved, see OPS-1234")
    page, console = await open_page(context, router.url)
    await page.wait_for_selector(f'{card("BackupLate")} >> .badge:text-is("SILENCED")')

    started = time.monotonic()
    checkout = alert("CheckoutErrors", "critical", cluster="eu-1",
                     summary="Checkout 5xx rate above 5% for 10 minutes")
    checkout["annotations"].update(
        description="Payments fail for about 1 in 20 customers in eu-1.",
        runbook_url="https://runbooks.example/checkout-errors")
    await router.post(checkout)
    await page.wait_for_selector(card("CheckoutErrors"), timeout=SECOND)
    assert time.monotonic() - started < 1.0
    text = await page.inner_text(card("CheckoutErrors"))
    assert "CRITICAL" in text  # the severity in words, not colour alone
    assert 'cluster="eu-1"' in text
    # grouped by receiver: the critical alert goes to oncall, first
    first = await page.inner_text("section.group >> nth=0")
    assert first.startswith("oncall")

    await page.screenshot(path=shots / "alerts-laptop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=shots / "alerts-phone.png", full_page=True)
    await fits(page, 360)
    assert console.errors == []


async def test_a_silence_made_in_the_page_mutes_the_alert(
        make_router: Any, context: Any, shots: Path) -> None:
    router: Router = await make_router()
    await router.post(alert("DiskFilling", "warning", summary="Disk /var will fill in 4h"))
    page, console = await open_page(context, router.url)
    await page.click(f'{card("DiskFilling")} >> text=Silence')
    await page.wait_for_selector("form.silence-form")
    # prefilled from the alert's labels
    names = await page.eval_on_selector_all(".matcher [name=name]", "els => els.map(e => e.value)")
    assert names == ["alertname", "instance", "severity"]
    await page.fill("[name=duration]", "2x")
    await page.fill("[name=createdBy]", "alice")
    await page.fill("[name=comment]", "replacing the disk")
    await page.click("text=Create silence")
    assert await page.inner_text(".silence-form .error") == 'not a valid duration string: "2x"'
    # the API's own error text (Alertmanager's, which amtool prints)
    await page.fill("[name=duration]", "2h")
    await page.fill(".matcher >> nth=0 >> [name=value]", "Disk(")
    await page.select_option(".matcher >> nth=0 >> select", "=~")
    await page.click("text=Create silence")
    await page.wait_for_selector(".silence-form .error:has-text('matchers[0]')")
    assert "missing closing )" in await page.inner_text(".silence-form .error")
    await page.select_option(".matcher >> nth=0 >> select", "=")
    await page.fill(".matcher >> nth=0 >> [name=value]", "DiskFilling")
    await page.wait_for_selector("text=Affects 1 firing alert now.")
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=shots / "silence-form-phone.png", full_page=True)
    await fits(page, 360)
    await page.set_viewport_size(LAPTOP)
    await page.click("text=Create silence")

    # back on the alert: silenced, as the router sees it
    await page.wait_for_selector(".detail .badge:text-is('SILENCED')", timeout=2 * SECOND)
    [held] = await router.get("/api/v2/alerts")
    assert held["status"]["silencedBy"]
    # and when its group flushes, nothing is sent: the trace says why
    await router.clock.advance(31)
    await page.click("text=← All alerts")
    await page.click(f'{card("DiskFilling")} >> text=Details')
    await page.wait_for_selector(".trace-muted", timeout=3 * SECOND)
    assert "reason=silence" in await page.inner_text(".trace-muted")
    assert router.fake.requests == []
    await page.screenshot(path=shots / "detail-laptop.png", full_page=True)

    # the silence is listed, and expiring it there works
    await page.click("nav >> text=Silences")
    await page.wait_for_selector("article.silence.state-active")
    await page.screenshot(path=shots / "silences-laptop.png", full_page=True)
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.click("article.silence.state-active >> text=Expire")
    await page.wait_for_selector("article.silence.state-expired")
    assert console.errors == []


async def test_two_tabs_stay_in_sync_over_one_connection(make_router: Any, context: Any) -> None:
    router: Router = await make_router()
    sockets: list[str] = []
    context.on("page", lambda p: p.on("websocket", lambda ws: sockets.append(ws.url)))
    first, console1 = await open_page(context, router.url)
    second, console2 = await open_page(context, router.url, "#/silences")
    assert len(sockets) == 1  # the second tab is live through the first one's socket
    assert router.stream_clients() == 1

    await router.post(alert("DiskFilling"))
    await first.wait_for_selector(card("DiskFilling"), timeout=SECOND)
    await second.click("nav >> text=Alerts")
    await second.wait_for_selector(card("DiskFilling"), timeout=SECOND)
    # a change made in one tab shows in the other
    await second.click(f'{card("DiskFilling")} >> text=Silence')
    await second.fill("[name=createdBy]", "alice")
    await second.fill("[name=comment]", "disk swap")
    await second.click("text=Create silence")
    await first.wait_for_selector(f'{card("DiskFilling")} >> .badge:text-is("SILENCED")',
                                  timeout=SECOND)

    # the leader tab closes: the other takes over, resuming from its cursor
    await second.click("nav >> text=Alerts")
    last = (await router.get("/api/v1/events?since=0&limit=1000"))["events"][-1]["id"]
    await first.close()
    await router.post(alert("BackupLate", "info"))
    await second.wait_for_selector(card("BackupLate"), timeout=3 * SECOND)
    assert len(sockets) == 2
    assert sockets[1].endswith(f"since={last}")
    assert router.stream_clients() == 1
    assert await second.locator(card("BackupLate")).count() == 1
    assert console1.errors == console2.errors == []


async def test_eight_tabs_all_load_over_one_connection(make_router: Any, context: Any) -> None:
    """HTTP/1.1 allows six connections per origin: a seventh tab holding its own stream
    would hang. Here every tab loads and is live, and the router sees one stream."""
    router: Router = await make_router()
    pages = [(await open_page(context, router.url))[0] for _ in range(8)]
    assert router.stream_clients() == 1
    await router.post(alert("DiskFilling"))
    for page in pages:
        await page.wait_for_selector(card("DiskFilling"), timeout=SECOND)

async def test_reload_and_reconnect_resume_without_duplicates(
        make_router: Any, context: Any) -> None:
    router: Router = await make_router()
    sockets: list[str] = []
    context.on("page", lambda p: p.on("websocket", lambda ws: sockets.append(ws.url)))
    page, console = await open_page(context, router.url, "#/activity")
    await router.post(alert("A1"))
    await router.post(alert("A2"))
    await page.wait_for_selector("li.ev-alert-firing:has-text('A2')")

    await page.reload()
    await page.wait_for_selector("#live[data-state=live]")
    await router.post(alert("A3"))
    await page.wait_for_selector("li.ev-alert-firing:has-text('A3')", timeout=SECOND)
    last = await page.get_attribute("li.ev-alert-firing:has-text('A3')", "data-event")

    # the server drops the connection: the page reconnects after its cursor
    hub = router.service.events
    for sub in list(hub._subs):
        hub.close(sub, TOO_SLOW)
    await router.post(alert("A4"))  # committed while the page is disconnected
    await page.wait_for_selector("li.ev-alert-firing:has-text('A4')", timeout=3 * SECOND)
    assert sockets[-1].endswith(f"since={last}")
    assert len(sockets) == 3

    ids = await page.eval_on_selector_all("li[data-event]", "els => els.map(e => e.dataset.event)")
    assert len(ids) == len(set(ids))
    for name in ("A1", "A2", "A3", "A4"):
        assert await page.locator(f"li.ev-alert-firing:has-text('{name}')").count() == 1, name
    await page.click("nav >> text=Alerts")
    await page.wait_for_selector(card("A4"))
    for name in ("A1", "A2", "A3", "A4"):
        assert await page.locator(card(name)).count() == 1, name
    assert console.errors == []


async def test_a_cursor_older_than_the_stream_keeps_gets_a_fresh_snapshot(
        make_router: Any, context: Any) -> None:
    router: Router = await make_router()
    sockets: list[str] = []
    context.on("page", lambda p: p.on("websocket", lambda ws: sockets.append(ws.url)))
    page, console = await open_page(context, router.url)
    await router.post(alert("A1"))
    await page.wait_for_selector(card("A1"), timeout=SECOND)
    cursor = (await router.get("/api/v1/events?since=0&limit=1000"))["events"][-1]["id"]
    # disconnected (it reconnects after half a second), and meanwhile an alert arrives and
    # the stream forgets every event the page has not seen
    hub = router.service.events
    for sub in list(hub._subs):
        hub.close(sub, TOO_SLOW)
    await router.post(alert("A2"))
    await router.service.store.gc_events(router.clock.now() + 1)
    await page.wait_for_selector(card("A2"), timeout=3 * SECOND)  # from the new snapshot
    assert sockets[-1].endswith(f"since={cursor}")
    await router.post(alert("A3"))  # and live again after it
    await page.wait_for_selector(card("A3"), timeout=SECOND)
    for name in ("A1", "A2", "A3"):
        assert await page.locator(card(name)).count() == 1, name
    assert console.errors == []

AUTH = """
route:
  receiver: team
receivers:
  - name: team
server:
  auth:
    basic_auth: [{username: alice, password: pass-word-5678}]
"""


async def test_with_auth_the_page_asks_for_a_login_then_shows_and_writes(
        make_router: Any, context: Any, shots: Path) -> None:
    router: Router = await make_router(AUTH)
    page = await context.new_page()
    console = Console(page)
    await page.set_viewport_size(PHONE)
    await page.goto(router.url)
    await page.wait_for_selector("#login-form")
    await page.fill("[name=username]", "alice")
    await page.fill("[name=password]", "wrong")
    await page.click("text=Sign in >> nth=-1")
    await page.wait_for_selector("#login-error:text-is('wrong username or password')")
    await page.screenshot(path=shots / "login-phone.png")
    await page.fill("[name=password]", "pass-word-5678")
    await page.click("text=Sign in >> nth=-1")
    await page.wait_for_selector("#live[data-state=live]")
    assert await page.is_visible("#logout")
    # a cookie write (the silence) carries the page's Origin: accepted
    await page.goto(router.url + "#/silences/new")
    await page.fill(".matcher [name=name]", "alertname")
    await page.fill(".matcher [name=value]", "Anything")
    await page.fill("[name=createdBy]", "alice")
    await page.fill("[name=comment]", "maintenance")
    await page.click("text=Create silence")
    await page.wait_for_selector("article.silence.state-active")
    await page.click("#logout")
    await page.wait_for_selector("#login-form")
    assert console.errors == []


async def test_a_notifications_silence_link_opens_the_form_prefilled(
        make_router: Any, context: Any) -> None:
    # The default templates link to `#/silences/new?filter={...}` (Alertmanager's address):
    # the form takes its matchers, even for an alert this page does not hold.
    router: Router = await make_router()
    page, console = await open_page(context, router.url)
    await page.goto(router.url + '#/silences/new?filter=%7Balertname%3D%22Gone%22%2C%20'
                    'path%3D~%22%2Fa%2C%5C%22b%22%7D')
    await page.wait_for_selector("form.silence-form")
    rows = await page.eval_on_selector_all(".matcher", """rows => rows.map(r => [
        r.querySelector('[name=name]').value, r.querySelector('select').value,
        r.querySelector('[name=value]').value])""")
    assert rows == [["alertname", "=", "Gone"], ["path", "=~", '/a,"b']]
    assert console.errors == []


async def test_the_filter_takes_alertmanagers_matchers(
        make_router: Any, context: Any, shots: Path) -> None:
    router: Router = await make_router()
    await router.post(alert("CheckoutErrors", "critical", cluster="eu-1"), alert("DiskFilling"))
    page, console = await open_page(context, router.url)
    await page.wait_for_selector(card("DiskFilling"))  # both shown before filtering
    await page.fill("input.filter", '{severity="critical", cluster=~"eu-.*"}')
    await page.press("input.filter", "Enter")
    await page.wait_for_selector(card("DiskFilling"), state="detached")
    await page.wait_for_selector(card("CheckoutErrors"))
    assert await page.locator("article.alert").count() == 1
    assert "filter=" in page.url  # bookmarkable, as in Alertmanager's UI
    assert await page.input_value("input.filter") == '{severity="critical", cluster=~"eu-.*"}'
    await router.post(alert("CheckoutLatency", "critical", cluster="eu-2"),
                      alert("CheckoutLatency", "critical", cluster="us-1"))
    await page.wait_for_selector(card("CheckoutLatency"), timeout=SECOND)
    assert await page.locator(card("CheckoutLatency")).count() == 1
    # the light theme, when the system asks for it, at the narrowest phone width
    await page.emulate_media(color_scheme="light")
    await fits(page, 360)
    await page.screenshot(path=shots / "alerts-light-360.png", full_page=True)
    await page.emulate_media(color_scheme="dark")
    # a bad matcher: the router's (Alertmanager's) error text
    await page.fill("input.filter", '{severity=~"crit("}')
    await page.press("input.filter", "Enter")
    await page.wait_for_selector("main .error:has-text('missing closing )')")
    assert await page.locator("article.alert").count() == 0
    assert console.errors == []


async def test_a_dead_letter_is_retried_from_the_page(
        make_router: Any, context: Any, shots: Path) -> None:
    router: Router = await make_router()
    router.fake.script[:] = [400]  # permanent: dead at once; the retry gets a 200
    await router.post(alert("DiskFilling", summary="Disk /var will fill in 4h"))
    page, console = await open_page(context, router.url, "#/deliveries")
    await router.clock.advance(31)
    await page.wait_for_selector("article.delivery.state-dead", timeout=3 * SECOND)
    assert await page.inner_text("#count-dead") == "1"
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=shots / "deliveries-phone.png", full_page=True)
    # the alert's detail says its notification died, and why
    await page.click("nav >> text=Alerts")
    await page.click(f'{card("DiskFilling")} >> text=Details')
    row = "tr:has(td:text-is('webhook[0]'))"
    await page.wait_for_selector(f"{row} .badge:text-is('DEAD')")
    assert "HTTP 400" in await page.inner_text(f"{row} .error-text")
    await page.screenshot(path=shots / "detail-dead-phone.png", full_page=True)
    await page.click("nav >> text=Deliveries")
    await page.click("article.delivery.state-dead >> text=Retry")
    await page.wait_for_selector("article.delivery.state-dead", state="detached",
                                 timeout=3 * SECOND)
    await page.wait_for_selector("text=No dead letters")
    assert len(router.fake.requests) == 2
    # and, live, the notification that got through
    await page.click("nav >> text=Alerts")
    await page.click(f'{card("DiskFilling")} >> text=Details')
    await page.wait_for_selector(f"{row} .badge:text-is('SENT')", timeout=2 * SECOND)
    assert "firing" in await page.inner_text(row)
    assert await page.locator(f"{row} .error-text").count() == 0
    await page.wait_for_selector(".trace-notified")
    await page.screenshot(path=shots / "detail-phone.png", full_page=True)
    await fits(page, 360)
    assert console.errors == []
