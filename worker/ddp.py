"""Data-parallel jobs (gpus > 1): the Celery task launches one process per rank and waits for them.

Celery's prefork children are daemonic and cannot spawn with multiprocessing, so ranks are plain
subprocesses (`python -m worker.ddp JOB ATTEMPT RESULTS_DIR`) that meet at a TCPStore the launcher
holds (no free-port race). Rank 0 runs the one-process runner's execute() (database reporter,
TensorBoard, checkpoints); the other ranks train silently. The launcher renews the lease while the
ranks start and maps their results to the job's outcome: a failing rank becomes one sentence.

Backend: NCCL with one GPU per rank (LOCAL_RANK) when the worker has CUDA and the job's device is not
cpu; otherwise gloo on the CPU, so a worker started with `--gpus 0,1` on a CPU host runs a gpus: 2 job
as two CPU processes."""

import contextlib
import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from sqlalchemy.exc import OperationalError

from dl.config import TrainConfig, parse_config
from dl.errors import DLError
from dl.train import train
from server.core.config import get_settings
from server.core.db import session_scope
from server.store import events, jobs
from worker import runner

log = logging.getLogger(__name__)
GRACE_S = 10.0  # after one rank fails, how long the others get to fail on their own before a kill
POLL_S = 0.2
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)  # rank 0 may pause this long on a slow database


# -- launcher (the Celery task's process) -------------------------------------------------------------
def launch(inputs: runner.JobInputs, attempt: int) -> runner.Outcome | None:
    """Run the claimed job's ranks to their end; None when the lease was lost."""
    job_id, world = inputs.job.id, int(inputs.job.gpus)
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    with tempfile.TemporaryDirectory(prefix=f"torchyard-job{job_id}-") as tmp:
        procs = [_spawn(job_id, attempt, rank, world, store.port, Path(tmp)) for rank in range(world)]
        first_failed = _wait(procs, job_id, attempt)
        results = [_read(Path(tmp), rank) for rank in range(world)]
    codes = [int(p.returncode) for p in procs]
    return _outcome(job_id, results, codes, first_failed)


