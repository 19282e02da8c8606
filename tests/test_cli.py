"""The command line: check-config, routes test, render (in process) and serve (a real process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import logfmt
import pytest

from router.cli import main

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
FIXTURES = DATA / "fixtures"
BAD = DATA / "config" / "bad"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>[^:]*): .+$")


# --- check-config ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["example.yml", "minimal.yml"])
def test_check_config_accepts_the_shipped_examples(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(REPO / "rules" / name)]) == 0
    out = capsys.readouterr()
    assert out.out == "1 file(s) valid\n"
    assert out.err == ""


def test_check_config_lists_every_problem_as_file_line_col(
    capsys: pytest.CaptureFixture[str]
) -> None:
    files = [BAD / "unknown_key.yml", BAD / "bad_duration.yml", REPO / "rules" / "minimal.yml"]
    assert main(["check-config", *map(str, files)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines
    for line in lines:
        assert PROBLEM_LINE.match(line), line
    for bad in files[:2]:
        # Each bad file starts with `# expect: <line>:<col>: <path>: <message>`.
        expect = bad.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
        assert f"{bad}:{expect}" in lines
    assert not any(line.startswith(str(files[2])) for line in lines)


def test_check_config_on_a_missing_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yml"
    assert main(["check-config", str(missing)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{missing}:1:1: ")
    assert "cannot read config" in line


# --- routes test and render --------------------------------------------------------


@pytest.fixture
def am_config(tmp_path: Path) -> Path:
    """A copy of the captured Alertmanager config (its webhook URLs are never called)."""
    path = tmp_path / "alertmanager.yml"
    shutil.copy(FIXTURES / "alertmanager.yml", path)
    return path


def test_routes_test_prints_the_matching_receivers(
    am_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["routes", "test", "--config", str(am_config),
                 "severity=critical", "alertname=X"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # The critical child matches (continue: true, but no later sibling matches), so the
    # root's `default` is not used: a parent never matches once a child did.
    assert lines[0] == "critical"
    assert 'group: {alertname="X"}' in lines[1]

    assert main(["routes", "test", "--config", str(am_config),
                 "severity=warning", "alertname=DiskFilling", "cluster=prod-us"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "default"
    assert 'group: {alertname="DiskFilling", cluster="prod-us"}' in lines[1]


def test_routes_test_rejects_a_bad_pair(
    am_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["routes", "test", "--config", str(am_config), "severity"]) == 1
    assert capsys.readouterr().err == "Failed to parse labels: bad matcher format: severity\n"
    # amtool's refusals: a braced list or another operator is never read as a label value
    assert main(["routes", "test", "--config", str(am_config), '{severity="x"}']) == 1
    assert "bad matcher format" in capsys.readouterr().err
    assert main(["routes", "test", "--config", str(am_config), "severity!=x"]) == 1
    assert "labels must be specified as key=value pairs" in capsys.readouterr().err


def test_render_prints_each_channel_body_without_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.yml"
    # Port 9 (discard) on loopback: nothing listens; render must not try.
    config.write_text("""
route:
  receiver: critical
receivers:
  - name: critical
    slack_configs:
      - api_url: http://127.0.0.1:9/services/T/B/X
    webhook_configs:
      - url: http://127.0.0.1:9/hook
    log_configs:
      - {}
