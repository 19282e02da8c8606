"""Inhibit rules: Alertmanager's inhibition scenarios against the indexed `Inhibitor`, the
YAML parser (deprecated forms, null rules, errors with positions) and index upkeep.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

import pytest

from router.config.fields import FieldReader
from router.config.inhibit_rules import parse_inhibit_rules
from router.config.types import InhibitRule
from router.config.yaml_source import Source
from router.matchers import Matcher, MatchOp, parse_matchers
from router.model import Alert, make_alert
from router.noise.inhibition import Inhibitor, find_inhibitor

T0 = 1_750_000_000.0


def alert(ends_at: float | None = None, **labels: str) -> Alert:
    return make_alert(labels, {}, T0, ends_at, "", T0)


def rule(source: str, target: str, *equal: str) -> InhibitRule:
    return InhibitRule(tuple(parse_matchers(source)), tuple(parse_matchers(target)), tuple(equal))


def parse(text: str) -> tuple[list[InhibitRule], list[str]]:
    """Parse an `inhibit_rules:` document; problems as `line:col: path: message`."""
    src = Source("t.yml")
    root = src.compose(text)
    assert root is not None
    items = root.get_list("inhibit_rules") or []
    rules = parse_inhibit_rules(FieldReader(src, Path()), items)
    return rules, [f"{p.line}:{p.col}: {p.path}: {p.message}" for p in src.sorted_problems()]


# -- Alertmanager's scenarios -----------------------------------------------------------


def test_inhibiting_job_down_mutes_instance_down_in_the_same_zone() -> None:
    """TestInhibiting: equal [job, zone]; zone aa muted, ab not; back once JobDown resolves."""
    rules = [rule('alertname="JobDown"', 'alertname="InstanceDown"', "job", "zone")]
    aa = alert(alertname="InstanceDown", job="x", zone="aa")
    ab = alert(alertname="InstanceDown", job="x", zone="ab")
    inhibitor = Inhibitor(rules, [aa, ab])
    assert inhibitor.inhibited_by(aa, T0) is None

    job_down = alert(alertname="JobDown", job="x", zone="aa")
    inhibitor.observe(job_down)
    assert inhibitor.inhibited_by(aa, T0 + 1) == job_down.fingerprint
    assert inhibitor.inhibited_by(ab, T0 + 1) is None
    assert find_inhibitor(rules, aa, [aa, ab, job_down], T0 + 1) == job_down.fingerprint

    # The source is resolved by a new event…
    inhibitor.observe(alert(T0 + 2, alertname="JobDown", job="x", zone="aa"))
    assert inhibitor.inhibited_by(aa, T0 + 1.5) == job_down.fingerprint
    assert inhibitor.inhibited_by(aa, T0 + 2) is None


def test_inhibition_lifts_when_ends_at_passes_without_an_event() -> None:
    rules = [rule('alertname="JobDown"', 'alertname="InstanceDown"', "job")]
    target = alert(alertname="InstanceDown", job="x")
    source = alert(T0 + 60, alertname="JobDown", job="x")  # e.g. from resolve_timeout
    inhibitor = Inhibitor(rules, [target, source])
    assert inhibitor.inhibited_by(target, T0 + 59.9) == source.fingerprint
    assert inhibitor.inhibited_by(target, T0 + 60) is None


def test_always_inhibiting_source_and_target_resolve_together() -> None:
    """TestAlwaysInhibiting: once both resolve, the target is no longer inhibited, so the
    final notification can carry both resolved alerts."""
    rules = [rule('alertname="JobDown"', 'alertname="InstanceDown"', "job", "zone")]
    target = alert(alertname="InstanceDown", job="x", zone="aa")
    source = alert(alertname="JobDown", job="x", zone="aa")
    inhibitor = Inhibitor(rules, [target, source])
    assert inhibitor.inhibited_by(target, T0 + 1) == source.fingerprint

    resolved_target = alert(T0 + 5, alertname="InstanceDown", job="x", zone="aa")
    inhibitor.observe(resolved_target)
    inhibitor.observe(alert(T0 + 5, alertname="JobDown", job="x", zone="aa"))
    assert inhibitor.inhibited_by(resolved_target, T0 + 4) == source.fingerprint
    assert inhibitor.inhibited_by(resolved_target, T0 + 5) is None


def test_self_inhibition_guard() -> None:
    rules = [rule('alertname="Down"', 'severity="warning"', "cluster")]
    # Matches both sides: a source only when the target matches the target side alone.
    both = alert(alertname="Down", severity="warning", cluster="c")
    other_both = alert(alertname="Down", severity="warning", cluster="c", instance="2")
    pure_target = alert(alertname="Other", severity="warning", cluster="c")
    inhibitor = Inhibitor(rules, [both, other_both, pure_target])
    # Never by itself nor by another two-sided alert…
    assert inhibitor.inhibited_by(both, T0) is None
    # …but a two-sided alert still mutes a target that is not a source.
    assert inhibitor.inhibited_by(pure_target, T0) in {both.fingerprint, other_both.fingerprint}

    source_only = alert(alertname="Down", severity="critical", cluster="c")
    inhibitor.observe(source_only)
    assert inhibitor.inhibited_by(both, T0) == source_only.fingerprint
    all_alerts = [both, other_both, pure_target, source_only]
    assert find_inhibitor(rules, both, all_alerts, T0) == source_only.fingerprint


def test_missing_equal_label_reads_as_empty() -> None:
    rules = [rule('alertname="Src"', 'alertname="Dst"', "zone")]
    source = alert(alertname="Src")
    inhibitor = Inhibitor(rules, [source])
    assert inhibitor.inhibited_by(alert(alertname="Dst"), T0) == source.fingerprint
    assert inhibitor.inhibited_by(alert(alertname="Dst", zone=""), T0) == source.fingerprint
    assert inhibitor.inhibited_by(alert(alertname="Dst", zone="a"), T0) is None


def test_empty_equal_mutes_every_target() -> None:
    inhibitor = Inhibitor([rule('alertname="Src"', 'severity="info"')])
    target = alert(alertname="Dst", severity="info", zone="z")
    assert inhibitor.inhibited_by(target, T0) is None
    source = alert(alertname="Src", zone="other")
    inhibitor.observe(source)
    assert inhibitor.inhibited_by(target, T0) == source.fingerprint


def test_firing_source_wins_over_a_resolved_one_with_the_same_equal_values() -> None:
    rules = [rule('alertname="Src"', 'alertname="Dst"', "job")]
    resolved = alert(T0 - 10, alertname="Src", job="x", instance="1")
    short = alert(T0 + 30, alertname="Src", job="x", instance="2")
    forever = alert(alertname="Src", job="x", instance="3")
    target = alert(alertname="Dst", job="x")
    inhibitor = Inhibitor(rules, [resolved, short])
    assert inhibitor.inhibited_by(target, T0) == short.fingerprint
    inhibitor.observe(forever)
    # The source firing longest is reported (Alertmanager keeps the latest endsAt).
    assert inhibitor.inhibited_by(target, T0) == forever.fingerprint
    inhibitor.forget(forever.fingerprint)
    assert inhibitor.inhibited_by(target, T0 + 30) is None


def test_rules_are_tried_in_order() -> None:
    rules = [
        rule('alertname="A"', 'severity="warning"', "job"),
        rule('alertname="B"', 'severity="warning"'),
    ]
    a = alert(alertname="A", job="other")
    b = alert(alertname="B")
    target = alert(alertname="T", severity="warning", job="x")
    inhibitor = Inhibitor(rules, [a, b])
    assert inhibitor.inhibited_by(target, T0) == b.fingerprint
    a_same_job = alert(alertname="A", job="x")
    inhibitor.observe(a_same_job)
    assert inhibitor.inhibited_by(target, T0) == a_same_job.fingerprint


def test_forget_and_rebuild() -> None:
    rules = [rule('alertname="Src"', 'alertname="Dst"', "job")]
    source = alert(alertname="Src", job="x")
    target = alert(alertname="Dst", job="x")
    inhibitor = Inhibitor(rules, [source, target])
    assert len(inhibitor) == 1  # only the source is indexed
    inhibitor.forget(source.fingerprint)
    inhibitor.forget(source.fingerprint)  # forgetting twice is harmless
    assert inhibitor.inhibited_by(target, T0) is None
    assert len(inhibitor) == 0
    inhibitor.rebuild([source])
    assert inhibitor.inhibited_by(target, T0) == source.fingerprint
    inhibitor.rebuild([])
    assert inhibitor.inhibited_by(target, T0) is None


def test_no_rules() -> None:
    inhibitor = Inhibitor([], [alert(alertname="x")])
    assert inhibitor.inhibited_by(alert(alertname="y"), T0) is None


# -- the index ------------------------------------------------------------------------


@pytest.fixture
def matcher_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every `Matcher.matches` evaluation."""
    calls = [0]
    original = Matcher.matches

    def counting(self: Matcher, labels: Mapping[str, str]) -> bool:
        calls[0] += 1
        return original(self, labels)

    monkeypatch.setattr(Matcher, "matches", counting)
    return calls


