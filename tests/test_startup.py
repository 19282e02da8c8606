"""Start-up as an operator meets it: a real `python -m router` process. A refusal (taken
port, unusable storage, bad flag, bad web config) is one line on stderr and a non-zero exit
within about a second, never a traceback and never a process left running; `--version`
answers like a Prometheus component; `healthcheck` finds the port a router was started on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from router import __version__

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def run(*args: str, cwd: Path) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds) of `python -m router args...`."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "router", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def one_line_refusal(code: int, err: str, seconds: float, want: str) -> None:
    assert code != 0
    assert "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert want in err, err
    # Python's own start-up is most of it (about 0.5 s here); generous for a loaded CI.
    assert seconds < 5, seconds


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path, taken: int) -> None:
    code, _, err, seconds = run("serve", f"--web.listen-address=127.0.0.1:{taken}",
                                  f"--storage.path={tmp_path}", cwd=tmp_path)
    one_line_refusal(code, err, seconds,
                     f"alert-router: error: cannot listen on 127.0.0.1:{taken}: "
                     "address already in use")
    assert code == 1
    # Refused before the store was opened: nothing created.
    assert not (tmp_path / "alert-router.db").exists()
    print(f"taken port: exit {code} after {seconds:.2f} s")


def test_a_storage_directory_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "nope" / "router.db"
    code, _, err, seconds = run("serve", "--web.listen-address=127.0.0.1:0",
                                f"--storage.path={db}", cwd=tmp_path)
    one_line_refusal(code, err, seconds, f"storage {db}: directory {db.parent} does not exist")


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """A directory this process cannot write into (root: immutable; else mode 0500)."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)],
                                            check=False).returncode:
            pytest.skip("root cannot be denied a write here (no chattr +i)")
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)


def test_an_unwritable_storage_directory_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with unwritable(folder):
        code, _, err, seconds = run("serve", "--web.listen-address=127.0.0.1:0",
                                    f"--storage.path={folder}", cwd=tmp_path)
    one_line_refusal(code, err, seconds,
                     f"storage {folder}/alert-router.db: {folder} is not writable by uid")


@pytest.mark.parametrize(("flag", "want"), [
    ("--log.level=bogus", "argument --log.level/--log-level: invalid choice: 'bogus'"),
    ("--log.format=xml", "argument --log.format/--log-format: invalid choice: 'xml'"),
    ("--no-such-flag", "unrecognized arguments: --no-such-flag"),
])
def test_a_bad_flag_is_one_line_and_exit_2(tmp_path: Path, flag: str, want: str) -> None:
    code, _, err, seconds = run("serve", flag, cwd=tmp_path)
    one_line_refusal(code, err, seconds, want)
    assert code == 2
    assert err.startswith(("alert-router serve: error: ", "alert-router: error: "))
    assert err.endswith(" (see --help)\n")


def test_a_bad_web_config_names_file_line_and_column(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  admin: secret\n", encoding="utf-8")
    code, _, err, seconds = run("serve", f"--web.config.file={web}",
                                "--web.listen-address=127.0.0.1:0",
                                f"--storage.path={tmp_path}", cwd=tmp_path)
    one_line_refusal(code, err, seconds, f"{web}:2:10: basic_auth_users.admin: user "
                     '"admin": not a bcrypt hash')
    assert "secret" not in err


def test_version_names_version_revision_python_and_dependencies(tmp_path: Path) -> None:
    code, out, err, _ = run("--version", cwd=tmp_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"alert-router, version {__version__} (revision: ")
    assert lines[0] != f"alert-router, version {__version__} (revision: )"
    assert f"python version:   CPython {sys.version.split()[0]}" in out
    import aiohttp

    assert f"aiohttp {aiohttp.__version__}" in out
    assert run("serve", "--version", cwd=tmp_path)[1] == out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_healthcheck_probes_the_port_the_router_was_started_on(tmp_path: Path) -> None:
    port = free_port()
    # Flags only, as a Prometheus component is run (no `serve`): still serve.
    with subprocess.Popen(
        [sys.executable, "-m", "router", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.path={tmp_path}"], cwd=tmp_path, env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert "alert-router listening" in line, line
            code, _, err, _ = run("healthcheck", f"--pid={proc.pid}", cwd=tmp_path)
            assert (code, err) == (0, "")
            # A long amtool/Grafana filter (about 19 KB of URL) is served, not a 400 for
            # aiohttp's default 8 KiB request line.
            names = "|".join(f"SomeAlertName{i}" for i in range(1000))
            query = urllib.parse.quote(f'alertname=~"{names}"')
            url = f"http://127.0.0.1:{port}/api/v2/alerts?filter={query}"
            assert len(url) > 18_000
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert resp.status == 200
                assert json.loads(resp.read()) == []
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert proc.returncode == 0
    code, _, err, _ = run("healthcheck", f"--url=http://127.0.0.1:{port}", cwd=tmp_path)
    assert code == 1
    assert err.startswith(f"healthcheck: http://127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "alert-router.db"
    db.write_bytes(b"this is not SQLite" * 100)
    code, _, err, seconds = run("serve", "--web.listen-address=127.0.0.1:0",
                                f"--storage.path={db}", cwd=tmp_path)
    one_line_refusal(code, err, seconds, "alert-router: error: ")
    assert "not a database" in err
