"""Regex matchers give Alertmanager's verdicts: one table, checked against the real amtool.

Each case is a route matcher `foo=~"<pattern>"` and a value for `foo`. The same config
file goes through our `alert-router routes test` and through Debian's amtool 0.25
(`amtool config routes test --config.file ... foo=<value>`): the receiver each names, or
the refusal of the config with Go's regexp error text, must be the same. The table also
records the expected verdict, so our side runs even where amtool is not installed; the
amtool side skips with the reason then (and fails in CI, where
ALERT_ROUTER_REQUIRE_ALERTMANAGER is set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from router.cli import main

AMTOOL = shutil.which("amtool")
if AMTOOL is None and os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
    raise RuntimeError("amtool is required in CI (apt-get install prometheus-alertmanager)")

HIT, MISS = "hit", "miss"

# (pattern, value, verdict): verdict is the receiver ("hit"/"miss"), or for a pattern
# Alertmanager refuses, Go's error text as amtool prints it after "error parsing regexp: ".
CASES: list[tuple[str, str, str]] = [
    # Ordinary patterns.
    ("web-.*", "web-1", HIT),
    ("web-.*", "db-1", MISS),
    ("prod|staging", "staging", HIT),
    ("prod", "production", MISS),  # anchored: the whole value must match
    ("(?i)prod", "PROD", HIT),
    ("[[:digit:]]+", "123", HIT),
    (r"\d", "٣", MISS),  # \d is ASCII-only
    # `a{,2}` is a literal in Go (Python's re reads it as a repetition).
    ("a{,2}", "aa", MISS),
    ("a{,2}", "a{,2}", HIT),
    # Valid for Alertmanager (Python's re refused these).
    (r"\pL", "x", HIT),
    (r"\pL", "1", MISS),
    (r"\p{Greek}", "α", HIT),
    (r"\p{Greek}", "a", MISS),
    (r"\Q.*\E", ".*", HIT),
    (r"\Q.*\E", "ab", MISS),
    (r"\x{41}", "A", HIT),
    ("(?U)a+", "aa", HIT),
    ("[[:^alpha:]]", "1", HIT),
    ("[[:^alpha:]]", "a", MISS),
    ("(?P<n>a)", "a", HIT),
    (r"a\z", "a", HIT),
    # Refused by Alertmanager (Python's re accepted these).
    ("a++", "aa", "invalid nested repetition operator: `++`"),
    (r"(a)\1", "aa", "invalid escape sequence: `\\1`"),
    ("(?=a)", "a", "invalid or unsupported Perl syntax: `(?=`"),
    ("(?<!a)b", "b", "invalid or unsupported Perl syntax: `(?<`"),
    ("(?P=n)", "a", "invalid or unsupported Perl syntax: `(?P`"),
    ("a{1001}", "a", "invalid repeat count: `{1001}`"),
    ("(a{1000}){1000}", "a", "invalid repeat count: `{1000}`"),
    ("a{4294967296}", "a", "invalid repeat count: `{4294967296}`"),  # literal for RE2
    ("a{2,1000000000}", "a", "invalid repeat count: `{2,1000000000}`"),
    ("a{1,01}", "a{1,01}", HIT),  # a leading zero: not a repeat, literal text
    (r"\Q{4294967296}\E", "{4294967296}", HIT),
    ("a{1000}", "a" * 1000, HIT),
    ("a{1000}", "a" * 999, MISS),
    # Accepted by RE2 (C++), refused by Go's regexp in Alertmanager 0.25.
    (r"\C", "a", "invalid escape sequence: `\\C`"),
    ("(?<n>a)", "a", "invalid or unsupported Perl syntax: `(?<`"),
    ("(?P<é>a)", "a", "invalid named capture: `(?P<é>`"),
    # Refused by both, with Go's words.
    ("(", "a", "missing closing ): `^(?:()$`"),
    ("[a", "a", "missing closing ]: `[a)$`"),
    ("x{2}{3}", "xxxxxx", "invalid nested repetition operator: `{2}{3}`"),
    (r"\p{Foo}", "a", "invalid character class range: `\\p{Foo}`"),
    # Catastrophic for a backtracking engine; linear in RE2.
    ("(.*.*.*)*z", "a" * 30, MISS),
    ("(.*.*.*)*z", "a" * 29 + "z", HIT),
]


def _write_config(tmp_path: Path, pattern: str) -> Path:
    escaped = pattern.replace("\\", "\\\\").replace('"', '\\"')
    matcher = f'foo=~"{escaped}"'.replace("'", "''")
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        "route:\n  receiver: miss\n  routes:\n"
        f"    - receiver: hit\n      matchers: ['{matcher}']\n"
        "receivers:\n  - name: miss\n  - name: hit\n",
        encoding="utf-8",
    )
    return path


def _case_id(case: tuple[str, str, str]) -> str:
    pattern, value, _ = case
    return f"{pattern[:24]}~{value[:8]}"


@pytest.mark.parametrize(("pattern", "value", "verdict"), CASES, ids=map(_case_id, CASES))
def test_our_routes_test_gives_alertmanagers_verdict(
    pattern: str, value: str, verdict: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _write_config(tmp_path, pattern)
    code = main(["routes", "test", "--config", str(config), f"foo={value}"])
    out = capsys.readouterr()
    if verdict in (HIT, MISS):
        assert code == 0, out
        assert out.out.splitlines()[0] == verdict  # the receivers, as amtool prints them
    else:
        assert code == 1
        (line,) = (out.out + out.err).strip().splitlines()
        # file:line:col: path: message, ending with Go's error text.
        assert line.startswith(f"{config}:5:"), line
        assert "route.routes[0].matchers[0]" in line
        assert line.endswith(f": {verdict}"), line


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (prometheus-alertmanager)")
@pytest.mark.parametrize(("pattern", "value", "verdict"), CASES, ids=map(_case_id, CASES))
def test_amtool_gives_the_same_verdict(
    pattern: str, value: str, verdict: str, tmp_path: Path
) -> None:
    assert AMTOOL is not None
    config = _write_config(tmp_path, pattern)
    done = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={config}", f"foo={value}"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if verdict in (HIT, MISS):
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [verdict]
    else:
        assert done.returncode != 0
        assert f"error parsing regexp: {verdict}" in done.stderr, done.stderr