def test_lookups_do_not_scan_the_sources(matcher_calls: list[int]) -> None:
    rules = [
        rule('alertname="NodeDown"', 'alertname=~"Disk.*|CPU"', "cluster", "node"),
        rule('severity="critical"', 'severity="warning"', "cluster"),
    ]
    sources = [
        alert(alertname="NodeDown", cluster=f"c{i % 100}", node=f"n{i}", severity="critical")
        for i in range(10_000)
    ]
    inhibitor = Inhibitor(rules, sources)
    assert len(inhibitor) == 10_000

    matcher_calls[0] = 0
    target = alert(alertname="DiskFull", cluster="c42", node="n4242", severity="warning")
    assert inhibitor.inhibited_by(target, T0) == sources[4242].fingerprint
    missed = alert(alertname="CPU", cluster="c7", node="nowhere", severity="info")
    assert inhibitor.inhibited_by(missed, T0) is None
    # Each lookup evaluates only the rules' own matchers on the target (at most 4 per rule).
    assert matcher_calls[0] <= 2 * 2 * len(rules)

    # Refreshing a known alert (new ends_at, same labels) re-uses its buckets.
    matcher_calls[0] = 0
    ended = make_alert(sources[4242].labels, {}, T0, T0 + 1, "", T0)
    inhibitor.observe(ended)
    assert matcher_calls[0] == 0
    assert inhibitor.inhibited_by(target, T0 + 1) is not None  # still c42 via rule 2
    assert find_inhibitor(rules[:1], target, [*sources[:4242], ended], T0 + 1) is None
    assert Inhibitor(rules[:1], [*sources[:4242], ended]).inhibited_by(target, T0 + 1) is None


