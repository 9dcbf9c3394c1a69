"""A real Torchyard deployment for tests: `torchyard api` and N `torchyard worker` processes.

Every process runs in a session of its own, so stop_worker() can kill a worker together with its pool
children, as if its host died.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

CLI = [sys.executable, "-m", "cli.main"]
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


class Stack:
    def __init__(self, *, database_url: str, broker_url: str, data_dir: Path, queue: str, log_dir: Path,
                 workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.admin_token = secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.initial_workers = workers
        self.env = {
            # Settings leaked by in-process tests (e.g. a small upload limit) must not reach the stack.
            **{k: v for k, v in os.environ.items() if not k.startswith("TORCHYARD_")},
            "TORCHYARD_DATABASE_URL": database_url, "TORCHYARD_BROKER_URL": broker_url,
            "TORCHYARD_DATA_DIR": str(data_dir), "TORCHYARD_QUEUE": queue,
            "TORCHYARD_ADMIN_TOKEN": self.admin_token, "TORCHYARD_HEARTBEAT_INTERVAL_S": "1",
            "TORCHYARD_LEASE_TIMEOUT_S": "8", "TORCHYARD_HOUSEKEEPING_INTERVAL_S": "1",
            "TORCHYARD_REQUEUE_AFTER_S": "20", "PYTHONUNBUFFERED": "1", **(env or {}),
        }
        self.api_proc: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = []
        self._spawned = 0
        self.client = httpx.Client(base_url=f"{self.url}/api/v1", timeout=30,
                                   headers={"Authorization": f"Bearer {self.admin_token}"})

    # -- processes ---------------------------------------------------------------------------------
    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._spawned += 1
        log = open(self.log_dir / f"{self._spawned:02d}-{name}.log", "wb")  # noqa: SIM115 (lives with the process)
        return subprocess.Popen([*CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start(self) -> "Stack":
        subprocess.run([*CLI, "migrate"], env=self.env, check=True, capture_output=True)
        self.start_api()
        for _ in range(self.initial_workers):
            self.start_worker()
        return self

    def start_api(self) -> None:
        self.api_proc = self._spawn(["api", "--port", str(self.port)], "api")
        wait_until(self._healthy, 60, f"the API at {self.url} to answer /health")

    def _healthy(self) -> bool:
        if self.api_proc is not None and self.api_proc.poll() is not None:
            raise RuntimeError(f"the API exited with {self.api_proc.returncode}; see {self.log_dir}")
        try:
            return httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, gpus: str | None = None) -> int:
        """Start one more worker process (`--gpus gpus` when given); returns its index for stop_worker()."""
        args = ["worker", "--gpus", gpus] if gpus else ["worker"]
        self.workers.append(self._spawn(args, f"worker{len(self.workers)}"))
        return len(self.workers) - 1

    def stop_worker(self, i: int, sig: int = signal.SIGKILL) -> None:
        proc = self.workers[i]
        if proc is None:
            return
        _kill_group(proc, sig)
        self.workers[i] = None

    def restart_api(self) -> None:
        if self.api_proc is not None:
            _kill_group(self.api_proc, signal.SIGTERM)
        self.start_api()

    def stop(self) -> None:
        self.client.close()
        for i in range(len(self.workers)):
            # Nothing is left to finish at teardown; a warm Celery shutdown would only add seconds.
            self.stop_worker(i, signal.SIGKILL)
        if self.api_proc is not None:
            _kill_group(self.api_proc, signal.SIGTERM)
            self.api_proc = None

    # -- API helpers -------------------------------------------------------------------------------
    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.post(path, **kwargs)
        if response.status_code >= 300:
            raise AssertionError(f"POST {path} -> {response.status_code}: {response.text}")
        return dict(response.json())

    def submit(self, model_id: int, dataset_id: int, config: dict[str, Any], name: str = "test") -> int:
        job = self.post("/jobs", json={"model_id": model_id, "dataset_id": dataset_id, "config": config,
                                       "name": name})
        return int(job["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.client.get(f"/jobs/{job_id}")
        response.raise_for_status()
        return dict(response.json())

    def wait_job(self, job_id: int, statuses: Iterable[str] = FINISHED,
                 timeout_s: float = 180) -> dict[str, Any]:
        wanted = set(statuses)

        def reached() -> dict[str, Any] | None:
            job = self.job(job_id)
            if job["status"] in wanted:
                return job
            if job["status"] in FINISHED:
                raise AssertionError(f"job {job_id} ended {job['status']}: {job['error']}")
            return None

        return dict(wait_until(reached, timeout_s, f"job {job_id} to reach {sorted(wanted)}"))


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
