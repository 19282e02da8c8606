"""Silences: states, API validation and shapes, update/expire rules, filtering, retention and
the mute index (checked against a linear scan on seeded random data)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from router.errors import SilenceError, SilenceNotFound
from router.matchers import Matcher, MatchOp, parse_matchers
from router.noise.silence_api import filter_silences, silence_from_api, silence_to_api
from router.noise.silences import (
    DEFAULT_RETENTION,
    Silence,
    SilenceIndex,
    SilenceState,
    expire,
    gc,
    silence_from_record,
    silence_to_record,
    update_silence,
)
from router.timefmt import format_time_ms

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HOUR = 3600.0


def sil(
    matchers: str = 'alertname="Foo"', start: float = NOW - HOUR, end: float = NOW + HOUR,
    sid: str | None = None, **kw: Any,
) -> Silence:
    return Silence(
        id=sid or str(uuid.uuid4()), matchers=tuple(parse_matchers(matchers)), starts_at=start,
        ends_at=end, updated_at=start, created_by=kw.get("created_by", "me"),
        comment=kw.get("comment", "c"), annotations=kw.get("annotations", {}),
    )


def body(**kw: Any) -> dict[str, Any]:
    """A postableSilence as amtool 0.25 sends it."""
    b: dict[str, Any] = {
        "comment": "x",
        "createdBy": "me",
        "startsAt": format_time_ms(NOW),
        "endsAt": format_time_ms(NOW + HOUR),
        "matchers": [{"isEqual": True, "isRegex": False, "name": "alertname", "value": "Foo"}],
    }
    b.update(kw)
    return {k: v for k, v in b.items() if v is not None}


# --- states and muting ----------------------------------------------------------------


def test_state_boundaries_are_inclusive_for_active() -> None:
    s = sil(start=NOW, end=NOW + 10)
    assert s.state(NOW - 0.001) == "pending"
    assert s.state(NOW) == "active"
    assert s.state(NOW + 10) is SilenceState.ACTIVE
    assert s.state(NOW + 10.001) == "expired"


def test_mutes_only_while_active_and_when_every_matcher_matches() -> None:
    s = sil('alertname="Foo", env!="prod", team=""', start=NOW, end=NOW + 10)
    labels = {"alertname": "Foo", "env": "dev"}
    assert s.mutes(labels, NOW + 5)
    assert not s.mutes(labels, NOW - 1)
    assert not s.mutes(labels, NOW + 11)
    assert s.mutes({"alertname": "Foo"}, NOW)  # missing env is "" (!= "prod")
    assert not s.mutes({**labels, "team": "a"}, NOW)  # team="" needs team missing or empty
    assert not s.mutes({"alertname": "Foo", "env": "prod"}, NOW)


# --- API in ---------------------------------------------------------------------------


def test_amtool_body_parses() -> None:
    s = silence_from_api(body(), NOW)
    assert s.id == ""
    assert s.matchers == (Matcher("alertname", MatchOp.EQ, "Foo"),)
    assert (s.starts_at, s.ends_at, s.updated_at) == (NOW, NOW + HOUR, NOW)
    assert (s.created_by, s.comment, dict(s.annotations)) == ("me", "x", {})


@pytest.mark.parametrize(
    ("is_regex", "is_equal", "op"),
    [(False, True, "="), (False, False, "!="), (True, True, "=~"), (True, False, "!~"),
     (False, None, "="), (True, None, "=~")],
)
def test_matcher_flags_map_to_operators(is_regex: bool, is_equal: bool | None, op: str) -> None:
    m: dict[str, Any] = {"name": "a", "value": "x", "isRegex": is_regex}
    if is_equal is not None:
        m["isEqual"] = is_equal
    s = silence_from_api(body(matchers=[m, {"name": "b", "value": "y", "isRegex": False}]), NOW)
    assert s.matchers[0].op == op


def test_negative_matchers_never_count_as_matching_the_empty_string() -> None:
    # Alertmanager's matchesEmpty: only `=` and `=~` count (checked with a real 0.25 in
    # tests/e2e/test_relay_vs_alertmanager.py), so `foo=""` with `bar!="x"` is accepted.
    s = silence_from_api(body(matchers=[
        {"name": "foo", "value": "", "isRegex": False},
        {"name": "bar", "value": "x", "isRegex": False, "isEqual": False}]), NOW)
    assert [m.op for m in s.matchers] == [MatchOp.EQ, MatchOp.NE]


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"matchers": None}, "matchers", "is required"),
        ({"matchers": []}, "matchers", "should have at least 1 items"),
        ({"matchers": "a=b"}, "matchers", "must be of type array"),
        ({"matchers": [{"name": "a", "isRegex": False}]}, "matchers[0].value", "is required"),
        ({"matchers": [{"name": "a", "value": "b"}]}, "matchers[0].isRegex", "is required"),
        ({"matchers": [{"name": "a", "value": "b", "isRegex": "no"}]},
         "matchers[0].isRegex", "must be of type boolean"),
        ({"matchers": [{"name": "a", "value": "b", "isRegex": False}, {"name": "1a", "value": "b",
                                                                       "isRegex": False}]},
         "matchers[1].name", "invalid label name '1a'"),
        ({"matchers": [{"name": "a", "value": "(", "isRegex": True}]},
         "matchers[0].value", 'invalid regular expression "("'),
        ({"matchers": [{"name": "a", "value": "\ud800", "isRegex": False}]},
         "matchers[0].value", "invalid label value"),
        ({"matchers": [{"name": "foo", "value": ".*", "isRegex": True}]},
         "matchers", "at least one matcher must not match the empty string"),
        ({"matchers": [{"name": "foo", "value": "", "isRegex": False},
                       {"name": "bar", "value": "x*", "isRegex": True}]},
         "matchers", "at least one matcher must not match the empty string"),
        ({"startsAt": None}, "startsAt", "is required"),
        ({"startsAt": "yesterday"}, "startsAt", "not an RFC 3339 timestamp"),
        ({"startsAt": "0001-01-01T00:00:00Z"}, "startsAt", "invalid zero timestamp"),
        ({"endsAt": None}, "endsAt", "is required"),
        ({"createdBy": None}, "createdBy", "is required"),
        ({"comment": 3}, "comment", "must be of type string"),
        ({"annotations": {"a": 1}}, "annotations.a", "must be of type string"),
        ({"endsAt": format_time_ms(NOW - 1)}, "endsAt", "start time must be before end time"),
        ({"endsAt": format_time_ms(NOW)}, "endsAt", "start time must be before end time"),
        ({"startsAt": format_time_ms(NOW - 2 * HOUR), "endsAt": format_time_ms(NOW - 1)},
         "endsAt", "end time can't be in the past"),
    ],
)
def test_validation_errors_name_the_field(changes: dict[str, Any], path: str, message: str) -> None:
    b = body()
    for key, value in changes.items():
        if value is None:
            b.pop(key, None)
        else:
            b[key] = value
    with pytest.raises(SilenceError) as info:
        silence_from_api(b, NOW)
    assert info.value.path == path
    assert info.value.message.startswith(message)
    assert str(info.value) == f"{path}: {info.value.message}"


def test_non_object_body_is_rejected() -> None:
    with pytest.raises(SilenceError, match="JSON object"):
        silence_from_api([body()], NOW)


def test_regex_that_cannot_match_empty_makes_the_silence_valid() -> None:
    s = silence_from_api(body(matchers=[{"name": "foo", "value": ".+", "isRegex": True}]), NOW)
    assert s.matchers[0].op is MatchOp.RE
    assert s.mutes({"foo": "x"}, NOW)
    assert not s.mutes({}, NOW)


def test_past_start_is_clamped_for_new_silences_only() -> None:
    past = format_time_ms(NOW - HOUR)
    assert silence_from_api(body(startsAt=past), NOW).starts_at == NOW
    with_id = silence_from_api(body(startsAt=past, id="abc"), NOW)
    assert (with_id.id, with_id.starts_at) == ("abc", NOW - HOUR)


# --- API out and storage record ---------------------------------------------------------


def test_to_api_shape_with_millisecond_times() -> None:
    s = Silence(
        id="id1", matchers=tuple(parse_matchers('a="1", b!="2", c=~"3.*", d!~"4"')),
        starts_at=NOW + 0.5, ends_at=NOW + HOUR, updated_at=NOW, created_by="me",
        comment="why", annotations={"ticket": "T-1"},
    )
    assert silence_to_api(s, NOW) == {
        "id": "id1",
        "status": {"state": "pending"},
        "updatedAt": "2023-11-14T22:13:20.000Z",
        "matchers": [
            {"name": "a", "value": "1", "isRegex": False, "isEqual": True},
            {"name": "b", "value": "2", "isRegex": False, "isEqual": False},
            {"name": "c", "value": "3.*", "isRegex": True, "isEqual": True},
            {"name": "d", "value": "4", "isRegex": True, "isEqual": False},
        ],
        "startsAt": "2023-11-14T22:13:20.500Z",
        "endsAt": "2023-11-14T23:13:20.000Z",
        "createdBy": "me",
        "comment": "why",
        "annotations": {"ticket": "T-1"},
    }


def test_api_round_trip_through_update_keeps_the_silence() -> None:
    s = sil('a="1", c=~"3.*"', start=NOW, end=NOW + HOUR, annotations={"k": "v"})
    again = silence_from_api(silence_to_api(s, NOW), NOW)
    assert again == s


def test_record_round_trip() -> None:
    s = sil('a="1", b!="", c=~"x|y", d!~"z"', annotations={"k": "v"})
    assert silence_from_record(silence_to_record(s)) == s


# --- update ---------------------------------------------------------------------------


def test_new_silence_gets_a_fresh_uuid() -> None:
    current, old = update_silence(None, silence_from_api(body(), NOW), NOW)
    assert uuid.UUID(current.id).version == 4
    assert old is None
    assert current.updated_at == NOW


def test_unknown_id_is_not_found() -> None:
    with pytest.raises(SilenceNotFound) as info:
        update_silence(None, silence_from_api(body(id="nope"), NOW), NOW)
    assert info.value.path == "id"


def test_active_silence_extended_in_place() -> None:
    existing = sil(start=NOW - HOUR, end=NOW + HOUR, sid="s1")
    new = sil(start=NOW - HOUR, end=NOW + 5 * HOUR, sid="s1", comment="longer")
    current, old = update_silence(existing, new, NOW)
    assert old is None
    assert (current.id, current.ends_at, current.comment) == ("s1", NOW + 5 * HOUR, "longer")
    assert current.updated_at == NOW


def test_active_silence_shortened_to_now_stays_in_place() -> None:
    existing = sil(start=NOW - HOUR, end=NOW + HOUR, sid="s1")
    current, old = update_silence(existing, sil(start=NOW - HOUR, end=NOW, sid="s1"), NOW)
    assert (current.id, old) == ("s1", None)


@pytest.mark.parametrize(
    ("matchers", "start", "end"),
    [
        ('alertname="Bar"', NOW - HOUR, NOW + HOUR),  # matchers changed
        ('alertname="Foo", x="1"', NOW - HOUR, NOW + HOUR),  # matcher added
        ('alertname="Foo"', NOW - HOUR / 2, NOW + HOUR),  # startsAt of an active one moved
    ],
)
def test_active_silence_replaced_when_history_would_change(
    matchers: str, start: float, end: float
) -> None:
    existing = sil(start=NOW - HOUR, end=NOW + HOUR, sid="s1")
    current, old = update_silence(existing, sil(matchers, start=start, end=end, sid="s1"), NOW)
    assert current.id != "s1"
    assert current.starts_at == max(start, NOW)  # a replacement starts now at the earliest
    assert current.matchers == tuple(parse_matchers(matchers))
    assert old is not None
    assert (old.id, old.ends_at, old.updated_at) == ("s1", NOW, NOW)
    assert old.matchers == existing.matchers


def test_matcher_order_counts_as_a_change() -> None:
    existing = sil('a="1", b="2"', sid="s1")
    current, old = update_silence(existing, sil('b="2", a="1"', sid="s1"), NOW)
    assert current.id != "s1"
    assert old is not None


def test_pending_silence_moved_later_in_place() -> None:
    existing = sil(start=NOW + HOUR, end=NOW + 2 * HOUR, sid="s1")
    new = sil(start=NOW + 3 * HOUR, end=NOW + 4 * HOUR, sid="s1")
    current, old = update_silence(existing, new, NOW)
    assert (current.id, current.starts_at, old) == ("s1", NOW + 3 * HOUR, None)


def test_pending_silence_started_in_the_past_is_replaced() -> None:
    existing = sil(start=NOW + HOUR, end=NOW + 2 * HOUR, sid="s1")
    current, old = update_silence(existing, sil(start=NOW - HOUR, end=NOW + HOUR, sid="s1"), NOW)
    assert current.id != "s1"
    assert current.starts_at == NOW
    assert old is not None
    assert (old.starts_at, old.ends_at) == (NOW, NOW)  # a pending one expires at once


def test_expired_silence_is_never_edited() -> None:
    existing = sil(start=NOW - 2 * HOUR, end=NOW - HOUR, sid="s1")
    current, old = update_silence(existing, sil(start=NOW - 2 * HOUR, end=NOW + HOUR, sid="s1"),
                                  NOW)
    assert current.id != "s1"
    assert current.starts_at == NOW
    assert old is None  # nothing to expire: the stored one stays as it was


def test_read_modify_write_at_sub_millisecond_now_stays_in_place() -> None:
    """amtool `silence update`/`import` send back the API's millisecond times."""
    t = NOW + 0.123456
    created, _ = update_silence(None, silence_from_api(body(startsAt=format_time_ms(t)), t), t)
    assert created.starts_at == NOW + 0.123
    later = t + 60.000789
    sent = silence_to_api(created, later)
    sent["endsAt"] = format_time_ms(later + 3 * HOUR)
    current, old = update_silence(created, silence_from_api(sent, later), later)
    assert (current.id, old) == (created.id, None)
    assert silence_to_api(current, later)["updatedAt"] == format_time_ms(later)
    gone = expire(current, later + 0.0004)
    assert gone.ends_at == NOW + 60.124  # whole milliseconds
    assert gone.state(later + 0.0004) == "expired"


