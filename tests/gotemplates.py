"""Go templates rendered by the real Alertmanager code and their Jinja translations by ours.

`amtool template render` (Debian's 0.25) renders Go text on a template.Data JSON file with
Alertmanager's own functions; `jinja_render` renders Jinja with this project's Renderer on
the same payload turned into a Notification. Tests compare the two texts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from router.ingest.formats import from_webhook
from router.model import Notification, NotifyReason, sort_alerts
from router.rendering import Renderer, template_data

AMTOOL = shutil.which("amtool")
if AMTOOL is None and os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
    raise RuntimeError("amtool is required in CI (apt-get install prometheus-alertmanager)")

NOW = 1_790_000_000.0


def go_render(text: str, payload: dict[str, Any], tmp_path: Path, globs: tuple[str, ...] = (),
              *, html: bool = False) -> tuple[int, str]:
    """(exit status, output) of amtool rendering `text` with the template files `globs`."""
    assert AMTOOL is not None
    data = tmp_path / "data.json"
    data.write_text(json.dumps(payload), encoding="utf-8")
    if not globs:
        empty = tmp_path / "empty.tmpl"
        empty.write_text("", encoding="utf-8")
        globs = (str(empty),)
    done = subprocess.run(
        [AMTOOL, "template", "render", *(f"--template.glob={g}" for g in globs),
         f"--template.text={text}", f"--template.data={data}",
         *(["--template.type=html"] if html else [])],
        capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr


def data_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The Jinja template data of the notification an Alertmanager payload describes."""
    alerts = from_webhook(payload, NOW)
    n = Notification(payload["receiver"], "{}:{}", payload["groupLabels"],
                     tuple(sort_alerts(alerts)), NotifyReason.FIRST, NOW,
                     payload["externalURL"])
    return template_data(n)


def jinja_render(text: str, payload: dict[str, Any], files: tuple[str, ...] = ()) -> str:
    return Renderer(files).compile_string(text).render(**data_of(payload))
