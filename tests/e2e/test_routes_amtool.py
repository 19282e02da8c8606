"""`alert-router routes test/show` against the real `amtool config routes` (Debian's 0.25).

One config with matcher edge cases (empty unquoted values, spaces, backslashes, match_re's
anchored form, continue) and a table of label arguments, including malformed ones amtool
refuses. For each, both tools run on the same file: the exit code, the receivers, the
`--tree` drawing and the refusal text must be identical; `routes show` must print the same
tree. Skips without amtool, fails in CI (ALERT_ROUTER_REQUIRE_ALERTMANAGER).
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
pytestmark = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")

CONFIG = r"""
route:
  receiver: default
  routes:
    - receiver: empty
      matchers: ['foo=']
      continue: true
    - receiver: spaced
      matchers: ['foo=bar baz']
    - receiver: slash
      matchers: ['path="a\\b"', 'kind!~"x|y"']
    - receiver: team-x
      matchers: [team="x"]
      continue: true
      routes:
        - receiver: svc
          match_re: {svc: "a|b"}
        - receiver: notprod
          matchers: ['env!~"prod|stag.*"']
    - receiver: quoted
      matchers: ['q="a\"b"', 'r=~""']
    - receiver: prod
      match: {env: prod}
receivers:
  - name: default
  - name: empty
  - name: spaced
  - name: slash
  - name: team-x
  - name: svc
  - name: notprod
  - name: quoted
  - name: prod
"""

# Each case: the label arguments, as a shell would pass them.
CASES: list[list[str]] = [
    [],
    ["foo="],
    ["foo=x"],
    ["foo=bar baz"],
    ["foo=bar", "baz=1"],
    ["path=a\\b"],
    ['path="a\\\\b"'],
    ['path="a\\b"'],
    ["path=a\\b", "kind=x"],
    ["team=x"],
    ["team=x", "svc=a"],
    ["team=x", "svc=ab"],
    ["team=x", "env=prod"],
    ["team=x", "env=staging", "svc=b"],
    ["team=x,svc=a"],
    [" team = x "],
    ['team="x"'],
    ["team=x", "team=y"],
    ['q=a"b'],
    ['q="a\\"b"'],
    ["env=prod"],
    ["env=prod", "foo="],
    # Refused by amtool: never read as something else.
    ['{team="x"}'],
    ["team!=x"],
    ["team=~x"],
    ["team!~x"],
    ["team"],
    ["1a=b"],
    ["=x"],
    ['team="x'],
    ["team=x", "bad label=1"],
]


def _ours(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _amtool(args: list[str]) -> tuple[int, str, str]:
    assert AMTOOL is not None
    done = subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=30,
                          check=False)
    # amtool warns that --config.file overrides --alertmanager.url; not part of the answer.
    err = "".join(line for line in done.stderr.splitlines(keepends=True)
                  if not line.startswith("Warning: --config.file"))
    return done.returncode, done.stdout, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.mark.parametrize("labels", CASES, ids=[" ".join(c) or "none" for c in CASES])
def test_routes_test_answers_as_amtool(
    labels: list[str], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = _amtool(["config", "routes", "test", f"--config.file={config}", "--tree",
                      *labels])
    ours = _ours(capsys, ["routes", "test", "--config.file", str(config), "--tree", *labels])
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] != 0:
        # amtool: `amtool: error: Failed to parse labels: <why>` (kingpin's prefix).
        assert theirs[2].strip() == f"amtool: error: {ours[2].strip()}"
        assert ours[1] == ""
        return
    # Ours adds one detail line per matched route after amtool's output.
    receivers = theirs[1].splitlines()[-1]
    assert ours[1].startswith(theirs[1]), (ours[1], theirs[1])
    assert ours[1][len(theirs[1]):].count("\n") == len(receivers.split(","))


@pytest.mark.parametrize("labels", [["team=x"], ["team=x", "svc=a"], ["env=prod"]])
@pytest.mark.parametrize("expected", ["team-x", "team-x,prod", "svc", ""])
def test_verify_receivers_exits_as_amtool(
    labels: list[str], expected: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = [f"--verify.receivers={expected}"] if expected else []
    theirs = _amtool(["config", "routes", "test", f"--config.file={config}", *flag, *labels])
    ours = _ours(capsys, ["routes", "test", "--config.file", str(config), *flag, *labels])
    assert ours[0] == theirs[0]
    lines = theirs[1].splitlines()
    assert ours[1].splitlines()[0] == lines[0]
    assert ("WARNING: Expected receivers did not match resolved receivers." in ours[1]) == (
        len(lines) > 1)


def test_routes_show_draws_the_same_tree(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = _amtool(["config", "routes", "show", f"--config.file={config}"])
    ours = _ours(capsys, ["routes", "show", "--config.file", str(config)])
    assert theirs[0] == 0, theirs
    assert ours == theirs