def test_nanosecond_input_is_stored_at_millisecond_precision() -> None:
    s = silence_from_api(body(endsAt="2023-11-14T23:13:20.123456789Z"), NOW)
    assert silence_from_api(silence_to_api(s, NOW), NOW).ends_at == s.ends_at == NOW + HOUR + 0.123


# --- expire ---------------------------------------------------------------------------


def test_expire_active_pending_and_expired() -> None:
    active = expire(sil(start=NOW - HOUR, end=NOW + HOUR), NOW)
    assert (active.starts_at, active.ends_at, active.updated_at) == (NOW - HOUR, NOW, NOW)
    assert active.state(NOW + 0.001) == "expired"
    pending = expire(sil(start=NOW + HOUR, end=NOW + 2 * HOUR), NOW)
    assert (pending.starts_at, pending.ends_at) == (NOW, NOW)
    assert pending.state(NOW + 0.001) == "expired"
    done = sil(start=NOW - 2 * HOUR, end=NOW - HOUR)
    assert expire(done, NOW) is done


# --- filter and order -----------------------------------------------------------------


def test_filter_needs_identical_matchers_not_label_evaluation() -> None:
    eq = sil('alertname="Foo", env="prod"', sid="eq")
    regex = sil('alertname=~"Foo", env="prod"', sid="re")
    other = sil('alertname="Bar"', sid="other")
    every = [eq, regex, other]

    def ids(filters: str) -> set[str]:
        return {s.id for s in filter_silences(every, parse_matchers(filters), NOW)}

    assert ids("") == {"eq", "re", "other"}
    assert ids('alertname="Foo"') == {"eq"}
    assert ids('alertname=~"Foo"') == {"re"}
    assert ids('alertname=~"F.*"') == set()  # a regex filter is not evaluated
    assert ids('env="prod"') == {"eq", "re"}
    assert ids('env="prod", alertname="Foo"') == {"eq"}
    assert ids('env!="prod"') == set()


