"""The web UI's files over HTTP and in the wheel: a public page shell with a strict
Content-Security-Policy, nosniff and ETags; no inline script or style; every module the
page imports is shipped; JS modules small and documented; the login-friendly challenge.
(The page itself runs in a real browser in tests/browser.)"""

from __future__ import annotations

import re
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from router.web.ui import CSP

STATIC = resources.files("router.web").joinpath("static")
REPO = Path(__file__).resolve().parent.parent
OPEN = """
route:
  receiver: default
receivers:
  - name: default
"""
AUTH = OPEN + """
server:
  auth:
    basic_auth: [{username: alice, password: pass-word-5678}]
"""


def shipped() -> dict[str, str]:
    return {f.name: f.read_text(encoding="utf-8") for f in STATIC.iterdir()
            if f.name.endswith((".html", ".js", ".css"))}


async def test_the_page_and_its_files_are_served_with_a_strict_policy(make_router: Any) -> None:
    client, _ = await make_router(AUTH)  # the shell is public even with auth on
    for path, kind in (("/", "text/html"), ("/static/app.js", "text/javascript"),
                       ("/static/app.css", "text/css")):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.content_type == kind
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-cache"
        etag = resp.headers["ETag"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status == 304
        assert await again.read() == b""
    assert "frame-ancestors 'none'" in CSP
    assert "script-src 'self';" in CSP
    for path in ("/static/nope.js", "/static/..%2Frouter.db", "/static/"):
        resp = await client.get(path)
        assert resp.status == 404, path
    assert (await client.get("/static/app.js", allow_redirects=False)).status == 200


async def test_a_page_call_is_challenged_without_basic(make_router: Any) -> None:
    """A `Basic` challenge makes the browser hold the page's fetch behind its own
    password dialog; the page marks its calls and gets `Session` instead."""
    client, _ = await make_router(AUTH)
    resp = await client.get("/api/v1/alerts")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="alert-router"'
    resp = await client.get("/api/v1/alerts", headers={"X-Alert-Router-UI": "1"})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Session realm="alert-router"'


def test_no_inline_script_or_style_and_no_html_parsing_of_data() -> None:
    files = shipped()
    html = files["index.html"]
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []  # no inline handlers
    for name, text in files.items():
        if name.endswith(".js"):
            for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(",
                           "new Function", "document.write", ".style."):
                assert banned not in text, f"{name} uses {banned}"


def test_every_module_the_page_imports_is_shipped() -> None:
    files = shipped()
    wanted = set(re.findall(r'(?:src|href)="/static/([^"]+)"', files["index.html"]))
    for name, text in files.items():
        if name.endswith(".js"):
            wanted.update(re.findall(r"from '\./([^']+)'", text))
    assert wanted
    assert wanted <= set(files), wanted - set(files)


@pytest.mark.parametrize("name", sorted(n for n in shipped() if n.endswith(".js")))
def test_js_modules_are_small_and_documented(name: str) -> None:
    text = shipped()[name]
    assert text.startswith("/**"), f"{name} must open with a doc comment"
    assert len(text.splitlines()) < 400


def test_the_wheel_ships_the_ui(tmp_path: Path) -> None:
    builder = pytest.importorskip("hatchling.builders.wheel")
    wheel = builder.WheelBuilder(str(REPO))
    [built] = list(wheel.build(directory=str(tmp_path), versions=["standard"]))
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
    for name in shipped():
        assert f"router/web/static/{name}" in names
