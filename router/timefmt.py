"""Time formats at the edges: RFC 3339 in (`parse_time`), Alertmanager's two styles out.

Inside the router times are float epoch seconds; JSON in, JSON out and templates use text.
Alertmanager writes two styles, and amtool and webhook consumers compare them byte for
byte: the webhook's Go RFC3339Nano (`format_time`, fraction only when non-zero, Go's zero
time for "no end") and API v2's go-openapi milliseconds (`format_time_ms`).
"""

from __future__ import annotations

import datetime as dt
import re

# Go's zero time, which Alertmanager puts in `endsAt` of every firing alert.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})$"
)


def parse_time(value: str) -> float | None:
    """Parse RFC 3339 (nanosecond fractions allowed). Go's zero time gives None.

    Raises ValueError with a readable message on anything else.
    """
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    year = int(m.group(1))
    if year <= 1:
        return None
    frac = m.group(7) or ""
    tz = m.group(8)
    offset = dt.timedelta(0)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        offset = sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    try:
        base = dt.datetime(
            year, int(m.group(2)), int(m.group(3)),
            int(m.group(4)), int(m.group(5)), int(m.group(6)), tzinfo=dt.UTC,
        )
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r} ({exc})") from None
    seconds = (base - offset).timestamp()
    if frac:
        seconds += float("0" + frac)
    return seconds


def format_time(ts: float | None) -> str:
    """Go's RFC3339Nano style as Alertmanager's webhook writes it (fraction only if non-zero)."""
    if ts is None:
        return GO_ZERO_TIME
    whole = int(ts // 1)
    frac = ts - whole
    base = dt.datetime.fromtimestamp(whole, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    micros = round(frac * 1_000_000)
    if micros >= 1_000_000:
        return format_time(float(whole + 1))
    if micros == 0:
        return base + "Z"
    return f"{base}.{micros:06d}".rstrip("0") + "Z"


def format_time_ms(ts: float) -> str:
    """API v2 style (go-openapi): always milliseconds."""
    d = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