def test_list_order_active_then_pending_then_expired() -> None:
    silences = [
        sil(sid="exp-old", start=NOW - 9 * HOUR, end=NOW - 8 * HOUR),
        sil(sid="pend-late", start=NOW + 5 * HOUR, end=NOW + 6 * HOUR),
        sil(sid="act-late", start=NOW - HOUR, end=NOW + 9 * HOUR),
        sil(sid="exp-new", start=NOW - 3 * HOUR, end=NOW - HOUR),
        sil(sid="pend-soon", start=NOW + HOUR, end=NOW + 9 * HOUR),
        sil(sid="act-soon", start=NOW - HOUR, end=NOW + HOUR),
    ]
    assert [s.id for s in filter_silences(silences, [], NOW)] == [
        "act-soon", "act-late", "pend-soon", "pend-late", "exp-new", "exp-old",
    ]


# --- retention ------------------------------------------------------------------------


def test_gc_drops_silences_expired_longer_than_retention() -> None:
    keep_active = sil(sid="a")
    keep_recent = sil(sid="b", start=NOW - 200 * HOUR, end=NOW - 119 * HOUR)
    drop_edge = sil(sid="c", start=NOW - 200 * HOUR, end=NOW - DEFAULT_RETENTION)
    drop_old = sil(sid="d", start=NOW - 300 * HOUR, end=NOW - 121 * HOUR)
    every = [keep_active, keep_recent, drop_edge, drop_old]
    assert sorted(gc(every, NOW)) == ["c", "d"]
    assert gc(every, NOW, retention=HOUR) == ["b", "c", "d"]


