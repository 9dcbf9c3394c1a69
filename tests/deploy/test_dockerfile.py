"""The image recipe checked statically (no Docker engine here) and its HEALTHCHECK run for real."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.stack import Stack, free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PINNED = (ROOT / "requirements" / "docker.txt").read_text().splitlines()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[;~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_dockerfile_builds_on_cuda_pytorch_and_runs_as_non_root() -> None:
    assert re.search(r"^FROM pytorch/pytorch:[\w.]+-cuda[\w.-]+-runtime$", DOCKERFILE, re.M)
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in DOCKERFILE and 'ENTRYPOINT ["torchyard"]' in DOCKERFILE
    assert ".git" in (ROOT / ".dockerignore").read_text().split()


def test_docker_requirements_pin_every_runtime_dependency() -> None:
    pins = {_name(line): line for line in PINNED if line and not line.startswith("#")}
    assert all("==" in line for line in pins.values()), [p for p in pins.values() if "==" not in p]
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    missing = {_name(r) for r in wanted} - set(pins) - {"torch"}  # torch comes from the base image
    assert not missing, f"pin these in requirements/docker.txt: {sorted(missing)}"
    assert "torch" not in pins


def _healthcheck(role: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.healthcheck"], env={**env, "TORCHYARD_ROLE": role},
                          capture_output=True, text=True, timeout=60, check=False)


def test_healthcheck_worker_role_sees_database_and_broker(stack: Stack) -> None:
    assert _healthcheck("worker", stack.env).returncode == 0
    broken = {**stack.env, "TORCHYARD_BROKER_URL": "redis://127.0.0.1:1/0"}
    done = _healthcheck("worker", broken)
    assert done.returncode == 1 and "broker unreachable" in done.stderr


def test_healthcheck_api_role_asks_the_api(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHYARD_")}
    up = _healthcheck("api", {**env, "TORCHYARD_HEALTHCHECK_URL": f"{stack.url}/api/v1/health"})
    assert up.returncode == 0, up.stderr
    dead = f"http://127.0.0.1:{free_port()}/api/v1/health"
    down = _healthcheck("api", {**env, "TORCHYARD_HEALTHCHECK_URL": dead})
    assert down.returncode == 1 and "unreachable" in down.stderr
