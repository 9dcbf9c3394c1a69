"""Metric batching: step losses stay on the device until a flush (every 0.2 s or 256 steps), so the
loop never waits on a host transfer or a callback per step."""

import math
import time

import torch
from torch import Tensor

from dl.callbacks import Callback, MetricPoint
from dl.errors import TrainingError

FLUSH_SECONDS = 0.2
FLUSH_STEPS = 256

Pending = tuple[int, float, dict[str, Tensor]]


class Reporter:
    def __init__(self, callback: Callback, names: tuple[str, ...], log_every: int, total_steps: int) -> None:
        self.cb, self.names, self.log_every, self.total_steps = callback, names, log_every, total_steps
        self.pending: list[Pending] = []
        self.points: list[MetricPoint] = []
        self.last: dict[str, float] = {}
        self.last_finite: float | None = None
        self.good_step = 0  # the newest step whose losses were finite
        self.last_flush = time.monotonic()
        self.epoch = 1

    def record(self, step: int, values: dict[str, Tensor]) -> None:
        self.pending.append((step, time.time(), values))
        if len(self.pending) >= FLUSH_STEPS or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def epoch_point(self, name: str, step: int, value: float) -> None:
        self.points.append(MetricPoint(name, step, float(value), time.time()))
        self.last[name] = float(value)

    def flush(self) -> None:
        """One host transfer for the buffered losses; NaN/Inf -> TrainingError after the good points."""
        pending, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        if not pending:
            self._emit()
            return
        table = torch.stack([torch.stack([v[n].float() for n in self.names]) for _, _, v in pending]).tolist()
        good_before = self.good_step
        try:
            self._take(pending, table)
        finally:
            self._emit()
            if self.good_step != good_before:  # a NaN at step k still reports the progress up to k - 1
                self.cb.on_progress(self.epoch, self.good_step, self.total_steps)

    def _take(self, pending: list[Pending], table: list[list[float]]) -> None:
        for (step, t, _), row in zip(pending, table, strict=True):
            bad = next((v for v in row if not math.isfinite(v)), None)
            if bad is not None:
                last = "none yet" if self.last_finite is None else f"{self.last_finite:.6g}"
                raise TrainingError(f"the loss became {bad} at step {step}; the last finite loss was {last}. "
                                    "Lower the learning rate, set grad_clip_norm, or check the data")
            self.last_finite, self.good_step = row[0], step
            if step % self.log_every == 0:
                self.points.extend(MetricPoint(n, step, v, t) for n, v in zip(self.names, row, strict=True))
                self.last.update(zip(self.names, row, strict=True))

    def _emit(self) -> None:
        if self.points:
            points, self.points = self.points, []
            self.cb.on_metrics(points)


def epoch_line(epoch: int, epochs: int, step: int, metrics: dict[str, float]) -> str:
    """The job log's line for a finished epoch: what a user scans for in the log tail."""
    shown = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())
    return f"epoch {epoch}/{epochs} (step {step}): {shown}"