# --- index ----------------------------------------------------------------------------


def test_index_add_replace_remove() -> None:
    index = SilenceIndex()
    s = sil('alertname="Foo"', sid="s1")
    index.add(s)
    assert index.silenced_by({"alertname": "Foo"}, NOW) == ["s1"]
    index.replace(sil('alertname="Bar"', sid="s1"))
    assert len(index) == 1
    assert index.silenced_by({"alertname": "Foo"}, NOW) == []
    assert index.silenced_by({"alertname": "Bar"}, NOW) == ["s1"]
    removed = index.remove("s1")
    assert removed is not None
    assert removed.id == "s1"
    assert index.remove("s1") is None
    assert index.silenced_by({"alertname": "Bar"}, NOW) == []
    assert "s1" not in index
    assert list(index) == []


def test_index_checks_state_and_unkeyed_silences() -> None:
    index = SilenceIndex([
        sil('alertname="Foo"', sid="active"),
        sil('alertname="Foo"', sid="pending", start=NOW + 1, end=NOW + HOUR),
        sil('alertname="Foo"', sid="expired", start=NOW - HOUR, end=NOW - 1),
        sil('team="", alertname=~"Fo+"', sid="regex"),  # team="" is no index key
        sil('env!="prod"', sid="ne"),
    ])
    assert index.silenced_by({"alertname": "Foo"}, NOW) == ["active", "ne", "regex"]
    assert index.silenced_by({"alertname": "Foo", "team": "x", "env": "prod"}, NOW) == ["active"]
    assert index.silenced_by({"alertname": "Foo"}, NOW + 2) == ["active", "ne", "pending", "regex"]
    got = index.get("ne")
    assert got is not None
    assert got.id == "ne"