def test_index_agrees_with_the_reference_scan() -> None:
    rng = random.Random(7)
    rules = [
        rule('alertname="Src"', 'alertname=~"Dst|Src"', "job", "zone"),
        rule('severity="critical"', 'severity!="critical"', "zone"),
        rule('team=~"a|b"', 'team="a"'),
    ]

    def random_alert() -> Alert:
        labels = {
            "alertname": rng.choice(["Src", "Dst", "Other"]),
            "job": rng.choice(["j1", "j2"]),
            "severity": rng.choice(["critical", "warning"]),
            "team": rng.choice(["a", "b", "c"]),
            "instance": str(rng.randrange(50)),
        }
        zone = rng.choice(["z1", "z2", None])
        if zone is not None:
            labels["zone"] = zone
        ends = rng.choice([None, T0 + rng.randrange(100)])
        return make_alert(labels, {}, T0, ends, "", T0)

    held: dict[str, Alert] = {}
    inhibitor = Inhibitor(rules)
    for _ in range(400):
        a = random_alert()
        held[a.fingerprint] = a
        inhibitor.observe(a)
        if rng.random() < 0.1:
            gone = rng.choice(list(held))
            del held[gone]
            inhibitor.forget(gone)
    for now in (T0, T0 + 30, T0 + 99, T0 + 200):
        for target in list(held.values())[:150]:
            want = find_inhibitor(rules, target, held.values(), now)
            assert inhibitor.inhibited_by(target, now) == want


# -- parsing --------------------------------------------------------------------------


def test_parse_full_rule() -> None:
    rules, problems = parse(
        """
inhibit_rules:
  - name: node-down
    source_matchers: ['alertname="NodeDown"', '{severity="critical", env=~"prod|stage"}']
    target_matchers: [severity=warning]
    equal: [cluster, node]
"""
    )
    assert problems == []
    assert rules == [
        InhibitRule(
            source_matchers=(
                Matcher("alertname", MatchOp.EQ, "NodeDown"),
                Matcher("severity", MatchOp.EQ, "critical"),
                Matcher("env", MatchOp.RE, "prod|stage"),
            ),
            target_matchers=(Matcher("severity", MatchOp.EQ, "warning"),),
            equal=("cluster", "node"),
            name="node-down",
        )
    ]