def _spawn(job_id: int, attempt: int, rank: int, world: int, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
           "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "TORCHYARD_PARENT_PID": str(os.getpid())}
    args = [sys.executable, "-m", "worker.ddp", str(job_id), str(attempt), str(tmp)]
    return subprocess.Popen(args, env=env)


def _wait(procs: list[subprocess.Popen[bytes]], job_id: int, attempt: int) -> int | None:
    """Wait for every rank, renewing the lease; returns the first rank that failed, if any."""
    beat_every = get_settings().heartbeat_interval_s
    last_beat, first_failed, failed_at = 0.0, None, 0.0
    while running := [p for p in procs if p.poll() is None]:
        now = time.monotonic()
        if first_failed is None:
            first_failed = next((r for r, p in enumerate(procs) if p.returncode not in (None, 0)), None)
            failed_at = now
        elif now - failed_at > GRACE_S:
            for p in running:
                p.kill()  # blocked in a collective with a dead peer
        if now - last_beat >= beat_every:
            _heartbeat(job_id, attempt)
            last_beat = now
        with contextlib.suppress(subprocess.TimeoutExpired):
            running[0].wait(timeout=POLL_S)  # a bounded wait: the loop also renews the lease
    if first_failed is None:
        first_failed = next((r for r, p in enumerate(procs) if p.returncode != 0), None)
    return first_failed


def _heartbeat(job_id: int, attempt: int) -> None:
    # rank 0's reporter renews the lease too, but only once its process has imported torch and started
    try:
        with session_scope() as session:
            jobs.heartbeat(session, job_id, attempt)
    except OperationalError as exc:
        log.warning("job %s: heartbeat failed, retrying: %s", job_id, str(exc).splitlines()[0])


def _read(tmp: Path, rank: int) -> dict[str, Any] | None:
    path = tmp / f"rank{rank}.json"
    return dict(json.loads(path.read_text())) if path.exists() else None


def _outcome(job_id: int, results: list[dict[str, Any] | None], codes: list[int],
             first_failed: int | None) -> runner.Outcome | None:
    main = results[0]
    if main is not None and main["status"] != "failed":
        # rank 0 finished training, so every collective completed: its outcome is the job's
        if main["status"] == "lost":
            return None
        return runner.Outcome(main["status"], summary=main.get("summary"))
    # a rank's own error beats a peer's "connection closed"; rank 0's (with its step) beats the others'
    own = [r for r, res in enumerate(results) if res and res["status"] == "failed" and not res["comm"]]
    rank = own[0] if own else first_failed if first_failed is not None else 0
    chosen = results[rank]
    if chosen is None:
        return runner.Outcome("failed", error=_exit_sentence(rank, len(codes), codes[rank]))
    if rank != 0 and chosen.get("traceback"):
        _log(job_id, f"training process {rank}: {chosen['traceback']}")
    return runner.Outcome("failed", error=str(chosen["error"]))


def _exit_sentence(rank: int, world: int, code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = "; the host may have run out of memory" if name == "SIGKILL" else ""
        return f"training process {rank} of {world} was killed by {name}{hint}"
    return f"training process {rank} of {world} exited with code {code} before reporting a result"


def _log(job_id: int, line: str) -> None:
    with session_scope() as session:
        events.append_event(session, job_id, "log", {"job_id": job_id, "line": line.rstrip()})
    events.publish(job_id)


# -- one rank (python -m worker.ddp) -------------------------------------------------------------------
def _die_with_parent() -> None:
    """A rank must not outlive the task that launched it (a killed worker would leave it training)."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ.get("TORCHYARD_PARENT_PID", os.getppid())):
        os._exit(1)  # the parent died before the line above took effect


def _backend(config: TrainConfig) -> tuple[str, torch.device]:
    if config.device != "cpu" and torch.cuda.is_available():
        local = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(local)
        return "nccl", local
    return "gloo", torch.device("cpu")


def _join(config: TrainConfig, rank: int, world: int) -> tuple[str, torch.device]:
    backend, device = _backend(config)
    if device.type == "cpu":  # the ranks share the worker's cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=COLLECTIVE_TIMEOUT)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT)
    return backend, device


def _run_rank(job_id: int, attempt: int, rank: int, world: int) -> dict[str, Any]:
    inputs = runner._load_inputs(job_id)
    config = parse_config(inputs.job.config)
    backend, device = _join(config, rank, world)
    if rank == 0:
        _log(job_id, f"training data-parallel on {world} processes ({backend}, {device.type})")
        outcome = runner.execute(inputs, attempt)
        if outcome is None:
            return {"status": "lost"}
        comm = outcome.cause is not None and is_peer_failure(outcome.cause)
        return {"status": outcome.status, "summary": outcome.summary, "error": outcome.error, "comm": comm}
    data = runner.materialise(inputs.dataset)
    torch.manual_seed(config.seed)
    model = runner._build(inputs.model, data, config)
    resume = runner._resume_state(job_id) if attempt > 1 else None
    # no init_from weights here: DistributedDataParallel starts every rank from rank 0's
    result = train(model, data, config, resume=resume)
    return {"status": "succeeded" if result.status == "succeeded" else "cancelled"}


def is_peer_failure(exc: BaseException) -> bool:
    """A collective that failed because another rank died (that rank's own error is the real one)."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or "closed by peer" in text or "reset by peer" in text


def _replica_error(exc: BaseException, rank: int, world: int) -> str:
    if isinstance(exc, DLError):
        return str(exc)
    if runner.is_out_of_memory(exc):
        return f"training process {rank} of {world} ran out of memory; lower batch_size"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"training process {rank} of {world} failed with {type(exc).__name__}: {first}"


def main(argv: list[str]) -> int:
    job_id, attempt, out = int(argv[0]), int(argv[1]), Path(argv[2])
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    _die_with_parent()
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s rank{rank} %(levelname)s %(name)s: %(message)s")
    try:
        result = _run_rank(job_id, attempt, rank, world)
    except Exception as exc:  # reported through the launcher as one sentence
        log.exception("job %s: training process %s failed", job_id, rank)
        result = {"status": "failed", "error": _replica_error(exc, rank, world), "comm": is_peer_failure(exc),
                  "traceback": traceback.format_exc()}
    # written before leaving the group: after a peer's failure that may block until the launcher kills us
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 1 if result["status"] == "failed" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