def test_index_keys_regex_alternatives_of_literals() -> None:
    index = SilenceIndex([
        sil('instance=~"a:1|b:1"', sid="alts"),
        sil('instance=~"(?i)A:1"', sid="flag"),  # not a plain literal: checked always
        sil('instance=~"a:1|"', sid="empty-alt"),  # matches "" too: not a key
        sil('instance!~"a:1|b:1", alertname="X"', sid="negated"),
    ])
    assert index.silenced_by({"instance": "a:1"}, NOW) == ["alts", "empty-alt", "flag"]
    assert index.silenced_by({"instance": "b:1"}, NOW) == ["alts"]
    assert index.silenced_by({"instance": "a:1|b:1"}, NOW) == []
    assert index.silenced_by({"instance": "c:1", "alertname": "X"}, NOW) == ["negated"]
    index.remove("alts")
    assert index.silenced_by({"instance": "b:1"}, NOW) == []


def _random_silence(rng: random.Random, i: int) -> Silence:
    names = ["alertname", "instance", "job", "env", "team", "severity"]
    parts = []
    for name in rng.sample(names, rng.randint(1, 3)):
        op = rng.choices(["=", "!=", "=~", "!~"], weights=[6, 1, 2, 1])[0]
        value = f"v{rng.randint(0, 9)}"
        if op in ("=~", "!~"):
            value = rng.choice([value, "v[0-4]", "v.*", ".+", "", "v1|v2|v3", "v4|v.*", "v5|"])
        elif rng.random() < 0.05:
            value = ""
        parts.append(f'{name}{op}"{value}"')
    start = NOW + rng.choice([-HOUR, -1.0, 0.0, 1.0, HOUR])
    end = start + rng.choice([1.0, HOUR, 2 * HOUR])
    return sil(", ".join(parts), start=start, end=end, sid=f"s{i:05d}")


