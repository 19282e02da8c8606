"""Hypothesis strategies for requests to every endpoint of the router.

Each strategy draws a `Req`: method, an already percent-encoded path and query, headers and
raw body bytes. Valid shapes are mixed with edge and invalid values at every level (a valid
alert with one label of 16 KiB + 1 byte, a timestamp one second past year 9999, a regex with
a huge repetition), so that most requests get past the JSON decoder and the shape checks and
reach the deep code: fingerprints, routing, silences' regexes, templates, the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

SOURCE = "ev"  # the configured `sources:` entry (tests/fuzz/test_fuzz_api.py CONFIG)


@dataclass(frozen=True, repr=False)
class Req:
    """One request; `route` is the route-table pattern it is aimed at (for the figures)."""

    route: str
    method: str
    path: str  # percent-encoded path and query
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints failing examples: keep them readable
        return f"Req({self.short()!r}, headers={self.headers!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))

    def short(self) -> str:
        body = "" if self.body is None else f" body={self.body[:80]!r}"
        return f"{self.method} {self.path[:120]}{body} ({len(self.body or b'')} bytes)"


# --- scalar values ------------------------------------------------------------------------

def _sized(chars: tuple[str, ...], sizes: tuple[int, ...]) -> st.SearchStrategy[str]:
    """Long strings built, not drawn: sizes around every byte bound of the README."""
    return st.builds(lambda c, n: c * n, st.sampled_from(chars), st.sampled_from(sizes))


# Byte bounds: label names 1 KiB, label values 16 KiB, free text 64 KiB (README).
BOUNDARY_SIZES = (255, 256, 257, 1023, 1024, 1025, 4096, 16383, 16384, 16385, 65536, 65537)
LONG = _sized(("a", "é", "😀", "\u0000", "{"), BOUNDARY_SIZES)

SPECIAL = st.sampled_from([
    "", " ", "\u0000", "\t\n", "é", "日本語", "😀", "\u200b", "\ufeff", "\ud83d\udd25",
    "{{ 7*7 }}", "{% for x in range(99999999) %}x{% endfor %}", "{{ event }}", "{#", "{{",
    "}}", "${x}", "%s%n", "'\"\\", "<script>", "..", "/", "%2F", "null", "true", "0",
    "-1", "1e308", "NaN", "alertname", "__name__", "a=b", "a=~\".*\"", "\U0010ffff",
])

TEXT = st.one_of(
    st.text(max_size=24),
    st.text(st.characters(codec="utf-8"), max_size=12),
    SPECIAL,
    st.sampled_from(["x", "web", "db", "critical", "warning"]),
)
SOME_TEXT = st.one_of(TEXT, TEXT, TEXT, LONG)
LABEL_NAME = st.one_of(
    st.sampled_from(["alertname", "severity", "instance", "job", "service", "le", "a", "b"]),
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True),
    TEXT,
    _sized(("n", "ñ"), (512, 1024, 1025)),
)

_DATES = [
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:00:00-01:00",
    "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z", "2026-11-30T23:59:60Z", "2026-13-01T00:00:00Z",
    "2026-11-30T24:00:00Z", "2026-11-30t10:00:00z", "2026-11-30 10:00:00Z",
    "2026-11-30T10:00:00+24:00", "2026-11-30T10:00:00+23:59", "2026-11-30T10:00:00-99:99",
    "2026-11-30T10:00:00", "2026-11-30", "1700000000", "2026-11-30T10:00:00.Z",
    "2026-11-30T10:00:00." + "9" * 400 + "Z", "2026-11-30T10:00:00,5Z", "", " ",
    "2026-11-30T10:00:00+00:00\u0000", "２０２６-11-30T10:00:00Z", "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:21.5Z", "2023-11-14T22:13:19Z", "2023-11-14T23:13:20+01:00",
]


def _rfc3339(year: int, mon: int, day: int, h: int, m: int, s: int, frac: str,
             off: str) -> str:
    return f"{year:04d}-{mon:02d}-{day:02d}T{h:02d}:{m:02d}:{s:02d}{frac}{off}"


DATE = st.one_of(
    st.sampled_from(_DATES),
    st.builds(
        _rfc3339,
        st.one_of(st.integers(1969, 1971), st.integers(2020, 2030), st.integers(9998, 9999),
                  st.integers(0, 99999)),
        st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 60),
        st.integers(0, 61),
        st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,12}", fullmatch=True)),
        st.one_of(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+23:59", "-23:59"]),
                  st.from_regex(r"[+-][0-9]{2}:[0-9]{2}", fullmatch=True)),
    ),
)

JSON_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    TEXT, st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**308, -(10**308), 1e308, 5e-324]),
)
JSON_ANY = st.recursive(
    JSON_SCALAR,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(TEXT, kids, max_size=4)),
    max_leaves=12,
)


def rare(d: st.DrawFn, n: int) -> bool:
    """True about once in `n` draws. Hypothesis favours bounds and small values when it
    draws an integer, so the rare case is a value in the middle, not 0 or the maximum."""
    return d(st.integers(0, n - 1)) == n // 2


def sometimes(valid: st.SearchStrategy[Any], weight: int = 10) -> st.SearchStrategy[Any]:
    """Mostly `valid`, about once in `weight` draws any JSON value at all (a wrong type)."""
    return st.integers(0, weight - 1).flatmap(lambda i: JSON_ANY if i == weight // 2 else valid)


def optional(d: st.DrawFn, obj: dict[str, Any], key: str, value: st.SearchStrategy[Any]) -> None:
    if d(st.booleans()):
        obj[key] = d(value)


LABELS = st.dictionaries(LABEL_NAME, SOME_TEXT, max_size=6)
# Inside every bound: these reach routing, grouping, the store, rendering and delivery.
GOOD_TEXT = st.one_of(st.text(st.characters(codec="utf-8"), min_size=1, max_size=16),
                      st.sampled_from(["web", "db", "critical", "warning", "😀", "é" * 8192,
                                       "x" * 16384, "{{ x }}", "{% raw %}", "0.5"]))
GOOD_NAME = st.one_of(st.sampled_from(["alertname", "severity", "service", "le", "a"]),
                      st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
                      st.just("n" * 1024))
GOOD_LABELS = st.dictionaries(GOOD_NAME, GOOD_TEXT, max_size=5)
GOOD_DATE = st.one_of(
    st.sampled_from(["1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2023-11-14T22:13:20Z",
                     "2023-11-14T22:13:21.123456789Z", "2023-11-14T23:13:20+01:00",
                     "2023-11-14T22:13:19-23:59", "2024-02-29T00:00:00Z",
                     "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]),
    # naive bounds, as hypothesis requires; written as UTC
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30))  # noqa: DTZ001
    .map(lambda t: t.isoformat() + "Z"),
)


@st.composite
def labels(d: st.DrawFn) -> dict[str, Any]:
    if d(st.booleans()):
        good: dict[str, Any] = {"alertname": d(GOOD_TEXT)}
        good.update(d(GOOD_LABELS))
        return good
    out: dict[str, Any] = {"alertname": d(st.one_of(TEXT, LONG))} if d(st.integers(0, 4)) else {}
    out.update(d(LABELS))
    if d(st.integers(0, 30)) == 0:  # many labels, around the 256 bound
        n = d(st.sampled_from([255, 256, 257]))
        out.update({f"l{i}": "v" for i in range(n)})
    return out


# --- bodies ---------------------------------------------------------------------------------

@st.composite
def postable_alert(d: st.DrawFn) -> Any:
    obj: dict[str, Any] = {"labels": d(sometimes(labels()))}
    optional(d, obj, "annotations", sometimes(st.dictionaries(LABEL_NAME, SOME_TEXT,
                                                              max_size=4)))
    optional(d, obj, "startsAt", sometimes(st.one_of(GOOD_DATE, DATE)))
    optional(d, obj, "endsAt", sometimes(st.one_of(GOOD_DATE, DATE)))
    optional(d, obj, "generatorURL", sometimes(st.one_of(TEXT, LONG)))
    if d(st.integers(0, 10)) == 0:
        obj[d(TEXT)] = d(JSON_ANY)  # an unknown field
    return obj


@st.composite
def webhook_v4(d: st.DrawFn) -> Any:
    alerts = []
    for _ in range(d(st.integers(0, 3))):
        status = st.sampled_from(["firing", "resolved"]) if not rare(d, 6) else TEXT
        a: dict[str, Any] = {"status": d(sometimes(status))}
        a["labels"] = d(sometimes(labels()))
        optional(d, a, "annotations", sometimes(st.dictionaries(LABEL_NAME, TEXT, max_size=3)))
        optional(d, a, "startsAt", sometimes(st.one_of(GOOD_DATE, DATE)))
        optional(d, a, "endsAt", sometimes(st.one_of(GOOD_DATE, DATE,
                                                     st.just("0001-01-01T00:00:00Z"))))
        optional(d, a, "generatorURL", sometimes(TEXT))
        optional(d, a, "fingerprint", sometimes(st.from_regex(r"[0-9a-f]{16}", fullmatch=True)))
        alerts.append(d(sometimes(st.just(a), 8)))
    obj: dict[str, Any] = {
        "version": d(sometimes(st.sampled_from(["3", ""]))) if rare(d, 8) else "4",
        "status": d(sometimes(st.sampled_from(["firing", "resolved"]))),
        "receiver": d(sometimes(TEXT)),
        "alerts": alerts,
    }
    for key in ("groupKey", "externalURL"):
        optional(d, obj, key, sometimes(TEXT))
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        optional(d, obj, key, sometimes(st.dictionaries(LABEL_NAME, TEXT, max_size=3)))
    optional(d, obj, "truncatedAlerts", sometimes(st.integers(-1, 10**20)))
    return obj


@st.composite
def event(d: st.DrawFn) -> Any:
    """An event for the `ev` source (its templates read name, severity, host, message,
    count, status, at, until, url)."""
    obj: dict[str, Any] = {}
    obj["name"] = d(sometimes(st.one_of(GOOD_TEXT, TEXT, LONG)))
    optional(d, obj, "severity", sometimes(TEXT))
    optional(d, obj, "host", sometimes(st.one_of(TEXT, st.fixed_dictionaries({"name": TEXT}))))
    optional(d, obj, "message", sometimes(st.one_of(TEXT, LONG)))
    optional(d, obj, "count", st.one_of(st.integers(), st.floats(allow_nan=False), TEXT,
                                        st.sampled_from([10**308, -(2**63), 1e308])))
    optional(d, obj, "status", sometimes(st.sampled_from(["firing", "resolved", "RESOLVED",
                                                          " firing ", "ok"])))
    optional(d, obj, "at", sometimes(st.one_of(GOOD_DATE, DATE)))
    optional(d, obj, "until", sometimes(st.one_of(GOOD_DATE, DATE)))
    optional(d, obj, "url", sometimes(TEXT))
    return obj


REGEXES = st.sampled_from([
    ".*", ".+", "", "(", ")", "[", "a{4294967296}", "a{1001}", "a{1000}", "a{,2}", "a++",
    "(a)\\1", "(?=a)", "(?<=a)b", "\\pL", "\\p{Greek}", "\\Q.*\\E", "\\x{41}", "(?U)a+",
    "[[:^alpha:]]", "(.*.*)*z", "(.*.*.*)*z", "\\", "\\z", "$^", "(?i)WEB", "a|b|c", "😀+",
    "é.*", "[\\x{10FFFF}]", "(?P<n>a)", "(?P<n>a)(?P<n>b)", "\\C", "[z-a]", "x{2,1}",
    "((((((((((a))))))))))" * 10, "a" * 20000, "(" * 1000 + ")" * 1000, "\u0000",
])
MATCH_VALUE = st.one_of(REGEXES, TEXT, LONG)


@st.composite
def matcher(d: st.DrawFn) -> Any:
    name = LABEL_NAME if rare(d, 6) else st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}",
                                                       fullmatch=True)
    m: dict[str, Any] = {"name": d(sometimes(name)),
                         "value": d(sometimes(st.one_of(GOOD_TEXT, MATCH_VALUE)))}
    if not rare(d, 8):
        m["isRegex"] = d(sometimes(st.booleans()))
    optional(d, m, "isEqual", sometimes(st.booleans()))
    return m


@st.composite
def good_silence(d: st.DrawFn) -> Any:
    """Valid in every field (ends after the fake clock's start), values at the edges: these
    reach the silence index, the store, the mute path and the listings."""
    ms = [{"name": d(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)),
           "value": d(st.one_of(GOOD_TEXT, REGEXES)), "isRegex": d(st.booleans()),
           "isEqual": d(st.booleans())} for _ in range(d(st.integers(1, 3)))]
    if d(st.booleans()):
        ms.append({"name": "alertname", "value": d(GOOD_TEXT), "isRegex": False})
    ends = d(st.one_of(
        st.sampled_from(["9999-12-31T23:59:59Z", "2023-11-14T22:13:21Z",
                         "2023-11-15T00:00:00.123456789+01:00"]),
        st.datetimes(min_value=datetime(2023, 11, 15), max_value=datetime(9999, 12, 30))  # noqa: DTZ001
        .map(lambda t: t.isoformat() + "Z")))
    obj = {"matchers": ms, "startsAt": d(st.sampled_from(
               ["1970-01-01T00:00:00Z", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.5Z"])),
           "endsAt": ends, "createdBy": d(GOOD_TEXT), "comment": d(st.one_of(GOOD_TEXT, LONG))}
    if rare(d, 5):
        obj["id"] = d(ID_TEXT)
    return obj


@st.composite
def silence(d: st.DrawFn) -> Any:
    if d(st.booleans()):
        return d(good_silence())
    obj: dict[str, Any] = {}
    if rare(d, 15):  # none, or one more than the bound
        obj["matchers"] = d(st.sampled_from([[], [{"name": f"l{i}", "value": "v",
                                                   "isRegex": False} for i in range(257)]]))
    else:
        obj["matchers"] = d(sometimes(st.lists(matcher(), min_size=1, max_size=3)))
    for key in ("startsAt", "endsAt"):
        if not rare(d, 10):
            obj[key] = d(sometimes(st.one_of(GOOD_DATE, GOOD_DATE, DATE)))
    for key in ("createdBy", "comment"):
        if not rare(d, 10):
            obj[key] = d(sometimes(st.one_of(GOOD_TEXT, TEXT, LONG)))
    if rare(d, 4):  # an update of an existing (or unknown) silence
        obj["id"] = d(sometimes(ID_TEXT))
    return obj


# --- encodings ------------------------------------------------------------------------------

def _dumps(value: Any, ascii_only: bool) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    except ValueError:  # floats out of range never reach here; keep the strategy total
        return b"null"


@st.composite
def encoded(d: st.DrawFn, value: st.SearchStrategy[Any]) -> bytes:
    """JSON text of `value`, sometimes with a mutation the decoder must refuse."""
    raw = _dumps(d(value), d(st.booleans()))
    if not rare(d, 6):
        return raw
    kind = d(st.integers(0, 4))
    if kind == 0 and raw:  # cut anywhere
        return raw[: d(st.integers(0, len(raw) - 1))]
    if kind == 1:  # a lone surrogate escape or an encoded surrogate inside the first string
        bad = d(st.sampled_from([b"\\ud800", b"\\udfff", b"\\uDBFF", b"\xed\xa0\x80",
                                 b"\\ud83d\\u0041", b"\xff", b"\xc0\xaf"]))
        return raw.replace(b'"', b'"' + bad, 1)
    if kind == 2:  # in another encoding: UTF-16/32 (RFC 4627), a BOM, Latin-1
        text = raw.decode("utf-8", "surrogatepass")
        enc = d(st.sampled_from(["utf-16-le", "utf-16-be", "utf-32", "utf-8-sig", "latin-1",
                                 "utf-16"]))
        return text.encode(enc, "replace")
    if kind == 3:  # huge numbers wherever a number or string is
        num = d(st.sampled_from([b"1" * 309, b"-" + b"9" * 5000, b"1e999999", b"-1e400",
                                 b"0." + b"0" * 5000 + b"1", b"NaN", b"Infinity", b"1" * 308]))
        return raw.replace(b'""', num, 1) if b'""' in raw else b"[" + num + b"]"
    return raw


NESTING = st.builds(lambda o, c, n: o * n + c * n, st.sampled_from([b"[", b'{"a":']),
                    st.sampled_from([b"]", b"}"]), st.sampled_from([10, 500, 5000, 200_000]))
RAW_BYTES = st.one_of(
    st.binary(max_size=64),
    NESTING,
    st.sampled_from([b"", b"{", b"[", b"null", b"[]", b"{}", b"[null]", b"[[]]", b"[{}]", b'""',
                     b"0", b"-", b"[1,]", b"\xef\xbb\xbf[]", b"\x00\x00\x00[",
                     b'{"labels":{"a":"\\u0000"}}', b"[" + b"1," * 10000 + b"1]",
                     b'{"a":1,"a":2}', b'[{"labels":{"a":"b"}}]' * 2]),
)
CONTENT_TYPE = st.one_of(
    st.just("application/json"), st.just("application/json"), st.just(None),
    st.sampled_from(["text/plain", "application/json; charset=latin-1", "application/JSON",
                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                     "", "application/json; charset=utf-16", "*/*",
                     "application/merge-patch+json"]),
)


def _headers(content_type: str | None) -> dict[str, str]:
    return {} if content_type is None else {"Content-Type": content_type}


@st.composite
def post(d: st.DrawFn, route: str, path: str, value: st.SearchStrategy[Any]) -> Req:
    body = d(RAW_BYTES) if rare(d, 12) else d(encoded(value))
    ctype = d(CONTENT_TYPE) if rare(d, 12) else "application/json"
    return Req(route, "POST", path, body, _headers(ctype))


# --- paths and queries --------------------------------------------------------------------

ID_TEXT = st.one_of(
    st.uuids().map(str),
    st.sampled_from(["", "0", "-1", "1", "99999999999999999999", "9" * 5000, "1e3", " 1",
                     "0x10", "١٢", "nosuch", "..", "%", "a/b"]),
    st.text(max_size=16),
)


def seg(raw: bytes) -> str:
    return quote_from_bytes(raw, safe="")


KNOWN = "@known@"  # the harness puts an id the app answered earlier here

ID_SEGMENT = st.one_of(
    st.just(KNOWN),
    ID_TEXT.map(lambda t: seg(t.encode("utf-8", "surrogatepass"))),
    st.binary(min_size=1, max_size=24).map(seg),
    st.sampled_from(["%ED%A0%80", "%FF", "%00", "x" * 4000, "%2E%2E", "a%2Fb", ".", "%"]),
)


def qs(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={v}" for k, v in pairs)


QVALUE = st.one_of(
    TEXT.map(lambda t: seg(t.encode("utf-8", "surrogatepass"))),
    st.binary(max_size=12).map(seg),
    st.sampled_from(["%ED%A0%80", "%FF", "%", "%zz", "9" * 5000]),
)
FILTER = st.one_of(
    st.builds(lambda n, op, v: f'{n}{op}"{v}"', LABEL_NAME.filter(lambda s: len(s) < 200),
              st.sampled_from(["=", "!=", "=~", "!~", "==", "~", ""]),
              st.one_of(REGEXES, TEXT)),
    st.sampled_from(["{", "}", '{a="b"}', "a", 'a="', 'a="b",c="d"', '{a=~"(.*.*)*z"}',
                     'alertname=~".+"', 'a="\\', "=", '"a"="b"']),
).map(lambda t: seg(t.encode("utf-8", "surrogatepass")))
FLAG = st.one_of(st.sampled_from(["true", "false", "TRUE", "False", "1", "", "yes"]), QVALUE)


@st.composite
def get_query(d: st.DrawFn) -> Req:
    kind = d(st.sampled_from(["v2alerts", "silences", "deliveries", "v1alerts", "static"]))
    pairs: list[tuple[str, str]] = []
    if kind in ("v2alerts", "silences"):
        pairs += [("filter", f) for f in d(st.lists(FILTER, max_size=3))]
    if kind == "v2alerts":
        for flag in ("active", "silenced", "inhibited", "unprocessed"):
            if d(st.integers(0, 3)) == 0:
                pairs.append((flag, d(FLAG)))
        if d(st.booleans()):
            pairs.append(("receiver", d(st.one_of(
                REGEXES.map(lambda t: seg(t.encode())), QVALUE))))
    if kind == "deliveries":
        if d(st.booleans()):
            pairs.append(("state", d(st.one_of(st.sampled_from(["pending", "dead", "PENDING",
                                                                "all"]), QVALUE))))
        if d(st.booleans()):
            pairs.append(("limit", d(st.one_of(
                st.integers(-(2**70), 2**70).map(str),
                st.sampled_from(["", "1e3", "0x10", " 5", "٣", "1_000", "+7", "-0"])
                .map(lambda t: seg(t.encode())),
                QVALUE))))
    if d(st.integers(0, 4)) == 0:  # unknown or repeated parameters
        pairs.append((d(st.sampled_from(["x", "limit", "state", "filter", ""])), d(QVALUE)))
    paths = {"v2alerts": "/api/v2/alerts", "silences": "/api/v2/silences",
             "deliveries": "/api/v1/deliveries", "v1alerts": "/api/v1/alerts"}
    if kind == "static":
        path = d(st.sampled_from(["/api/v2/receivers", "/api/v2/status", "/metrics",
                                  "/-/healthy", "/-/ready"]))
    else:
        path = paths[kind]
    query = qs(pairs)
    method = d(st.sampled_from(["GET", "GET", "GET", "HEAD"]))
    return Req(f"{'GET' if method == 'HEAD' else method} {path}", method,
               f"{path}?{query}" if query else path)


@st.composite
def id_path(d: st.DrawFn) -> Req:
    ident = d(ID_SEGMENT)
    route, method, path = d(st.sampled_from([
        ("GET /api/v2/silence/{id}", "GET", "/api/v2/silence/{}"),
        ("DELETE /api/v2/silence/{id}", "DELETE", "/api/v2/silence/{}"),
        ("GET /api/v1/alerts/{fingerprint}/trace", "GET", "/api/v1/alerts/{}/trace"),
        ("POST /api/v1/deliveries/{id}/retry", "POST", "/api/v1/deliveries/{}/retry"),
        ("POST /api/v1/events/{source}", "POST", "/api/v1/events/{}"),
    ]))
    body = d(st.one_of(st.none(), RAW_BYTES)) if method == "POST" else None
    return Req(route, method, path.format(ident), body,
               _headers("application/json") if body is not None else {})


def ingest_requests() -> st.SearchStrategy[Req]:
    return st.one_of(
        post("POST /api/v2/alerts", "/api/v2/alerts",
             st.one_of(st.lists(postable_alert(), min_size=1, max_size=4),
                      st.lists(postable_alert(), max_size=4), JSON_ANY)),
        post("POST /api/v1/alertmanager", "/api/v1/alertmanager",
             st.one_of(webhook_v4(), webhook_v4(), JSON_ANY)),
        post("POST /api/v1/events/{source}", f"/api/v1/events/{SOURCE}",
             st.one_of(event(), event(), st.lists(event(), max_size=3), JSON_ANY)),
    )


def silence_requests() -> st.SearchStrategy[Req]:
    return st.one_of(post("POST /api/v2/silences", "/api/v2/silences", silence()),
                     get_query(), id_path())


# A real browser's keys (65-byte P-256 point, 16-byte auth secret), base64url.
GOOD_P256DH = ("BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I9"
               "9e8QcYP7DkM")
GOOD_AUTH = "tBHItJI5svbpez7KI4CCXg"
ENDPOINT = st.one_of(
    st.sampled_from(["https://fcm.googleapis.com/fcm/send/x", "http://127.0.0.1:1/push/x",
                     "https://fcm.googleapis.com.evil.example/x", "https://a@fcm.googleapis.com/",
                     "file:///etc/passwd", "https://fcm.googleapis.com/\u0000", "", "https://",
                     "https://[::1]:99999/x", "https://fcm.googleapis.com:0/x"]),
    TEXT, LONG)


@st.composite
def push_subscription(d: st.DrawFn) -> Any:
    """A body for POST /api/v1/webpush/subscriptions: mostly well formed, each field fuzzed."""
    keys = {"p256dh": d(sometimes(st.just(GOOD_P256DH))), "auth": d(sometimes(st.just(GOOD_AUTH)))}
    obj: dict[str, Any] = {"endpoint": d(ENDPOINT), "keys": d(sometimes(st.just(keys)))}
    optional(d, obj, "receivers", sometimes(st.sampled_from([["quiet"], ["hook", "quiet"]])))
    optional(d, obj, "expirationTime", st.one_of(st.none(), JSON_ANY))
    if rare(d, 10):
        obj[d(TEXT)] = d(JSON_ANY)  # an unknown field
    return obj


@st.composite
def push_unsubscribe(d: st.DrawFn) -> Req:
    body = d(st.one_of(st.builds(lambda e: {"endpoint": e}, ENDPOINT), JSON_ANY).map(
        lambda v: json.dumps(v).encode()))
    return Req("DELETE /api/v1/webpush/subscriptions", "DELETE",
               "/api/v1/webpush/subscriptions", body, _headers("application/json"))


def webpush_requests() -> st.SearchStrategy[Req]:
    path = "/api/v1/webpush/subscriptions"
    return st.one_of(
        post("POST /api/v1/webpush/subscriptions", path,
             st.one_of(push_subscription(), push_subscription(), JSON_ANY)),
        push_unsubscribe(),
        st.just(Req("GET /api/v1/webpush/key", "GET", "/api/v1/webpush/key")),
    )


def query_requests() -> st.SearchStrategy[Req]:
    return st.one_of(get_query(), id_path())


ANY_POST = st.sampled_from([
    ("POST /api/v2/alerts", "/api/v2/alerts"),
    ("POST /api/v1/alertmanager", "/api/v1/alertmanager"),
    ("POST /api/v1/events/{source}", f"/api/v1/events/{SOURCE}"),
    ("POST /api/v2/silences", "/api/v2/silences"),
    ("POST /-/reload", "/-/reload"),
    ("POST /api/v1/webpush/subscriptions", "/api/v1/webpush/subscriptions"),
])


@st.composite
def raw_request(d: st.DrawFn) -> Req:
    route, path = d(ANY_POST)
    return Req(route, "POST", path, d(RAW_BYTES), _headers(d(CONTENT_TYPE)))



# --- template syntax: a `sources:` entry of fuzzed Jinja, then events through it ----------

# Left out: `'x' * event.n`, `event.n ** event.n`, `center(event.n)` and the like. Jinja's
# sandbox does not bound them, so an event could make the process allocate gigabytes
# (tests/fuzz/README.md, "Not covered").
_FIELD = st.sampled_from(["name", "n", "a", "host", "missing", "a.b", "items", "__class__",
                          "n.real", "0"])
TEMPLATE_PART = st.one_of(
    st.builds("{{{{ event.{} }}}}".format, _FIELD),
    st.builds("{{{{ event.{} | default('d') }}}}".format, _FIELD),
    st.sampled_from([
        "x", "", "{{", "}}", "{%", "{% if event.a %}y{% endif %}", "{{ event.a * 3 }}",
        "{{ event['a'] }}", "{{ event | tojson }}", "{{ event.n + 1 }}", "{{ event.n / 0 }}",
        "{{ event.n // event.a }}", "{{ range(event.n) | list }}", "{{ ''.__class__ }}",
        "{{ event.__class__.__mro__ }}", "{{ event.a | int }}", "{{ event.a | float }}",
        "{{ event.a ~ event.n }}", "{% for k in event %}{{ k }}{% endfor %}",
        "{{ event.a | replace('a', 'b') }}", "{{ event.a | truncate(3) }}",
        "{{ event.a | format(1, 2) }}", "{{ '%s' % event.a }}", "{{ event.a[event.n] }}",
        "{{ event.a | join(',') }}", "{{ event.a | first }}", "{{ event.a | max }}",
        "{{ event.a | map(attribute='x') | list }}", "{{ event.n | round(event.n) }}",
        "{{ event.a.split(event.b) }}",
        "{{ event.a | regex_replace }}", "{% raw %}{{{% endraw %}", "{# c #}", "{{ undefined.x }}",
        "{{ event.a is defined }}", "{% set x = event.a %}{{ x }}", "{{ now }}",
        "{{ (event.a | string)[::-1] }}", "{{ event.n | filesizeformat }}",
        "{{ event.a | urlencode }}", "{{ event.a | xmlattr }}",
        "{% macro m(x) %}{{ m(x) }}{% endmacro %}{{ m(1) }}",
        "{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(event.n) }}",
    ]),
)
TEMPLATE = st.lists(TEMPLATE_PART, min_size=1, max_size=3).map("".join)
EVENT_VALUE = st.one_of(
    TEXT, st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([10**9, 10**300, -1, 0, 7, 99999, 1e308, [], {}, [1, "a"], {"x": 1}]),
    st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=2),
)
TEMPLATE_EVENT = st.dictionaries(st.sampled_from(["name", "n", "a", "b", "host", "items"]),
                                 EVENT_VALUE, max_size=6)


@st.composite
def source_config(d: st.DrawFn) -> dict[str, Any]:
    """A `sources:` entry whose every template is fuzzed (alertname always present)."""
    entry: dict[str, Any] = {"labels": {"alertname": d(TEMPLATE)}}
    if d(st.booleans()):
        entry["labels"]["x"] = d(TEMPLATE)
    if d(st.booleans()):
        entry["annotations"] = {"summary": d(TEMPLATE)}
    for key in ("status", "starts_at", "ends_at", "generator_url"):
        if rare(d, 3):
            entry[key] = d(TEMPLATE)
    return entry


def template_events() -> st.SearchStrategy[Req]:
    return st.lists(TEMPLATE_EVENT, min_size=1, max_size=2).map(
        lambda evs: Req("POST /api/v1/events/{source}", "POST", "/api/v1/events/fz",
                        json.dumps(evs if len(evs) > 1 else evs[0]).encode(),
                        {"Content-Type": "application/json"}))
