"""Server TLS from `--web.config.file`, on a real `python -m router serve` process (uvloop,
as in production), with trustme certificates: HTTPS with the configured minimum version,
mutual TLS with a client CA, and a renewed certificate served from the next connection on,
without a restart.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def write_identity(cert: trustme.LeafCert, folder: Path) -> None:
    """As cert-manager or certbot renew: new files replace the old ones."""
    for name, blob in (("tls.crt", cert.cert_chain_pems[0]), ("tls.key", cert.private_key_pem)):
        tmp = folder / f".{name}.new"
        blob.write_to_path(str(tmp))
        tmp.replace(folder / name)


Serve = Callable[[str], str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """`url = serve(web_config_text)`: a router on HTTPS until the test ends."""
    procs: list[subprocess.Popen[str]] = []

    def start(web_text: str) -> str:
        web = tmp_path / "web.yml"
        web.write_text(web_text, encoding="utf-8")
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", f"--web.config.file={web}",
             f"--web.listen-address=127.0.0.1:{port}", f"--storage.path={tmp_path}"],
            cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        procs.append(proc)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "alert-router listening" in line, line
        assert "tls=true" in line, line
        return f"https://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.stderr is not None
        rest = proc.stderr.read()
        proc.stderr.close()
        assert "Traceback" not in rest, rest


def client_context(ca: trustme.CA, identity: trustme.LeafCert | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if identity is not None:
        identity.configure_cert(context)
    return context


def served_cert(url: str, context: ssl.SSLContext) -> bytes:
    """The DER certificate a new connection is shown."""
    host, port = url.removeprefix("https://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def get(url: str, context: ssl.SSLContext) -> int:
    with urllib.request.urlopen(url, context=context, timeout=10) as resp:
        status: int = resp.status
        return status


def test_https_and_a_renewed_certificate_without_restart(
    tmp_path: Path, ca: trustme.CA, serve: Serve
) -> None:
    first = ca.issue_cert("127.0.0.1", "localhost")
    write_identity(first, tmp_path)
    url = serve("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n")
    context = client_context(ca)
    assert get(f"{url}/-/healthy", context) == 200
    assert served_cert(url, context) == der(first)

    renewed = ca.issue_cert("127.0.0.1", "localhost")
    write_identity(renewed, tmp_path)
    assert served_cert(url, context) == der(renewed)
    assert get(f"{url}/-/ready", context) == 200

    # A renewal caught half-written (a key that does not match) keeps the last good pair.
    (tmp_path / "tls.key").write_bytes(ca.issue_cert("other").private_key_pem.bytes())
    assert served_cert(url, context) == der(renewed)


def test_the_minimum_version_is_enforced(tmp_path: Path, ca: trustme.CA, serve: Serve) -> None:
    write_identity(ca.issue_cert("127.0.0.1"), tmp_path)
    url = serve("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
                "  min_version: TLS13\n")
    old = client_context(ca)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        served_cert(url, old)
    assert get(f"{url}/-/healthy", client_context(ca)) == 200


def test_mutual_tls_requires_a_client_certificate_from_the_client_ca(
    tmp_path: Path, ca: trustme.CA, serve: Serve
) -> None:
    write_identity(ca.issue_cert("127.0.0.1"), tmp_path)
    clients = trustme.CA()
    clients.cert_pem.write_to_path(str(tmp_path / "clients.pem"))
    url = serve("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
                "  client_auth_type: RequireAndVerifyClientCert\n"
                "  client_ca_file: clients.pem\n")
    good = client_context(ca, clients.issue_cert("prometheus@example.com"))
    assert get(f"{url}/api/v2/status", good) == 200
    for context in (client_context(ca), client_context(ca, ca.issue_cert("stranger"))):
        # Refused in the handshake (TLS 1.3 reports it at the first read).
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            get(f"{url}/-/healthy", context)


def test_a_certificate_that_does_not_load_is_a_one_line_start_up_error(
    tmp_path: Path, ca: trustme.CA
) -> None:
    write_identity(ca.issue_cert("127.0.0.1"), tmp_path)
    (tmp_path / "tls.key").write_text("not a key\n", encoding="utf-8")
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n",
                   encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "router", "serve", f"--web.config.file={web}",
         f"--web.listen-address=127.0.0.1:{free_port()}", f"--storage.path={tmp_path}"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"alert-router: error: web config {web}: "
                                  "tls_server_config: cannot load the certificate and key: ")


def test_check_web_config_loads_the_certificate_too(
    tmp_path: Path, ca: trustme.CA, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.cli import main

    write_identity(ca.issue_cert("127.0.0.1"), tmp_path)
    good, bad = tmp_path / "web.yml", tmp_path / "bad.yml"
    good.write_text("tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n",
                    encoding="utf-8")
    assert main(["check-web-config", str(good)]) == 0
    assert capsys.readouterr().out == "1 file(s) valid\n"
    ca.issue_cert("other").private_key_pem.write_to_path(str(tmp_path / "other.key"))
    bad.write_text("tls_server_config: {cert_file: tls.crt, key_file: other.key}\n",
                   encoding="utf-8")
    assert main(["check-web-config", str(good), str(bad)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{bad}: tls_server_config: cannot load the certificate and key: ")
