"""docker-compose.yml validated statically, and its api/worker commands run as local processes."""

import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import _create_pg_database, _drop_pg_database
from tests.stack import FINISHED, _kill_group, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
MLP = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 3}]}


def compose_config(tmp_path: Path, *files: str) -> dict[str, Any]:
    """`docker-compose config` with .env.example filled in: fails on any schema or interpolation error."""
    env_file = tmp_path / ".env"
    example = (ROOT / ".env.example").read_text()
    env_file.write_text(example.replace("POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=pw\n"))
    args = ["docker-compose", "--env-file", str(env_file)] + [a for f in files for a in ("-f", str(ROOT / f))]
    done = subprocess.run([*args, "config"], capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise AssertionError(f"docker-compose config failed: {done.stderr}")
    return dict(yaml.safe_load(done.stdout))


def test_validate_compose_services_and_healthchecks(tmp_path: Path) -> None:
    services = compose_config(tmp_path, "docker-compose.yml")["services"]
    assert set(services) == {"postgres", "redis", "api", "worker", "tensorboard"}
    assert "--appendonly" in services["redis"]["command"]
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "torchyard migrate" in " ".join(services["api"]["command"])
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"  # after migrate
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_validate_compose_gpu_override_pins_devices(tmp_path: Path) -> None:
    services = compose_config(tmp_path, "docker-compose.yml", "docker-compose.gpus.yml")["services"]
    pinned = {name: s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
              for name, s in services.items() if name.startswith("worker-gpu")}
    assert pinned == {"worker-gpu0": ["0"], "worker-gpu1": ["1"]}


def test_validate_compose_holds_no_secret() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    env = raw["x-torchyard"]["environment"]
    assert env["TORCHYARD_ADMIN_TOKEN"].startswith("${")
    assert raw["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")


def _local(command: list[str], port: int) -> list[str]:
    """The compose command, with the container's port swapped for a free local one."""
    text = shlex.join(command) if command[0] != "sh" else command[2]
    text = text.replace("--port 8000", f"--port {port}")
    return ["sh", "-c", text]


@pytest.fixture
def compose_processes(tmp_path: Path, redis_url: str, artifacts_dir: Path) -> Iterator[str]:
    services = compose_config(tmp_path, "docker-compose.yml")["services"]
    name, db_url = _create_pg_database()
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "TORCHYARD_DATABASE_URL": db_url, "TORCHYARD_BROKER_URL": redis_url,
           "TORCHYARD_DATA_DIR": str(tmp_path / "data"), "TORCHYARD_QUEUE": f"compose-{uuid.uuid4().hex[:8]}",
           "TORCHYARD_ADMIN_TOKEN": "compose-test-admin-token-0123456789"}
    logs = artifacts_dir / f"compose-{port}"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [subprocess.Popen(_local(services[s]["command"], port), env=env, start_new_session=True,
                              stdout=open(logs / f"{s}{i}.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
             for s, i in (("api", 0), ("worker", 0), ("worker", 1))]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in procs:
            _kill_group(proc, 15)
        _drop_pg_database(name)


def test_run_compose_commands_train_jobs(compose_processes: str) -> None:
    api = httpx.Client(base_url=f"{compose_processes}/api/v1", timeout=30,
                       headers={"Authorization": "Bearer compose-test-admin-token-0123456789"})

    def healthy() -> bool:
        try:
            return api.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 90, "the compose api command to answer /health")
    dataset = api.post("/datasets/builtin", json={"name": "iris"}).json()
    model = api.post("/models", json={"name": "mlp", "spec": MLP}).json()
    ids = [api.post("/jobs", json={"model_id": model["id"], "dataset_id": dataset["id"],
                                   "config": {"epochs": 3, "batch_size": 16}}).json()["id"] for _ in range(2)]
    jobs = [wait_until(lambda i=i: (j := api.get(f"/jobs/{i}").json())["status"] in FINISHED and j, 180,
                       f"job {i} to finish") for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], [j["error"] for j in jobs]
