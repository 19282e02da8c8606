"""Web Push end to end with a real service worker: the page's "Enable notifications"
button registers /sw.js and the subscription; the router pushes through the loopback
push service (VAPID verified, body decrypted, TTL/Topic/Urgency checked); the decrypted
payload goes to the real worker in Chromium through the DevTools protocol
(`ServiceWorker.deliverPushMessage`, what the push service's connection would do) and
the notification is read back with `registration.getNotifications()`.

Offline, Chromium's own `pushManager.subscribe()` cannot reach a push service (it fails
with "Registration failed"), so the page's subscribe call is answered by an init script
with the test browser's keys and an endpoint on the fake: everything before it (the key,
the permission, the worker) and after it (the POST, the push) is real.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.fake_webpush import ALLOW_LOOPBACK, PushFake, start_push
from pytest_aiohttp import AiohttpServer

from .conftest import SECOND, Router, alert
from .test_ui import open_page

CONFIG = f"""
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
receivers:
  - name: oncall
    webpush_configs: [{{send_resolved: true}}]
  - name: quiet
webpush:
  subject: mailto:oncall@example.com
  allowed_endpoints: ["{ALLOW_LOOPBACK}"]
"""

# Stands in for the push service's subscribe (Google's or Mozilla's servers): records
# the applicationServerKey the page passed and answers the test browser's subscription.
SUBSCRIBE = """
window.__subscribed = [];
PushManager.prototype.subscribe = async function (options) {
  const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  window.__subscribed.push({key, userVisibleOnly: options.userVisibleOnly});
  localStorage.setItem('test-subscribed', '1');  // the browser keeps its subscription
  return this.getSubscription();
};
PushManager.prototype.getSubscription = async function () {
  const sub = %s;
  return localStorage.getItem('test-subscribed')
    ? {toJSON: () => sub, endpoint: sub.endpoint} : null;
};
"""

NOTIFICATIONS = """async () => {
  const reg = await navigator.serviceWorker.getRegistration('/');
  return (await reg.getNotifications()).map((n) => ({
    title: n.title, tag: n.tag, body: n.body, url: n.data && n.data.url,
    requireInteraction: n.requireInteraction}));
}"""


async def pushes(fake: PushFake, count: int, router: Router) -> None:
    for _ in range(100):
        if len(fake.pushes) >= count:
            return
        await router.clock.advance(0.5)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(fake.pushes)} pushes, refused: {fake.refused}")


async def test_a_push_reaches_the_service_worker_and_shows_under_its_tag(
        make_router: Any, context: Any, aiohttp_server: AiohttpServer) -> None:
    fake = await start_push(aiohttp_server)
    router: Router = await make_router(CONFIG)


    subscription = fake.subscription("laptop", [])
    del subscription["receivers"]  # what PushSubscription.toJSON() gives
    await context.add_init_script(SUBSCRIBE % json.dumps(subscription))
    await context.grant_permissions(["notifications"], origin=router.url.rstrip("/"))
    asked: list[str] = []
    context.on("request", lambda r: asked.append(r.url.removeprefix(router.url.rstrip("/"))))
    page, console = await open_page(context, router.url)
    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda e: registrations.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")

    # the page's button: permission, /sw.js, subscribe with the router's key, POST
    await page.click("#push:text-is('Enable notifications')")
    await page.wait_for_selector("#push:text-is('Notifications on')")
    assert "/api/v1/webpush/key" in asked
    assert "/sw.js" in asked
    key = (await router.get("/api/v1/webpush/key"))["publicKey"]
    assert await page.evaluate("window.__subscribed") == [{"key": key, "userVisibleOnly": True}]
    assert await page.get_attribute("#push", "title") == "Notifications for oncall"
    for _ in range(50):
        if any(r["scopeURL"] == router.url and not r["isDeleted"] for r in registrations):
            break
        await asyncio.sleep(0.05)
    (registration,) = {r["registrationId"] for r in registrations
                       if r["scopeURL"] == router.url and not r["isDeleted"]}

    # the router pushes a critical group: the fake checked VAPID, TTL, Topic, Urgency
    await router.post(alert("CheckoutErrors", "critical", summary="Checkout 5xx above 5%"))
    await pushes(fake, 1, router)
    first = fake.pushes[0]
    doc = first.json()
    assert first.headers["Urgency"] == "high"
    assert first.headers["Topic"] == doc["tag"]
    assert int(first.headers["TTL"]) > 0

    async def deliver(plaintext: bytes) -> None:
        await cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": router.url.rstrip("/"), "registrationId": registration,
            "data": plaintext.decode()})

    await deliver(first.plaintext)
    shown = await page.wait_for_function(
        f"({NOTIFICATIONS})().then((ns) => ns.length ? ns : null)", timeout=3 * SECOND)
    (n,) = await shown.json_value()
    assert n["title"] == "[FIRING:1] CheckoutErrors"
    assert n["tag"] == doc["tag"]
    assert n["body"] == "Checkout 5xx above 5%"
    assert n["requireInteraction"] is True  # critical and firing: stays until dismissed
    assert n["url"] == doc["url"]

    # a second alert of the same group: the newer state replaces the notification
    await router.post(alert("CheckoutErrors", "critical", instance="db-2",
                            summary="Checkout 5xx above 5% on db-2"))
    await pushes(fake, 2, router)
    second = fake.pushes[1]
    assert second.json()["tag"] == doc["tag"]
    await deliver(second.plaintext)
    await page.wait_for_function(
        f"({NOTIFICATIONS})().then((ns) => ns.length === 1 && ns[0].title.includes(':2]'))",
        timeout=3 * SECOND)
    (n,) = await page.evaluate(NOTIFICATIONS)
    assert n["title"] == "[FIRING:2] CheckoutErrors"
    assert n["tag"] == doc["tag"]
    assert fake.refused == []

    # the notification's link (what a click opens) is the alert's page in this UI; the
    # silence link of other channels' templates prefills the form from its filter
    (fp,) = [a["fingerprint"] for a in await router.get("/api/v1/alerts")
             if a["labels"]["instance"] == "db-1"]
    assert doc["url"].endswith(f"/#/alert/{fp}")
    await page.goto(router.url + doc["url"].split("/", 3)[3])
    await page.wait_for_selector(".detail h3:text-is('CheckoutErrors')")
    await page.wait_for_selector(".detail .trace-notified")
    # a group of several: its alerts, filtered by the group's labels
    several = second.json()["url"]
    assert several.endswith("/#/alerts?filter=%7Balertname%3D%22CheckoutErrors%22%7D")
    await page.goto(router.url + several.split("/", 3)[3])
    await page.wait_for_selector("article.alert >> nth=1")
    assert await page.locator("article.alert").count() == 2
    assert await page.input_value("input.filter") == '{alertname="CheckoutErrors"}'
    await page.goto(router.url + "#/silences/new?filter=%7Balertname%3D%22CheckoutErrors%22"
                    "%2C%20instance%3D~%22db-%5C%5Cd%22%7D")
    rows = await page.eval_on_selector_all(".matcher", """rows => rows.map((r) =>
        [...r.querySelectorAll('input, select')].map((e) => e.value).join(' '))""")
    assert rows == ["alertname = CheckoutErrors", "instance =~ db-\\d"]
    await page.wait_for_selector("text=Affects 2 firing alerts now.")

    # the router loses the subscription (a reset database, a prune): the next page load
    # of this browser posts it again, and the button says it is on
    async with router.http.delete(f"{router.url}api/v1/webpush/subscriptions",
                                  json={"endpoint": subscription["endpoint"]}) as resp:
        assert resp.status == 204
    assert router.service.webpush.recipients("oncall") == []
    await page.goto(router.url)
    await page.wait_for_selector("#push:text-is('Notifications on')")
    assert len(router.service.webpush.recipients("oncall")) == 1
    assert console.errors == []
