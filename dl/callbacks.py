"""How the training loop talks to its host: metric points, progress, logs, checkpoints, stop requests."""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from dl.summary import add_graph

log = logging.getLogger(__name__)


@dataclass
class MetricPoint:
    name: str
    step: int
    value: float
    time: float  # unix seconds


@dataclass
class Checkpoint:
    step: int
    epoch: int
    metrics: dict[str, float]
    state: dict[str, Any]  # full resume state; dl.checkpoint.to_bytes serialises it
    weights: dict[str, torch.Tensor]  # the model's state_dict (also inside state["model"])


@dataclass
class TrainResult:
    status: Literal["succeeded", "stopped"]
    step: int
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)
    normalization: dict[str, list[float]] | None = None


class Callback:
    """Every hook is optional; the loop calls on_metrics in batches, never once per point."""

    def on_train_start(self, info: dict[str, Any]) -> None:
        """info: {"total_steps", "epochs", "steps_per_epoch", "model": describe(...) or None}."""

    def on_model(self, model: nn.Module, example_input: torch.Tensor) -> None:
        """The model about to be trained and one input batch (for graph writers)."""

    def on_metrics(self, points: list[MetricPoint]) -> None:
        pass

    def on_progress(self, epoch: int, step: int, total_steps: int) -> None:
        pass

    def on_log(self, line: str) -> None:
        pass

    def on_checkpoint(self, ckpt: Checkpoint) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def on_train_end(self, result: TrainResult) -> None:
        pass


class NullCallback(Callback):
    pass


class CallbackList(Callback):
    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def on_train_start(self, info: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_train_start(info)

    def on_model(self, model: nn.Module, example_input: torch.Tensor) -> None:
        for cb in self.callbacks:
            cb.on_model(model, example_input)

    def on_metrics(self, points: list[MetricPoint]) -> None:
        for cb in self.callbacks:
            cb.on_metrics(points)

    def on_progress(self, epoch: int, step: int, total_steps: int) -> None:
        for cb in self.callbacks:
            cb.on_progress(epoch, step, total_steps)

    def on_log(self, line: str) -> None:
        for cb in self.callbacks:
            cb.on_log(line)

    def on_checkpoint(self, ckpt: Checkpoint) -> None:
        for cb in self.callbacks:
            cb.on_checkpoint(ckpt)

    def should_stop(self) -> bool:
        # every callback is asked, so none misses a stop it must record
        return any([cb.should_stop() for cb in self.callbacks])

    def on_train_end(self, result: TrainResult) -> None:
        for cb in self.callbacks:
            cb.on_train_end(result)


class TensorBoardCallback(Callback):
    """Scalars for every metric point and, when tracing works, the model graph."""

    def __init__(self, logdir: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(logdir))

    def on_model(self, model: nn.Module, example_input: torch.Tensor) -> None:
        try:
            if hasattr(model, "generator"):  # a GAN's forward takes noise, not data: trace its generator
                add_graph(self.writer, model, example_input.shape[1:])
            else:
                self.writer.add_graph(model, example_input)
        except Exception as err:
            # the graph is a nicety: a model that fails here fails in training with its own sentence
            log.info("model graph not drawn in TensorBoard: %s: %s", type(err).__name__, err)
            self.writer.add_text("graph", f"model graph unavailable: {type(err).__name__}: {err}")

    def on_metrics(self, points: list[MetricPoint]) -> None:
        for p in points:
            self.writer.add_scalar(p.name, p.value, p.step, walltime=p.time)

    def on_train_end(self, result: TrainResult) -> None:
        self.writer.flush()
        self.writer.close()