def test_index_agrees_with_linear_scan_on_5000_random_silences() -> None:
    rng = random.Random(20240501)
    silences = [_random_silence(rng, i) for i in range(5000)]
    index = SilenceIndex(silences)
    # Replace and remove some, so that buckets change after the initial build.
    for s in rng.sample(silences, 500):
        index.remove(s.id)
    live = {s.id: s for s in silences if s.id in index}
    for i in range(300):
        s = _random_silence(rng, 10_000 + i)
        s = Silence(rng.choice(list(live)), s.matchers, s.starts_at, s.ends_at, s.updated_at,
                    s.created_by, s.comment)
        index.replace(s)
        live[s.id] = s
    assert len(index) == len(live)
    hits = 0
    for _ in range(400):
        labels = {n: f"v{rng.randint(0, 9)}" for n in
                  rng.sample(["alertname", "instance", "job", "env", "team", "severity", "x"],
                             rng.randint(1, 6))}
        now = NOW + rng.choice([-1.0, 0.0, 0.5, 1.0, HOUR])
        expected = sorted(s.id for s in live.values() if s.mutes(labels, now))
        assert index.silenced_by(labels, now) == expected
        hits += bool(expected)
    assert hits > 100  # the data exercises matches, not only misses


@pytest.mark.parametrize("op", ["=~", "!~"])
def test_stored_silence_with_a_regex_re2_refuses_loads_and_mutes_nothing(
    op: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Stored before regexes were RE2 (Python's re accepted `(?=a)a+`): start-up must not
    # fail, and the silence must not mute (an `!~` that matched everything would).
    s = sil('alertname="Foo"', sid="old")
    record = silence_to_record(s)
    record["matchers"].append({"name": "instance", "op": op, "value": "(?=a)a+"})
    loaded = silence_from_record(record)
    assert [m.value for m in loaded.matchers] == ["Foo", "(?=a)a+"]
    for instance in ("a", "b", ""):
        assert not loaded.matches({"alertname": "Foo", "instance": instance})
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.__dict__["silence"] == "old"
    assert "invalid or unsupported Perl syntax" in warning.__dict__["error"]
