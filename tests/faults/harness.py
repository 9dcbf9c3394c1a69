"""Private services for fault tests: a Stack on its own database and queue, a Redis server and a
Postgres cluster of their own, so restarting them never touches the shared ones other tests use."""

import glob
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.conftest import _create_pg_database, _drop_pg_database
from tests.stack import Stack, free_port, wait_until

MLP = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 10}]}
IRIS_MLP = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 3}]}


@contextmanager
def private_stack(tmp: Path, log_dir: Path, *, broker_url: str, database_url: str | None = None,
                  workers: int = 1, env: dict[str, str] | None = None,
                  stack_class: type[Stack] = Stack) -> Iterator[Stack]:
    """A started Stack; without `database_url` it gets a fresh database on the shared cluster."""
    name, url = (None, database_url) if database_url else _create_pg_database()
    tag = uuid.uuid4().hex[:8]
    stack = stack_class(database_url=url, broker_url=broker_url, data_dir=tmp / f"data-{tag}",
                        queue=f"torchyard-faults-{tag}", log_dir=log_dir / f"faults-{tag}",
                        workers=workers, env=env)
    try:
        yield stack.start()
    finally:
        stack.stop()
        if name is not None:
            _drop_pg_database(name)


def builtin(stack: Stack, name: str) -> int:
    return int(stack.post("/datasets/builtin", json={"name": name})["id"])


def spec_model(stack: Stack, spec: dict[str, Any], name: str = "m") -> int:
    return int(stack.post("/models", json={"name": name, "spec": spec})["id"])


def python_model(stack: Stack, source: str, name: str = "py") -> int:
    files = {"file": (f"{name}.py", source.encode(), "text/x-python")}
    return int(stack.post("/models", data={"name": name}, files=files)["id"])


def series_steps(stack: Stack, job_id: int, name: str) -> list[int]:
    response = stack.client.get(f"/jobs/{job_id}/metrics/{name}", params={"max_points": 1_000_000})
    response.raise_for_status()
    body = response.json()
    if body["downsampled"]:
        raise AssertionError(f"{name} of job {job_id} came back downsampled")
    return list(body["steps"])


class RedisServer:
    """A redis-server on a free port with an append-only file, so a restart keeps its queues."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._pings, 30, f"redis-server on port {self.port}")

    def _pings(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.proc.wait(timeout=30)
            self.proc = None


class PostgresCluster:
    """A throwaway Postgres cluster run as the `postgres` OS user (initdb refuses root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="torchyard-pg-"))
        shutil.chown(self.root, "postgres")
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("no /usr/lib/postgresql/*/bin: Postgres server binaries are not installed")
        self.bin = Path(bins[-1])
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/torchyard"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    def init(self) -> None:
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.root / "data"), "-A", "trust",
                          "-U", "postgres")
        self.start()
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE torchyard")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-o", options,
                          "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def db_rows(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the platform's database directly (what the API does not show: worker, heartbeat, events)."""
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, params).fetchall())