""", encoding="utf-8")
    payload = FIXTURES / "critical-single-firing.json"
    assert main(["render", "--config", str(config), "--receiver", "critical",
                 "--payload", str(payload), "--raw"]) == 0
    out = capsys.readouterr().out
    bodies = dict(re.findall(r"^--- (\S+) ---\n(.*?)\n(?=--- |\Z)", out, re.M | re.S))
    assert list(bodies) == ["slack[0]", "webhook[0]", "log[0]"]
    slack = json.loads(bodies["slack[0]"])
    assert slack["blocks"][0]["text"]["text"] == "🔥 FIRING: HighErrorRate (1)"
    assert "Checkout 5xx rate above 5%" in bodies["slack[0]"]
    webhook = json.loads(bodies["webhook[0]"])
    assert webhook["receiver"] == "critical"
    assert webhook["status"] == "firing"
    assert [a["fingerprint"] for a in webhook["alerts"]] == ["838fff5931ba958f"]
    log_line = bodies["log[0]"]
    assert log_line.startswith("[FIRING:1] receiver=critical")
    assert "HighErrorRate" in log_line
    assert "\n" not in log_line


def test_render_of_an_unknown_receiver_fails(
    am_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--config", str(am_config), "--receiver", "nobody",
                 "--payload", str(FIXTURES / "critical-single-firing.json")]) == 1
    err = capsys.readouterr().err
    assert "nobody" in err
    assert "critical" in err


def test_render_of_a_bad_config_fails_with_its_problems(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--config", str(BAD / "unknown_key.yml"), "--receiver", "x",
                 "--payload", str(FIXTURES / "critical-single-firing.json")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err
    assert all(PROBLEM_LINE.match(line) for line in err)


# --- serve -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def read_line(stream: asyncio.StreamReader, want: str, seen: list[str]) -> str:
    """The first line containing `want` (a real process: a generous wall-clock bound)."""
    async with asyncio.timeout(20):
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"stream ended before {want!r}; saw: {seen}")
            line = raw.decode()
            seen.append(line)
            if want in line:
                return line


async def test_serve_on_built_in_defaults_logs_alerts_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--listen", listen,
        "--storage", str(tmp_path / "db"),
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    logs: list[str] = []
    try:
        started = logfmt.parse(await read_line(proc.stderr, "listening", logs))
        assert started["listen"] == listen
        assert started["level"] == "info"
        assert "built-in default" in started["config"]
        # Prometheus' timestamps: date, time to the millisecond, zone.
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", started["ts"])

        # Older than the default group_wait (30s): flushes at once.
        starts = (datetime.now(UTC) - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
        alert = [{"labels": {"alertname": "DiskFull", "instance": "db-1"},
                  "annotations": {"summary": "disk is full"}, "startsAt": starts}]
        async with aiohttp.ClientSession() as session:
            resp = await session.post(f"http://{listen}/api/v2/alerts", json=alert)
            assert resp.status == 200
            ready = await session.get(f"http://{listen}/-/ready")
            assert ready.status == 200
        out: list[str] = []
        raw = await read_line(proc.stdout, "DiskFull", out)
        assert out == [raw]  # nothing else on stdout
        assert raw.endswith("\n")
        assert raw.count("\n") == 1
        # The log channel's line is a logfmt record like every other line.
        record = logfmt.parse(raw)
        assert record["logger"] == "router.notifications"
        line = record["msg"]
        assert line.startswith('[FIRING:1] receiver=default group={alertname="DiskFull"} '
                               'reason="first notification" | DiskFull')
        assert 'summary="disk is full"' in line

        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await proc.wait()
        rest = (await proc.stderr.read()).decode()
        assert code == 0, [*logs, rest]
        assert "shutting down" in rest
        assert "Traceback" not in "".join(logs) + rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (tmp_path / "db").exists()
    assert not (tmp_path / "alert-router.db").exists()


# --- render: readable, both payload formats, a closed pipe ------------------------------

READABLE = """
route:
  receiver: team
receivers:
  - name: team
    slack_configs:
      - api_url: http://127.0.0.1:9/services/T/B/X
    email_configs:
      - {to: oncall@example.com, from: ar@example.com, smarthost: "127.0.0.1:9"}
    telegram_configs:
      - {bot_token: "123:abc", chat_id: 42}
    webhook_configs:
      - url: http://127.0.0.1:9/hook