def test_parse_deprecated_maps_are_merged() -> None:
    rules, problems = parse(
        """
inhibit_rules:
  - source_match: {alertname: JobDown}
    source_match_re: {severity: 'critical|page'}
    source_matchers: ['env="prod"']
    target_match: {alertname: InstanceDown}
    target_match_re: {team: 'a.*'}
    equal: [job]
"""
    )
    assert problems == []
    (r,) = rules
    assert set(r.source_matchers) == {
        Matcher("alertname", MatchOp.EQ, "JobDown"),
        Matcher("severity", MatchOp.RE, "critical|page"),
        Matcher("env", MatchOp.EQ, "prod"),
    }
    assert set(r.target_matchers) == {
        Matcher("alertname", MatchOp.EQ, "InstanceDown"),
        Matcher("team", MatchOp.RE, "a.*"),
    }
    assert r.name is None
    source = alert(alertname="JobDown", severity="page", env="prod", job="j")
    inhibitor = Inhibitor(rules, [source])
    target = alert(alertname="InstanceDown", team="alpha", job="j")
    assert inhibitor.inhibited_by(target, T0) == source.fingerprint
    # The regex is anchored: "xalpha" does not match `a.*`.
    assert inhibitor.inhibited_by(alert(alertname="InstanceDown", team="xa", job="j"), T0) is None


def test_null_rule_is_ignored() -> None:
    """TestEmptyInhibitionRule: `inhibit_rules: [ null ]` must not crash."""
    rules, problems = parse("inhibit_rules: [ null ]\n")
    assert rules == []
    assert problems == []
    assert Inhibitor(rules, [alert(alertname="x")]).inhibited_by(alert(alertname="y"), T0) is None


def test_rule_without_matchers_matches_everything() -> None:
    rules, problems = parse("inhibit_rules:\n  - equal: [cluster]\n")
    assert problems == []
    assert rules == [InhibitRule((), (), ("cluster",))]


@pytest.mark.parametrize(
    ("rule_yaml", "expected"),
    [
        (
            "{source_matchers: ['alertname=\"x'], equal: [a]}",
            "2:25: inhibit_rules[0].source_matchers[0]: "
            "invalid matcher 'alertname=\"x': matcher value contains unescaped double quote: "
            '"x',
        ),
        (
            "{target_matchers: ['a=~\"(\"']}",
            "2:28: inhibit_rules[0].target_matchers[0]: "
            'invalid matcher \'a=~"("\': invalid regular expression "(": '
            "missing closing ): `^(?:()$`",
        ),
        (
            "{source_match: {bad-name: x}}",
            '2:21: inhibit_rules[0].source_match.bad-name: invalid label name "bad-name"',
        ),
        (
            "{target_match_re: {team: '('}}",
            "2:30: inhibit_rules[0].target_match_re.team: invalid target_match_re value '(': "
            'invalid regular expression "(": missing closing ): `^(?:()$`',
        ),
        (
            "{equal: [job, '']}",
            '2:19: inhibit_rules[0].equal[1]: invalid label name "" in equal list',
        ),
        (
            "{equals: [job]}",
            '2:6: inhibit_rules[0].equals: unknown key "equals" (did you mean "equal"?)',
        ),
        ("{equal: job}", '2:13: inhibit_rules[0].equal: expected a list, got "job"'),
        ("just-a-string", '2:5: inhibit_rules[0]: expected a map, got "just-a-string"'),
    ],
)
def test_parse_problems(rule_yaml: str, expected: str) -> None:
    _, problems = parse(f"inhibit_rules:\n  - {rule_yaml}\n")
    assert problems == [expected]


def test_parse_reports_every_problem_and_keeps_good_rules() -> None:
    rules, problems = parse(
        """
inhibit_rules:
  - null
  - source_matchers: ['a="1"']
    target_matchers: ['b="2"']
  - source_matchers: ['a="']
    target_matcher: ['b="2"']
"""
    )
    assert len(rules) == 2
    assert rules[0].source_matchers == (Matcher("a", MatchOp.EQ, "1"),)
    assert problems == [
        "6:24: inhibit_rules[2].source_matchers[0]: "
        'invalid matcher \'a="\': matcher value contains unescaped double quote: "',
        '7:5: inhibit_rules[2].target_matcher: unknown key "target_matcher"'
        ' (did you mean "target_matchers"?)',
    ]
