"""Every screen with a night's worth of real data, at laptop and phone size: alerts of
every severity (one silenced), an active, a pending and an expired silence, a receiver
whose notifications die (dead letters, the alert's failed channel). Each screen must show
its content in words, fit 360 px and raise no script error; the screenshots are what
docs/screenshots/ is made from (ALERT_ROUTER_SCREENSHOTS=dir keeps them in dir/screens;
then `pngquant --quality=50-80`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.fakes import start_fake
from pytest_aiohttp import AiohttpServer

from router.timefmt import format_time

from .conftest import CONFIG as BASE
from .conftest import LAPTOP, PHONE, SECOND, Router, alert
from .test_ui import card, fits, open_page

# The shared config, the pager's notifications going to a receiver that refuses them.
CONFIG = BASE.replace("  - name: oncall\n    webhook_configs: [{url: URL}]",
                      "  - name: oncall\n    webhook_configs: [{url: PAGER}]")
assert "PAGER" in CONFIG


async def night(router: Router) -> None:
    checkout = alert("CheckoutErrors", "critical", cluster="eu-1",
                     summary="Checkout 5xx rate above 5% for 10 minutes")
    checkout["annotations"].update(
        description="Payments fail for about 1 in 20 customers in eu-1.",
        runbook_url="https://runbooks.example/checkout-errors")
    await router.post(
        checkout,
        alert("APILatencyHigh", "error", instance="api-3",
              summary="p99 latency 2.4 s (objective 500 ms)"),
        alert("DiskFilling", "warning", summary="Disk /var will fill in 4h"),
        alert("DiskFilling", "warning", instance="db-2", summary="Disk /var will fill in 9h"),
        alert("CertificateExpiring", "warning", instance="lb-1",
              summary="TLS certificate for shop.example expires in 6 days"),
        alert("BackupLate", "info", instance="backup-1", summary="Nightly backup is 2h late"))
    await router.silence("BackupLate", "backup window moved, see OPS-1234")
    now = router.clock.now()
    for starts, ends, name, comment in (
            (now + 3600, now + 7200, "DiskFilling", "disk swap on db-2 tonight, CHG-88"),
            (now - 60, now + 3600, "APILatencyHigh", "load test, ended early")):
        body = {"matchers": [{"name": "alertname", "value": name, "isRegex": False}],
                "startsAt": format_time(starts), "endsAt": format_time(ends),
                "createdBy": "bob", "comment": comment}
        async with router.http.post(f"{router.url}api/v2/silences", json=body) as resp:
            assert resp.status == 200, await resp.text()
            sid = (await resp.json())["silenceID"]
    async with router.http.delete(f"{router.url}api/v2/silence/{sid}") as resp:
        assert resp.status == 200  # the load test's silence: expired
    await router.clock.advance(31)  # group_wait: team is notified, oncall's die


async def both(page: Any, shots: Path, name: str) -> None:
    shots = shots / "screens"  # apart from the other tests' shots of the same screens
    shots.mkdir(exist_ok=True)
    await page.set_viewport_size(LAPTOP)
    await page.screenshot(path=shots / f"{name}-laptop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=shots / f"{name}-phone.png", full_page=True)
    await fits(page, 360)
    await page.set_viewport_size(LAPTOP)


async def test_every_screen_reads_with_a_nights_data(
        make_router: Any, context: Any, shots: Path, aiohttp_server: AiohttpServer) -> None:
    pager = await start_fake(aiohttp_server, "webhook", [401] * 10)
    router: Router = await make_router(CONFIG.replace("PAGER", pager.url))
    await night(router)
    page, console = await open_page(context, router.url, "#/deliveries")
    await page.wait_for_selector("article.delivery.state-dead", timeout=3 * SECOND)
    assert await page.inner_text("#count-dead") == "1"
    await both(page, shots, "deliveries")

    await page.click("nav >> text=Alerts")
    await page.wait_for_selector(card("CheckoutErrors"))
    # the group whose page died says so, above its alerts
    note = await page.inner_text("section.group:has(.receiver:text-is('oncall')) .dead-note")
    assert note.startswith("NOT DELIVERED webhook[0]: HTTP 401")
    assert await page.locator(".dead-note").count() == 1
    text = await page.inner_text("main")
    for word in ("CRITICAL", "ERROR", "WARNING", "INFO", "SILENCED"):
        assert word in text, word
    await both(page, shots, "alerts")

    await page.click(f'{card("CheckoutErrors")} >> text=Details')
    await page.wait_for_selector("tr:has(td:text-is('oncall')) .badge:text-is('DEAD')")
    await both(page, shots, "detail")

    await page.click("nav >> text=Silences")
    for state in ("active", "pending", "expired"):
        await page.wait_for_selector(f"article.silence.state-{state}")
    await both(page, shots, "silences")

    await page.click("nav >> text=Activity")
    await page.wait_for_selector("li.ev-notification-dead")
    assert await page.inner_text("li.ev-notification-dead .kind") == "DEAD"
    assert (await page.inner_text("li.ev-notification-dead .detail")).startswith(
        "oncall → webhook[0]: CheckoutErrors (1 alert, first notification) — HTTP 401")
    # the words of each line never run into each other
    overlaps = """() => [...document.querySelectorAll('.activity li')].filter((li) => {
        const text = document.createRange();  // the text's own extent, not its box's
        text.selectNodeContents(li.querySelector('.kind'));
        return text.getBoundingClientRect().right >
          li.querySelector('.detail').getBoundingClientRect().left;
      }).length"""
    assert await page.evaluate(overlaps) == 0
    await both(page, shots, "activity")
    assert console.errors == []
