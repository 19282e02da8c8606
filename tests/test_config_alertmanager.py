"""Alertmanager's own config fixtures (tests/data/alertmanager, from its v0.25.0 source):
every good file loads, every bad one is refused, with Alertmanager's reason where we check
the same thing. Integrations alert-router has no channel for yet are one explicit,
printed exception set: it must shrink as channels are added.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from router.config.load import check_report, load_config
from router.config.receivers import UNSUPPORTED
from router.config.types import SlackConfig
from router.errors import ConfigError

DATA = Path(__file__).resolve().parent / "data" / "alertmanager"
TESTDATA = DATA / "testdata"

# `amtool check-config` 0.25 accepts these ...
GOOD = (
    "conf.empty-fields.yml", "conf.good.yml", "conf.group-by-all.yml",
    "conf.http-config.good.yml", "conf.opsgenie-default-apikey-file.yml",
    "conf.opsgenie-default-apikey.yml", "conf.slack-default-api-url-file.yml",
    "conf.smtp-no-username-or-password.yml", "conf.smtp-password-global-and-local.yml",
    "conf.sns-topic-arn.yml", "conf.victorops-default-apikey-file.yml",
    "conf.victorops-default-apikey.yml",
)
# ... and refuses these, for this reason (None: only an integration we lack refuses it).
BAD = {
    "conf.nil-match_re-route.yml": 'invalid regexp value for "invalid_label"',
    "conf.nil-source_match_re-inhibition.yml":
        'invalid regexp value for "invalid_source_label"',
    "conf.nil-target_match_re-inhibition.yml":
        'invalid regexp value for "invalid_target_label"',
    "conf.opsgenie-both-file-and-apikey.yml":
        "at most one of opsgenie_api_key & opsgenie_api_key_file must be configured",
    "conf.slack-both-file-and-url.yml":
        "at most one of slack_api_url & slack_api_url_file must be configured",
    "conf.slack-no-api-url.yml": "no global Slack API URL set either inline or in a file",
    "conf.smtp-both-password-and-file.yml":
        "at most one of smtp_auth_password & smtp_auth_password_file must be configured",
    "conf.victorops-both-file-and-apikey.yml":
        "at most one of victorops_api_key & victorops_api_key_file must be configured",
    # Alertmanager stops at the unknown `teams` key first; the file also routes to a
    # receiver it never defines.
    "conf.opsgenie-default-apikey-old-team.yml": 'unknown receiver "escalation-Y-opsgenie"',
    "conf.opsgenie-no-apikey.yml":
        "no global OpsGenie API Key set either inline or in a file",
    "conf.sns-invalid.yml":
        "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
    "conf.victorops-no-apikey.yml": "no global VictorOps API Key set",
}
# The known exception set: Alertmanager integrations these fixtures use that have no
# channel here yet. Remove a name when its channel lands; the test below fails until then.
KNOWN_MISSING: set[str] = set()
_MISSING = re.compile(r"Alertmanager's (\w+) integration is not supported yet")


def _missing_kinds(exc: ConfigError) -> set[str]:
    """The integrations named by the problems; fails on any other problem."""
    kinds: set[str] = set()
    for problem in exc.problems:
        found = _MISSING.search(problem.message)
        assert found is not None, f"not an unsupported-integration problem: {problem}"
        kinds.add(found.group(1))
    return kinds


def test_fixture_lists_cover_every_file() -> None:
    assert sorted(p.name for p in TESTDATA.glob("*.yml")) == sorted([*GOOD, *BAD])
    assert set(UNSUPPORTED) >= KNOWN_MISSING


def test_every_good_file_loads_except_known_missing_integrations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: set[str] = set()
    for name in GOOD:
        try:
            load_config(TESTDATA / name, lenient_files=True)
        except ConfigError as exc:
            kinds = _missing_kinds(exc)
            seen |= kinds
            with capsys.disabled():
                print(f"\n{name}: loads but for {sorted(kinds)} (not supported yet)")
    assert seen == KNOWN_MISSING, f"known missing integrations now {sorted(seen)}"


@pytest.mark.parametrize("name", GOOD)
def test_good_file_without_missing_integrations_loads_clean(name: str, tmp_path: Path) -> None:
    data = yaml.safe_load((TESTDATA / name).read_text(encoding="utf-8"))
    for receiver in data.get("receivers") or []:
        for kind in UNSUPPORTED:
            receiver.pop(f"{kind}_configs", None)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    problems, _warnings = check_report([str(path)])
    assert problems == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_bad_file_is_refused(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(TESTDATA / name, lenient_files=True)
    reason = BAD[name]
    if reason is None:
        assert _missing_kinds(info.value) <= KNOWN_MISSING
    else:
        assert any(reason in p.message for p in info.value.problems), info.value


def test_missing_secret_files_warn_at_check_config_and_fail_at_serve() -> None:
    path = str(TESTDATA / "conf.slack-default-api-url-file.yml")
    problems, warnings = check_report([path])
    assert problems == []
    assert [w.split(": ", 2)[1:] for w in warnings] == [
        ["global.slack_api_url_file",
         "warning: file not found: /global_file (it must exist where alert-router serves)"],
        ["receivers[0].slack_configs[1].api_url_file",
         "warning: file not found: /override_file (it must exist where alert-router serves)"],
    ]
    with pytest.raises(ConfigError, match="file not found: /global_file"):
        load_config(path)


def test_global_settings_are_inherited_as_alertmanager_does() -> None:
    config = load_config(TESTDATA / "conf.slack-default-api-url-file.yml", lenient_files=True)
    first, second, third = config.receivers["slack-notifications"].configs(SlackConfig)
    urls = [c.api_url for c in (first, second, third)]
    assert [u.file if u else None for u in urls] == ["/global_file", "/override_file", None]
    assert third.api_url is not None
    assert third.api_url.reveal() == "http://mysecret.example.com/"
    config = load_config(TESTDATA / "conf.http-config.good.yml")
    assert config.global_.http_config.follow_redirects is False
    (slack,) = config.receivers["team-X-slack"].configs(SlackConfig)
    # An entry's own http_config replaces the global one whole, as in Alertmanager.
    assert slack.http_config.follow_redirects is True
    assert slack.http_config.proxy_url is not None
    assert slack.http_config.proxy_url.reveal() == "foo"


def test_documented_example_config_loads() -> None:
    config = load_config(DATA / "simple.yml")
    assert config.route.receiver == "team-X-mails"
    assert sorted(config.receivers) == ["team-DB-pager", "team-X-mails", "team-X-pager",
                                        "team-Y-mails", "team-Y-pager"]


@pytest.mark.parametrize("name", [*GOOD, *sorted(BAD), "../simple.yml"])
def test_verdicts_are_amtools(name: str) -> None:
    """The GOOD / BAD lists are what the real amtool 0.25 says (skipped without it)."""
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
            pytest.fail("amtool not on PATH; ALERT_ROUTER_REQUIRE_ALERTMANAGER is set")
        pytest.skip("amtool not on PATH (apt-get install prometheus-alertmanager)")
    result = subprocess.run([amtool, "check-config", str(TESTDATA / name)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode == 0) == (name not in BAD), result.stdout + result.stderr


def test_check_config_prints_warnings_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli import main

    path = TESTDATA / "conf.smtp-password-global-and-local.yml"
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 file(s) valid"
    assert [line.split(": ", 2)[2] for line in out[:-1]] == [
        "warning: file not found: /tmp/globaluserpassword (it must exist where alert-router "
        "serves)",
        "warning: file not found: /tmp/localuser1password (it must exist where alert-router "
        "serves)",
    ]


@pytest.mark.usefixtures("restore_logging")  # serve sets the process's logging up
def test_serve_refuses_a_missing_secret_file(capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli import main

    path = TESTDATA / "conf.smtp-password-global-and-local.yml"
    assert main(["serve", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "global.smtp_auth_password_file: file not found: /tmp/globaluserpassword" in err
    assert "warning" not in err
