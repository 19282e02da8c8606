"""The web UI: one HTML page, plain ES modules and CSS shipped inside the wheel
(router/web/static), served with a strict Content-Security-Policy and ETags.

The page shell is public: it holds no data. Everything it shows comes from the read and
write APIs, so with `server.auth` a browser without a session gets the page's login form
(which posts to `/api/v1/session`), never data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from router.web.errors import RequestError

# No inline script or style anywhere: the page is safe to show alert text verbatim.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
INDEX = "index.html"
# Revalidate on every load (a 304 is cheap): an upgrade can never leave a stale module.
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Assets:
    """Every shipped file of the UI, read once when the app is built."""

    files: dict[str, Asset]

    @classmethod
    def load(cls) -> Assets:
        root = resources.files("router.web").joinpath("static")
        files = {}
        for item in root.iterdir():
            suffix = "." + item.name.rpartition(".")[2]
            if item.is_file() and suffix in _TYPES:
                body = item.read_bytes()
                tag = hashlib.sha256(body).hexdigest()[:20]
                files[item.name] = Asset(body, _TYPES[suffix], f'"{tag}"')
        return cls(files)


ASSETS = web.AppKey("ui_assets", Assets)


def install(app: web.Application) -> None:
    app[ASSETS] = Assets.load()


def _answer(request: web.Request, asset: Asset) -> web.Response:
    headers = {**_HEADERS, "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers,
                                                  "Content-Type": asset.content_type})


async def index(request: web.Request) -> web.Response:
    """GET /: the page shell."""
    return _answer(request, request.app[ASSETS].files[INDEX])


async def static(request: web.Request) -> web.Response:
    """GET /static/{name}: one module, stylesheet or image of the page."""
    asset = request.app[ASSETS].files.get(request.match_info["name"])
    if asset is None:
        raise RequestError("no such file", "name", 404)
    return _answer(request, asset)