"""


def render_sections(out: str) -> dict[str, str]:
    return dict(re.findall(r"^--- (\S+) ---\n(.*?)\n(?=--- |\Z)", out, re.M | re.S))


def test_render_prints_each_message_as_a_person_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.yml"
    config.write_text(READABLE, encoding="utf-8")
    assert main(["render", "--config", str(config), "--receiver", "team",
                 "--payload", str(FIXTURES / "critical-single-firing.json")]) == 0
    shown = render_sections(capsys.readouterr().out)
    assert list(shown) == ["slack[0]", "webhook[0]", "email[0]", "telegram[0]"]
    slack = shown["slack[0]"].splitlines()
    assert "🔥 FIRING: HighErrorRate (1)" in slack  # decoded, not "\ud83d\udd25"
    assert "Error rate is 6.1% over 5m" in slack
    assert "{" not in shown["slack[0]"].splitlines()[0]
    email = shown["email[0]"]
    assert email.startswith("Subject: [FIRING:1] HighErrorRate")
    assert "To: oncall@example.com" in email
    assert "* Checkout 5xx rate above 5%" in email  # the plain part, decoded
    assert "=20" not in email
    assert "Content-Transfer-Encoding" not in email
    telegram = shown["telegram[0]"]
    assert "Checkout 5xx rate above 5%" in telegram
    assert "<b>" not in telegram
    assert "&lt;" not in telegram
    # What a program reads stays JSON, indented, characters decoded.
    assert json.loads(shown["webhook[0]"])["receiver"] == "team"
    assert '\n  "receiver": "team",' in shown["webhook[0]"]


def test_render_takes_the_api_v2_alert_list_prometheus_posts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.yml"
    config.write_text(READABLE, encoding="utf-8")
    payload = tmp_path / "alerts.json"
    payload.write_text(json.dumps([{"labels": {"alertname": "DiskFull", "instance": "db-1"},
                                    "annotations": {"summary": "disk is full"}}]),
                       encoding="utf-8")
    assert main(["render", "--config", str(config), "--receiver", "team",
                 "--payload", str(payload)]) == 0
    shown = render_sections(capsys.readouterr().out)
    assert any("disk is full" in line for line in shown["slack[0]"].splitlines())
    hook = json.loads(shown["webhook[0]"])
    assert hook["commonLabels"] == {"alertname": "DiskFull", "instance": "db-1"}

    payload.write_text('[{"labels": {"alertname": 3}}]', encoding="utf-8")
    assert main(["render", "--config", str(config), "--receiver", "team",
                 "--payload", str(payload)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{payload}: [0].labels.alertname: ")


def test_render_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    config = tmp_path / "router.yml"
    config.write_text("route: {receiver: hook}\nreceivers:\n  - name: hook\n"
                      "    webhook_configs: [{url: 'http://127.0.0.1:9/h'}]\n",
                      encoding="utf-8")
    payload = tmp_path / "alerts.json"  # enough text to overflow the pipe's buffer
    payload.write_text(json.dumps([{"labels": {"alertname": "A", "n": str(i)}}
                                   for i in range(3000)]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-m", "router", "render", "--config", str(config),
                           "--receiver", "hook", "--payload", str(payload)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline() == b"--- webhook[0] ---\n"
        proc.stdout.close()  # as `| head -1` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=30)
    assert err == ""
    assert code == 141


def test_serve_flags_win_over_the_config_file(tmp_path: Path) -> None:
    from router.cli import build_parser, serve_overrides
    from router.config.load import load_config
    from router.service import apply_overrides

    config = tmp_path / "router.yml"
    config.write_text("route: {receiver: d}\nreceivers: [{name: d}]\nserver:\n"
                      "  listen: 127.0.0.1:1\n  external_url: http://from-file\n",
                      encoding="utf-8")
    args = build_parser().parse_args([
        "serve", "--config.file", str(config), "--web.listen-address=:9095",
        "--web.external-url=https://alerts.example.com/router/",
        f"--storage.path={tmp_path}"])
    cfg = apply_overrides(load_config(args.config), serve_overrides(args))
    assert cfg.server.listen == ":9095"
    assert cfg.server.external_url == "https://alerts.example.com/router"
    assert cfg.storage.path == str(tmp_path / "alert-router.db")  # a directory: the file in it


# --- the local URL explain and healthcheck call ------------------------------------------


ROUTE = "route:\n  receiver: x\nreceivers:\n  - name: x\n"


def test_explain_and_healthcheck_reach_a_wildcard_listen_address_on_this_host() -> None:
    from router.cli_tools import _local_url, _Router
    from router.config.load import load_config_text

    assert _local_url(":9095", "http") == "http://127.0.0.1:9095"
    assert _local_url("0.0.0.0:9095", "https") == "https://127.0.0.1:9095"
    assert _local_url("[::]:9095", "http") == "http://[::1]:9095"
    assert _local_url("router.example:9095", "http") == "http://router.example:9095"
    config = load_config_text(f'server:\n  listen: ":9095"\n{ROUTE}', "x.yml",
                              lenient_files=True)
    assert _Router(config, None).base == "http://127.0.0.1:9095"
    assert _Router(config, "http://elsewhere:1/").base == "http://elsewhere:1"


@contextlib.contextmanager
def _sleeper(*argv: str) -> Iterator[int]:
    """The pid of a process whose command line is a router's, as /proc shows it (`python
    -c ... argv`)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv])
    try:
        for _ in range(500):  # just after exec, /proc shows an empty command line a moment
            if Path(f"/proc/{proc.pid}/cmdline").read_bytes():
                break
            time.sleep(0.01)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_healthcheck_reads_flag_values_given_as_separate_arguments(tmp_path: Path) -> None:
    from router.cli import build_parser
    from router.cli_tools import _serve_url

    config = tmp_path / "alert-router.yml"
    config.write_text(f"server:\n  listen: 0.0.0.0:9311\n{ROUTE}", encoding="utf-8")
    with _sleeper("--config.file", str(config), "--log.level", "debug") as pid:
        assert _serve_url(pid, build_parser()) == "http://127.0.0.1:9311"
    with _sleeper("--config.file", str(config), "--web.listen-address", ":9312") as pid:
        assert _serve_url(pid, build_parser()) == "http://127.0.0.1:9312"


def test_healthcheck_on_a_command_line_it_cannot_read_says_so(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with _sleeper("--log.level", "shouting") as pid:
        code = main(["healthcheck", f"--pid={pid}"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.startswith(
        f"healthcheck: cannot tell the router's address from process {pid}: "), err
    assert "shouting" in err
    assert err.count("\n") == 1, err
