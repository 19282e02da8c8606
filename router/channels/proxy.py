"""Which proxy a request goes through: `proxy_url` with `no_proxy`, or the environment
(`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, either case) with Go's httpproxy rules.

The environment is read once by the composition root and handed in, never at import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from router.config.types import HttpConfig

__all__ = ["bypasses", "env_proxy", "pick_proxy", "proxy_environment"]

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD")


def proxy_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables of `environ`, upper-cased (the upper-case one wins, as in Go)."""
    out: dict[str, str] = {}
    for name in _PROXY_VARS:
        value = environ.get(name) or environ.get(name.lower())
        if value:
            out[name] = value
    return out


def pick_proxy(http: HttpConfig, url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy URL for `url` under `http`, or None to connect directly."""
    if http.proxy_from_environment:
        return env_proxy(url, environ)
    if http.proxy_url is None:
        return None
    # Prometheus: without no_proxy every request goes through proxy_url; with it, Go's
    # httpproxy rules apply, which also never proxy localhost and loopback addresses.
    if http.no_proxy and (_is_local(url) or bypasses(url, http.no_proxy)):
        return None
    return _with_scheme(http.proxy_url.reveal())


def env_proxy(url: str, environ: Mapping[str, str]) -> str | None:
    """Go's `http.ProxyFromEnvironment`: HTTPS_PROXY for https, HTTP_PROXY for http (not
    under CGI), unless NO_PROXY covers the host; loopback hosts never use a proxy."""
    env = proxy_environment(environ)
    scheme = urlsplit(url).scheme
    proxy = env.get("HTTPS_PROXY") if scheme == "https" else None
    if scheme == "http" and "REQUEST_METHOD" not in env:
        proxy = env.get("HTTP_PROXY")
    if not proxy or _is_local(url) or bypasses(url, env.get("NO_PROXY", "")):
        return None
    return _with_scheme(proxy)


def _with_scheme(proxy: str) -> str:
    return proxy if "://" in proxy else f"http://{proxy}"


def _is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bypasses(url: str, no_proxy: str) -> bool:
    """True when `no_proxy` (comma-separated `*`, hosts, `.domains`, IPs, CIDRs, each
    optionally with `:port`) covers `url`'s host, with Go's httpproxy matching."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if _matches(entry, host, port):
            return True
    return False


def _matches(entry: str, host: str, port: int) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        network = None
    if network is not None and "/" in entry:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    name, want_port = entry, None
    if entry.startswith("[") and "]" in entry:  # [v6]:port
        name, _, rest = entry[1:].partition("]")
        want_port = rest.removeprefix(":") or None
    elif entry.count(":") == 1:
        name, want_port = entry.split(":")
    if want_port is not None and want_port != str(port):
        return False
    if name.startswith("*."):
        name = name[1:]
    if name.startswith("."):  # subdomains only
        return host.endswith(name)
    return host == name or host.endswith("." + name)
