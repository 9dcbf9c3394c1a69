"""The dl Callback that reports a training run to the database.

Metrics, log lines and progress are buffered and written in batches (one transaction per flush, never
one INSERT per point). A background thread in the job process renews the lease, flushes what a long
step left buffered, and polls cancel_requested so should_stop() answers within about a second.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from dl.callbacks import Callback
from dl.checkpoint import to_bytes
from server.core.db import session_scope
from server.store import events, jobs, metrics

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5  # live viewers see points within about this long
MAX_BUFFERED_POINTS = 2000
CANCEL_POLL_S = 1.0
WRITE_RETRY_S = 60.0  # a database restart shorter than this pauses training instead of failing the job
T = TypeVar("T")


def retry_while_unreachable(write: Callable[[], T], job_id: int) -> T:
    """Run one write transaction, retrying with backoff while the database is unreachable."""
    deadline, delay = time.monotonic() + WRITE_RETRY_S, 0.2
    while True:
        try:
            return write()
        except OperationalError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("job %s: database unreachable, retrying its write in %.1f s: %s", job_id, delay,
                        str(exc).splitlines()[0])
            time.sleep(delay)  # backoff, not synchronisation
            delay = min(delay * 2, 2.0)


class DBReporter(Callback):
    def __init__(self, job_id: int, attempt: int, *, keep_checkpoints: int, heartbeat_interval_s: float,
                 after_checkpoint: Callable[[], None] | None = None) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.keep_checkpoints = keep_checkpoints
        self.heartbeat_interval_s = heartbeat_interval_s
        self.after_checkpoint = after_checkpoint
        self.step = 0
        self.lease_lost = False
        self.started = False
        self.tensorboard: Any = None  # the run's TensorBoardCallback, flushed before each archive
        self.tensorboard_archived = time.monotonic()  # when its folder was last copied to the blob store
        self._lock = threading.RLock()
        self._points: list[tuple[str, int, float, float]] = []
        self._logs: list[str] = []
        self._progress: dict[str, Any] | None = None
        self._last_flush = 0.0
        self._points_sent = False
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=10)
        self.flush()

    def _beat(self) -> None:
        last_beat = time.monotonic()
        while not self._closed.wait(min(CANCEL_POLL_S, self.heartbeat_interval_s)):
            beat = time.monotonic() - last_beat >= self.heartbeat_interval_s
            try:
                self._tick(beat)
            except Exception:  # a database hiccup must not kill the lease thread; the next tick retries
                log.exception("heartbeat of job %s failed", self.job_id)
                continue
            if beat:
                last_beat = time.monotonic()

    def _tick(self, beat: bool) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()
        with session_scope() as session:
            if beat:
                keep_going = jobs.heartbeat(session, self.job_id, self.attempt)
            else:
                keep_going = jobs.should_continue(session, self.job_id, self.attempt)
        if not keep_going:
            self._stop.set()

    # -- dl callback -------------------------------------------------------------------------------
    def on_train_start(self, info: dict[str, Any]) -> None:
        with self._lock:
            self.started = True
            self._progress = {"epoch": 0, "step": self.step, "total_steps": info.get("total_steps")}
        self.flush()

    def on_metrics(self, points: list[Any]) -> None:
        with self._lock:
            self._points.extend((p.name, int(p.step), float(p.value), float(p.time)) for p in points)
            # The first point goes out at once: a viewer sees the job train without waiting a batch.
            due = not self._points_sent or len(self._points) >= MAX_BUFFERED_POINTS
        if due or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def on_progress(self, epoch: int, step: int, total_steps: int) -> None:
        with self._lock:
            self.step = step
            self._progress = {"epoch": epoch, "step": step, "total_steps": total_steps}

    def on_log(self, line: str) -> None:
        with self._lock:
            self._logs.append(line)

    def on_checkpoint(self, ckpt: Any) -> None:
        self.flush()
        blob = jobs.CheckpointBlobs(step=ckpt.step, epoch=ckpt.epoch, metrics=dict(ckpt.metrics or {}),
                                    state=to_bytes(ckpt.state), weights=to_bytes(ckpt.weights))
        def save() -> bool:
            with session_scope() as session:
                return jobs.save_checkpoint(session, self.job_id, self.attempt, blob, self.keep_checkpoints)

        saved = retry_while_unreachable(save, self.job_id)
        if not saved:
            self._lose_lease()
        elif self.after_checkpoint is not None:
            self.after_checkpoint()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def on_train_end(self, result: Any) -> None:
        self.flush()

    # -- writing -----------------------------------------------------------------------------------
    def log_line(self, line: str) -> None:
        """A line from the platform itself (e.g. a traceback), shown with the engine's log."""
        self.on_log(line)

    def flush(self) -> None:
        with self._lock:
            points, lines, progress = self._points, self._logs, self._progress
            self._points, self._logs = [], []
            self._last_flush = time.monotonic()
            if not (points or lines or progress):
                return
            if not retry_while_unreachable(lambda: self._write(points, lines, progress), self.job_id):
                self._lose_lease()
                return
            self._points_sent = self._points_sent or bool(points)
            events.publish(self.job_id)

    def _write(self, points: list[tuple[str, int, float, float]], lines: list[str],
               progress: dict[str, Any] | None) -> bool:
        """One transaction of buffered points, log lines and progress; False when the lease is lost."""
        with session_scope() as session:
            owned = (jobs.set_progress(session, self.job_id, self.attempt, progress) if progress
                     else jobs.owns(session, self.job_id, self.attempt))
            if not owned:
                return False
            if points:
                metrics.write_points(session, self.job_id, self.attempt, points)
            for line in lines:
                events.append_event(session, self.job_id, "log", {"job_id": self.job_id, "line": line})
        return True

    def _lose_lease(self) -> None:
        if not self.lease_lost:
            log.warning("job %s attempt %s lost its lease; stopping", self.job_id, self.attempt)
        self.lease_lost = True
        self._stop.set()
