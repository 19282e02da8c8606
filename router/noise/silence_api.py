"""Alertmanager API v2 shapes of silences: a posted `postableSilence` validated into a
`Silence` (raising `SilenceError` with Alertmanager's 400 messages), the `gettableSilence`
answer, and `GET /silences` filtering and order.

Kept apart from router/noise/silences.py so the mute path carries no JSON validation and
the API's rules read in one place; amtool depends on every detail here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from router import regex
from router.errors import MatcherError, SilenceError, SilenceSchemaError
from router.matchers import LABEL_NAME, Matcher, MatchOp, go_quote
from router.noise.silences import Silence, SilenceState, to_api_precision
from router.timefmt import format_time_ms, parse_time

__all__ = ["filter_silences", "matcher_to_api", "silence_from_api", "silence_to_api"]

# model.LabelName.IsValid() in Alertmanager 0.25 (no colon, unlike metric names).

_API_OP = {
    (False, True): MatchOp.EQ,
    (False, False): MatchOp.NE,
    (True, True): MatchOp.RE,
    (True, False): MatchOp.NRE,
}


def _require(body: Mapping[str, Any], key: str, kind: type, path: str = "") -> Any:
    where = f"{path}.{key}" if path else key
    if key not in body or body[key] is None:
        raise SilenceError("is required", where)
    value = body[key]
    # bool is an int subclass; no field here takes numbers, so a plain isinstance is enough.
    if not isinstance(value, kind):
        raise SilenceError(f"must be of type {_TYPE_NAMES[kind]}", where)
    return value


_TYPE_NAMES: dict[type, str] = {str: "string", bool: "boolean", list: "array", dict: "object"}

# The bounds of alerts (README "Accepted values"): a matcher value as long as a label value;
# free text (comment, createdBy, annotations) 64 KiB; as many matchers as an alert has labels.
# Times are bounded by `parse_time` (1970 to 9999-12-31T23:59:59Z).
MAX_VALUE_BYTES = 16 * 1024
MAX_TEXT_BYTES = 64 * 1024
MAX_MATCHERS = 256


def _bounded(text: str, path: str, limit: int) -> str:
    if len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit:
        raise SilenceError(f"longer than {limit} bytes", path)
    return text


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a `\ud800` JSON escape
        return False
    return True


def _matcher_from_api(raw: Any, index: int) -> Matcher:
    path = f"matchers[{index}]"
    if not isinstance(raw, dict):
        raise SilenceError("must be of type object", path)
    name = _require(raw, "name", str, path)
    value = _require(raw, "value", str, path)
    is_regex = _require(raw, "isRegex", bool, path)
    is_equal = raw.get("isEqual", True)
    if is_equal is None:
        is_equal = True
    if not isinstance(is_equal, bool):
        raise SilenceError("must be of type boolean", f"{path}.isEqual")
    if not LABEL_NAME.fullmatch(name):
        raise SilenceError(f"invalid label name {name!r}", f"{path}.name", alertmanager=(
            f"silence invalid: invalid label matcher {index}: invalid label name "
            f"{go_quote(name)}"))
    if not _is_utf8(value):
        raise SilenceError("invalid label value (not valid UTF-8)", f"{path}.value")
    _bounded(value, f"{path}.value", MAX_VALUE_BYTES)
    try:
        return Matcher(name, _API_OP[(is_regex, is_equal)], value)
    except MatcherError as exc:
        # Alertmanager compiles the pattern as written first (silence.validateMatcher) and
        # says so in Go's words; ours are the same, after the path of the field.
        raw = regex.parse_error(value) if is_regex else None
        message = exc.message if raw is None else \
            f"invalid regular expression {go_quote(value)}: {raw}"
        raise SilenceError(message, f"{path}.value") from None


def _matchers_from_api(raw: Any) -> tuple[Matcher, ...]:
    if not isinstance(raw, list):  # absent or empty: refused by _check_schema already
        raise SilenceError("must be of type array", "matchers")
    if len(raw) > MAX_MATCHERS:
        raise SilenceError(f"more than {MAX_MATCHERS} matchers", "matchers")
    matchers = tuple(_matcher_from_api(m, i) for i, m in enumerate(raw))
    # Alertmanager's matchesEmpty counts only `=` and `=~`: a negative matcher never
    # counts, even one that matches the empty string (`bar!="x"`), so that silence is taken.
    if all(m.op in (MatchOp.EQ, MatchOp.RE) and m.matches_empty for m in matchers):
        raise SilenceError("at least one matcher must not match the empty string", "matchers",
                           alertmanager="silence invalid: at least one matcher must not "
                           "match the empty string")
    return matchers


# go-swagger validates PostableSilence before Alertmanager's handler runs and reports only
# the first missing field, in the generated code's order (fields alphabetical).
_REQUIRED_TOP = ("comment", "createdBy", "endsAt", "matchers", "startsAt")
_REQUIRED_MATCHER = ("isRegex", "name", "value")


def _missing(body: Mapping[str, Any], key: str) -> bool:
    return body.get(key) is None


def _check_schema(body: Mapping[str, Any]) -> None:
    """Raise SilenceSchemaError (Alertmanager's 422) for the first required field missing."""
    for key in _REQUIRED_TOP:
        if _missing(body, key):
            raise SilenceSchemaError("is required", key, 602)
        if key != "matchers" or not isinstance(body[key], list):
            continue
        if not body[key]:
            raise SilenceSchemaError("should have at least 1 items", key, 612)
        for i, raw in enumerate(body[key]):
            for field in _REQUIRED_MATCHER:
                if isinstance(raw, dict) and _missing(raw, field):
                    raise SilenceSchemaError("is required", f"matchers[{i}].{field}", 602)


def _time_from_api(body: Mapping[str, Any], key: str) -> float:
    raw = _require(body, key, str)
    try:
        ts = parse_time(raw)
    except ValueError as exc:
        raise SilenceError(str(exc), key) from None
    if ts is None:
        raise SilenceError("invalid zero timestamp", key)
    return to_api_precision(ts)


def _annotations_from_api(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SilenceError("must be of type object", "annotations")
    if len(raw) > MAX_MATCHERS:
        raise SilenceError(f"more than {MAX_MATCHERS} annotations", "annotations")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise SilenceError("must be of type string", f"annotations.{key}")
        _bounded(key, "annotations", MAX_VALUE_BYTES)
        _bounded(value, f"annotations.{key}", MAX_TEXT_BYTES)
    return dict(raw)


def silence_from_api(body: Any, now: float) -> Silence:
    """Validate a `postableSilence`; raises SilenceError like Alertmanager's 400s, and
    SilenceSchemaError for what its OpenAPI schema refuses first (422).

    A body without `id` gives `id=""` (update_silence assigns one) and a startsAt in the past
    is clamped to `now`; with an `id` the times are kept, since an in-place update must
    carry the stored startsAt unchanged.
    """
    if not isinstance(body, dict):
        raise SilenceError("body must be a JSON object")
    _check_schema(body)
    sid = body.get("id") or ""
    if not isinstance(sid, str):
        raise SilenceError("must be of type string", "id")
    matchers = _matchers_from_api(body.get("matchers"))
    starts_at = _time_from_api(body, "startsAt")
    ends_at = _time_from_api(body, "endsAt")
    created_by = _bounded(_require(body, "createdBy", str), "createdBy", MAX_TEXT_BYTES)
    comment = _bounded(_require(body, "comment", str), "comment", MAX_TEXT_BYTES)
    annotations = _annotations_from_api(body.get("annotations"))
    # The API handler is stricter than the silence store: equal times are rejected too.
    if ends_at <= starts_at:
        raise SilenceError("start time must be before end time", "endsAt", alertmanager=(
            "Failed to create silence: start time must be before end time"))
    if ends_at < now:
        raise SilenceError("end time can't be in the past", "endsAt", alertmanager=(
            "Failed to create silence: end time can't be in the past"))
    stamp = to_api_precision(now)
    if not sid:
        starts_at = max(starts_at, stamp)
    return Silence(sid, matchers, starts_at, ends_at, stamp, created_by, comment, annotations)


def matcher_to_api(m: Matcher) -> dict[str, Any]:
    return {
        "name": m.name,
        "value": m.value,
        "isRegex": m.op in (MatchOp.RE, MatchOp.NRE),
        "isEqual": m.op in (MatchOp.EQ, MatchOp.RE),
    }


def silence_to_api(s: Silence, now: float) -> dict[str, Any]:
    """A `gettableSilence` (amtool 0.25 ignores `annotations`, which newer versions show)."""
    return {
        "id": s.id,
        "status": {"state": s.state(now).value},
        "updatedAt": format_time_ms(s.updated_at),
        "matchers": [matcher_to_api(m) for m in s.matchers],
        "startsAt": format_time_ms(s.starts_at),
        "endsAt": format_time_ms(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "annotations": dict(s.annotations),
    }


# --- listing --------------------------------------------------------------------------

_STATE_ORDER = {SilenceState.ACTIVE: 0, SilenceState.PENDING: 1, SilenceState.EXPIRED: 2}


def _has_identical(s: Silence, f: Matcher) -> bool:
    return any(m.name == f.name and m.op is f.op and m.value == f.value for m in s.matchers)


def _list_key(s: Silence, now: float) -> tuple[int, float, str]:
    state = s.state(now)
    if state is SilenceState.ACTIVE:
        when = s.ends_at
    elif state is SilenceState.PENDING:
        when = s.starts_at
    else:
        when = -s.ends_at  # expired: most recently ended first
    return _STATE_ORDER[state], when, s.id  # id: a deterministic tie-break


def filter_silences(
    silences: Iterable[Silence], filters: Iterable[Matcher], now: float
) -> list[Silence]:
    """GET /silences: keep silences holding an identical matcher (same name, operator and
    value) for every filter matcher (not label evaluation); active by endsAt ascending,
    then pending by startsAt ascending, then expired by endsAt descending."""
    wanted = list(filters)
    kept = [s for s in silences if all(_has_identical(s, f) for f in wanted)]
    kept.sort(key=lambda s: _list_key(s, now))
    return kept
