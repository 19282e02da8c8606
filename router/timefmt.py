"""Time formats at the edges: RFC 3339 in (`parse_time`), Alertmanager's two styles out.

Inside the router times are float epoch seconds; JSON in, JSON out and templates use text.
Alertmanager writes two styles, and amtool and webhook consumers compare them byte for
byte: the webhook's Go RFC3339Nano (`format_time`, fraction only when non-zero, Go's zero
time for "no end") and API v2's go-openapi milliseconds (`format_time_ms`).
"""

from __future__ import annotations

import datetime as dt
import re
import time

# Go's zero time, which Alertmanager puts in `endsAt` of every firing alert.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"

# The accepted range (README "Accepted values"): from the Unix epoch to the last whole
# second that both output styles can still write with four-digit years. Go's zero time
# (year 1) stays "no time". Fractions are read whole and written to the microsecond; float
# epoch seconds hold that exactly until 2106, then to within 31 µs (the ulp at year 9999).
MIN_TIME = 0.0
MAX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
_MAX_MICROS = 253402300799 * 1_000_000

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})$"
)


def _offset_seconds(tz: str, value: str) -> int:
    """RFC 3339 `time-numoffset`: hours 00-23, minutes 00-59 (Go's parser agrees)."""
    if tz in ("Z", "z"):
        return 0
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r} (offset {tz} out of range)")
    return (1 if tz[0] == "+" else -1) * (hours * 3600 + minutes * 60)


def _micros(frac: str) -> int:
    """A `.ddd…` fraction in microseconds, rounded half up (1_000_000 may come back)."""
    digits = frac[1:]
    micros = int(digits[:6].ljust(6, "0"))
    return micros + (1 if len(digits) > 6 and digits[6] >= "5" else 0)


def parse_time(value: str) -> float | None:
    """Parse RFC 3339 (nanosecond fractions allowed). Go's zero time gives None.

    Raises ValueError with a readable message on anything else, including an instant
    outside [1970-01-01T00:00:00Z, 9999-12-31T23:59:59Z] once the offset is applied.
    """
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    year = int(m.group(1))
    if year <= 1:
        return None
    offset = _offset_seconds(m.group(8), value)
    hour, minute, second = int(m.group(4)), int(m.group(5)), int(m.group(6))
    try:
        day = dt.date(year, int(m.group(2)), int(m.group(3))).toordinal()
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError("hour, minute or second out of range")
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r} ({exc})") from None
    # Integer arithmetic: an offset may carry the instant past year 9999 (no overflow).
    whole = (day - _EPOCH_DAY) * 86400 + hour * 3600 + minute * 60 + second - offset
    frac = m.group(7) or ""
    # The bound applies to the instant as it will be written (to the microsecond).
    total = whole * 1_000_000 + _micros(frac or ".")
    if total < 0:
        raise ValueError(f"{value!r} is before 1970-01-01T00:00:00Z")
    if total > _MAX_MICROS:
        raise ValueError(f"{value!r} is after 9999-12-31T23:59:59Z")
    return whole + float("0" + frac) if frac else float(whole)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


_YEAR_1 = -62_135_596_800  # 0001-01-01T00:00:00Z


def format_time(ts: float | None) -> str:
    """Go's RFC3339Nano style as Alertmanager's webhook writes it (fraction only if non-zero)."""
    if ts is None:
        return GO_ZERO_TIME
    whole = int(ts // 1)
    micros = round((ts - whole) * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, 0
    if not _YEAR_1 <= whole <= MAX_TIME:  # RFC 3339 has four-digit years, as datetime
        raise ValueError(f"year is out of range: {ts} is not within years 1 to 9999")
    # time.gmtime and %-formatting: a fifth of datetime's cost, and this runs for every
    # alert of every webhook payload and every alert event.
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(whole)[:6]  # noqa: UP031
    if micros == 0:
        return base + "Z"
    return f"{base}.{micros:06d}".rstrip("0") + "Z"


def format_time_ms(ts: float) -> str:
    """API v2 style (go-openapi): always milliseconds."""
    d = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
