"""router/web/static/sw.js in node, with the service worker globals faked: what the push
handler shows (tag, title, requireInteraction, something even for junk) and where a click
goes. The browser half (a real Chromium through CDP) lives with the UI's tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SW = Path(__file__).resolve().parent.parent / "router" / "web" / "static" / "sw.js"

HARNESS = r"""
const vm = require("vm");
const fs = require("fs");
const listeners = {};
const shown = [];
const opened = [];
const focused = [];
const windows = JSON.parse(process.argv[2]);
const self = {
  location: {origin: "https://router.example"},
  addEventListener: (type, fn) => { listeners[type] = fn; },
  registration: {showNotification: async (title, options) => { shown.push({title, options}); }},
  clients: {
    matchAll: async () => windows.map((url) => ({url, focus: async () => focused.push(url)})),
    openWindow: async (url) => { opened.push(url); },
    claim: async () => {},
  },
  skipWaiting: () => {},
};
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), {self, URL, Date, JSON});
const pushes = JSON.parse(process.argv[3]);
(async () => {
  for (const raw of pushes) {
    const waits = [];
    const data = raw === null ? null : {json: () => JSON.parse(raw)};
    listeners.push({data, waitUntil: (p) => waits.push(p)});
    await Promise.all(waits);
  }
  const last = shown[shown.length - 1];
  const waits = [];
  let closed = false;
  listeners.notificationclick({
    notification: {data: last.options.data, close: () => { closed = true; }},
    waitUntil: (p) => waits.push(p),
  });
  await Promise.all(waits);
  console.log(JSON.stringify({shown, opened, focused, closed}));
})();
"""

PAYLOAD: dict[str, Any] = {"v": 1, "title": "[FIRING:2] HighErrorRate", "body": "5xx above 5%",
           "severity": "critical", "status": "firing", "group_key": '{}:{alertname="X"}',
           "tag": "dDknr8CGWj8REsDy0I4Y9C", "receiver": "ops",
           "url": "https://router.example/#/alert/4f1c2a9d0b3e7a61", "alerts": 2, "firing": 2,
           "sent_at": "2026-11-24T22:43:51Z"}


def run(pushes: list[str | None], windows: list[str] | None = None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run([node, "-e", HARNESS, "--", str(SW), json.dumps(windows or []),
                          json.dumps(pushes)], capture_output=True, text=True, timeout=30,
                         check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_a_push_shows_the_group_under_its_tag_and_a_click_opens_its_page() -> None:
    resolved = {**PAYLOAD, "status": "resolved", "title": "[RESOLVED] HighErrorRate"}
    result = run([json.dumps(PAYLOAD), json.dumps(resolved)])
    first, second = result["shown"]
    assert first["title"] == "[FIRING:2] HighErrorRate"
    assert first["options"]["tag"] == second["options"]["tag"] == PAYLOAD["tag"]
    assert first["options"]["requireInteraction"] is True  # critical and firing
    assert second["options"]["requireInteraction"] is False
    assert first["options"]["body"] == "5xx above 5%"
    assert result["opened"] == [PAYLOAD["url"]]
    assert result["closed"] is True


def test_an_open_page_is_focused_instead_of_opening_another() -> None:
    result = run([json.dumps(PAYLOAD)], windows=[PAYLOAD["url"]])
    assert (result["focused"], result["opened"]) == ([PAYLOAD["url"]], [])


@pytest.mark.parametrize("raw", [None, "not json", "[1, 2]", "{}"])
def test_something_is_shown_for_any_push(raw: str | None) -> None:
    result = run([raw])
    (shown,) = result["shown"]
    assert shown["title"] == "alert-router"
    assert result["opened"] == ["https://router.example/"]


def test_a_link_to_another_origin_opens_the_same_page_of_this_workers_ui() -> None:
    # server.external_url left at its default while the browser uses the router's name
    elsewhere = {**PAYLOAD, "url": "http://127.0.0.1:9095/#/alert/4f1c2a9d0b3e7a61"}
    result = run([json.dumps(elsewhere)])
    assert result["opened"] == ["https://router.example/#/alert/4f1c2a9d0b3e7a61"]
    external = {**PAYLOAD, "url": "https://runbooks.example/page"}  # no UI route: as is
    assert run([json.dumps(external)])["opened"] == ["https://runbooks.example/page"]
