"""Small datasets and callbacks shared by the dl tests."""

from typing import Any

import numpy as np
import torch

from dl.callbacks import Callback, Checkpoint, MetricPoint, TrainResult
from dl.data import ArrayData, from_arrays


class Recorder(Callback):
    """Keeps everything the loop reports; optionally asks to stop after `stop_after` should_stop calls."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.points: list[MetricPoint] = []
        self.metric_calls = 0
        self.checkpoints: list[Checkpoint] = []
        self.progress: list[tuple[int, int, int]] = []
        self.start_info: dict[str, Any] = {}
        self.logs: list[str] = []
        self.stop_after, self.stop_calls = stop_after, 0
        self.result: TrainResult | None = None

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.start_info = info

    def on_metrics(self, points: list[MetricPoint]) -> None:
        self.metric_calls += 1
        self.points.extend(points)

    def on_progress(self, epoch: int, step: int, total_steps: int) -> None:
        self.progress.append((epoch, step, total_steps))

    def on_log(self, line: str) -> None:
        self.logs.append(line)

    def on_checkpoint(self, ckpt: Checkpoint) -> None:
        self.checkpoints.append(ckpt)

    def should_stop(self) -> bool:
        self.stop_calls += 1
        return self.stop_after is not None and self.stop_calls >= self.stop_after

    def on_train_end(self, result: TrainResult) -> None:
        self.result = result

    def series(self, name: str) -> list[tuple[int, float]]:
        return [(p.step, p.value) for p in self.points if p.name == name]


def blobs(n: int = 120, classes: int = 3, features: int = 4, seed: int = 0) -> ArrayData:
    """Well-separated Gaussian clusters: a classifier should reach ~100% on them."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(classes, features))
    y = np.arange(n) % classes
    x = centers[y] + rng.normal(0, 0.5, size=(n, features))
    return from_arrays(x.astype(np.float32), y.astype(np.int64))


def linear_values(n: int = 80, seed: int = 0) -> ArrayData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5], dtype=np.float32) + 0.3).astype(np.float32)
    return from_arrays(x, y)


def params_equal(a: torch.nn.Module, b: torch.nn.Module) -> list[str]:
    """Names of state entries that differ (empty: bit-identical)."""
    sb = b.state_dict()
    return [k for k, v in a.state_dict().items() if not torch.equal(v, sb[k])]
