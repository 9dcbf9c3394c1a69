"""The epoch/step loop: accumulation groups, validation, schedulers, early stopping, checkpoints and
the resume position (epoch, batch, permutation) that makes a resumed run bit-identical."""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from dl.callbacks import Callback, Checkpoint, TrainResult
from dl.checkpoint import STATE_VERSION, restore_rng, rng_state, snapshot
from dl.config import TrainConfig
from dl.distributed import Dist
from dl.early import early_stop_reason
from dl.errors import DLError, TrainingError, mark_where, where_marked
from dl.loaders import Batch, LoaderBatches, TensorBatches
from dl.optim import PER_BATCH_SCHEDULERS, step_epoch_schedulers
from dl.reporting import Reporter, epoch_line


class Stepper(Protocol):
    model: torch.nn.Module
    optimizers: list[torch.optim.Optimizer]
    metric_names: tuple[str, ...]
    amp: Any

    def step(self, group: list[Batch], weights: list[float] | None = None) -> dict[str, Tensor]: ...
    def evaluate(self, batches: Any) -> dict[str, float]: ...


@dataclass
class Position:
    step: int = 0
    epoch: int = 0  # 0-based epoch in progress
    batch: int = 0  # batches of that epoch already trained
    perm: Tensor | None = None
    loss_sum: Tensor | None = None  # the epoch's step losses so far, kept on the device (no sync per step)
    loss_steps: int = 0
    early: dict[str, Any] = field(default_factory=lambda: {"best": None, "bad": 0})


class Loop:
    def __init__(self, stepper: Stepper, schedulers: list[Any], sched_type: str | None,
                 train: TensorBatches | LoaderBatches, val: TensorBatches | None, config: TrainConfig,
                 callback: Callback, total_steps: int, dist: Dist | None = None) -> None:
        self.s, self.schedulers, self.sched_type = stepper, schedulers, sched_type
        self.dist = dist
        self.main = dist is None or dist.main  # the rank that saves checkpoints
        self.train, self.val, self.cfg, self.cb = train, val, config, callback
        self.total_steps = total_steps
        self.shuffle = torch.Generator().manual_seed(config.seed + 1)
        self.pos = Position()
        self.report = Reporter(callback, stepper.metric_names, config.log_every_steps, total_steps)
        self.last_ckpt_step = -1
        self.early_stopped = False
        es = config.early_stopping
        # the epoch's mean train loss costs a device op per step: only kept when something reads it
        self.track_loss = sched_type == "ReduceLROnPlateau" or bool(es and es["metric"] == "train_loss")

    def run(self) -> TrainResult:
        while self.pos.epoch < self.cfg.epochs and not self._finished():
            if self.pos.perm is None:
                self.pos.perm = self._new_perm()
            self.report.epoch = self.pos.epoch + 1
            try:
                stopped = self._run_epoch()
            except Exception as err:  # e.g. a per-batch scheduler: keep the points, say where
                self._keep_points()
                if where_marked(err) is None and not isinstance(err, DLError):
                    mark_where(err, f"after step {self.pos.step}")
                raise
            if stopped:
                return self._finish("stopped")
            try:
                self._end_epoch()
            except Exception as err:  # validation, schedulers, checkpoint: not "at step N + 1"
                mark_where(err, f"at the end of epoch {self.report.epoch}, after step {self.pos.step}")
                raise
        return self._finish("succeeded")

    def _finished(self) -> bool:
        return self.early_stopped or self.pos.step >= self.total_steps

    def _new_perm(self) -> Tensor:
        n = self.train.n
        return torch.randperm(n, generator=self.shuffle) if self.cfg.shuffle else torch.arange(n)

    def _groups(self, perm: Tensor) -> Iterator[list[Batch]]:
        """Batches grouped for one optimizer step each (grad_accum_steps, a short group at epoch end)."""
        accum, total = self.cfg.grad_accum_steps, len(self.train)
        group: list[Batch] = []
        for batch in self.train.epoch(perm, self.pos.batch):
            group.append(batch)
            if len(group) == accum or self.pos.batch + len(group) >= total:
                yield group
                group = []

    def _sizes(self, group: list[Batch]) -> list[int]:
        """Samples of each batch of the group; data-parallel: of the global batches, not this rank's."""
        if self.dist is None:
            return [len(xb) for xb, _ in group]
        bs, n = self.train.batch_size, self.train.n
        return [min(bs, n - b * bs) for b in range(self.pos.batch, self.pos.batch + len(group))]

    def _step(self, group: list[Batch], sizes: list[int]) -> dict[str, Tensor]:
        try:
            if self.dist is None:
                return self.s.step(group)
            return self.dist.mean(self.s.step(group, self.dist.weights(sizes)))
        except TrainingError as err:  # the stepper names the failing call; only the loop knows the step
            self._keep_points()
            raise TrainingError(f"{err} at step {self.pos.step + 1}") from err
        except Exception as err:
            self._keep_points()
            mark_where(err, f"at step {self.pos.step + 1}")
            raise

    def _keep_points(self) -> None:
        """The steps before a failure keep their points and progress; a NaN among them yields to the
        failure at hand."""
        with contextlib.suppress(TrainingError):
            self.report.flush()

    def _should_stop(self) -> bool:
        stop = self.cb.should_stop()
        return stop if self.dist is None else self.dist.agree(stop)

    def _run_epoch(self) -> bool:
        """Train the rest of the epoch; True when a stop was requested (checkpoint already saved)."""
        t0, samples = time.perf_counter(), 0
        self.lr_used = self.s.optimizers[0].param_groups[0]["lr"]
        per_batch = self.sched_type in PER_BATCH_SCHEDULERS
        perm = self.pos.perm if self.pos.perm is not None else self._new_perm()
        for group in self._groups(perm):
            sizes = self._sizes(group)
            values = self._step(group, sizes)
            self.lr_used = self.s.optimizers[0].param_groups[0]["lr"]  # before a per-batch scheduler moves it
            self.pos.step += 1
            self.pos.batch += len(group)
            samples += sum(sizes)
            if self.track_loss:
                self._add_loss(values)
            self.report.record(self.pos.step, values)
            if per_batch and self.pos.step < self.total_steps:  # past the last step it would extrapolate
                for sch in self.schedulers:
                    sch.step()
            every = self.cfg.checkpoint_every_steps
            if every and self.pos.step % every == 0:
                self.checkpoint()
            if self.pos.step >= self.total_steps:
                break
            if self._should_stop():
                self.train_time = time.perf_counter() - t0
                self.checkpoint()
                return True
        self.train_time, self.samples = time.perf_counter() - t0, samples
        return False

    def _add_loss(self, values: dict[str, Tensor]) -> None:
        first = values[self.s.metric_names[0]].float()
        self.pos.loss_sum = first if self.pos.loss_sum is None else self.pos.loss_sum + first
        self.pos.loss_steps += 1

    def _end_epoch(self) -> None:
        self.report.flush()  # a NaN in this epoch fails it before any epoch-level point is computed
        t_val = time.perf_counter()
        if self.dist is not None and self.val is not None:
            self.dist.sync_buffers(self.s.model)  # every rank validates the model rank 0 checkpoints
        val = self.s.evaluate(self.val.epoch(torch.arange(self.val.n))) if self.val is not None else {}
        step, rep = self.pos.step, self.report
        for name, value in val.items():
            rep.epoch_point(name, step, value)
        rep.epoch_point("lr", step, self.lr_used)
        rep.epoch_point("epoch_time_s", step, self.train_time + time.perf_counter() - t_val)
        if self.train_time > 0:
            rep.epoch_point("samples_per_s", step, self.samples / self.train_time)
        train_loss = float(self.pos.loss_sum) / max(self.pos.loss_steps, 1) if self.pos.loss_sum is not None \
            else float("nan")
        step_epoch_schedulers(self.schedulers, self.sched_type, val.get("val_loss", train_loss))
        losses = self._epoch_losses(train_loss)
        self.cb.on_log(epoch_line(self.pos.epoch + 1, self.cfg.epochs, step, {**losses, **val}))
        self._early_stop({**val, "train_loss": train_loss})
        self.pos = Position(step=step, epoch=self.pos.epoch + 1, early=self.pos.early)
        rep.flush()
        every = self.cfg.checkpoint_every_epochs
        if every and self.pos.epoch % every == 0:
            self.checkpoint()

    def _epoch_losses(self, mean_loss: float) -> dict[str, float]:
        """For the epoch's log line: the mean loss where it was tracked, else the last logged step losses
        (train_loss, or d_loss/g_loss), never a NaN that training did not produce."""
        self.report.flush()  # the pending step losses reach report.last
        losses = {n: self.report.last[n] for n in self.s.metric_names if n in self.report.last}
        if self.pos.loss_sum is not None:
            losses[self.s.metric_names[0]] = mean_loss
        return losses

    def _early_stop(self, metrics: dict[str, float]) -> None:
        reason = early_stop_reason(self.cfg.early_stopping, metrics, self.pos.early)
        if reason is not None:
            self.early_stopped = True
            self.cb.on_log(reason)

    # -- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        pos = self.pos
        sched = [s.state_dict() for s in self.schedulers]
        return snapshot({
            "version": STATE_VERSION,
            "model": self.s.model.state_dict(),
            "optimizers": [opt.state_dict() for opt in self.s.optimizers],
            "schedulers": sched,
            "scaler": self.s.amp.scaler.state_dict(),
            "rng": rng_state(self.shuffle),
            "position": {"step": pos.step, "epoch": pos.epoch, "batch": pos.batch, "perm": pos.perm,
                         "loss_sum": pos.loss_sum, "loss_steps": pos.loss_steps},
            "early_stopping": dict(pos.early),
            "metrics": dict(self.report.last),
        })

    def checkpoint(self) -> None:
        self.report.flush()  # a NaN surfaces here rather than being saved
        if self.pos.step == self.last_ckpt_step or self.pos.step == 0:
            return
        if not self.main:  # rank 0 holds the same weights and saves them once
            self.last_ckpt_step = self.pos.step
            return
        state = self.state()
        epoch = self.pos.epoch + (1 if self.pos.batch else 0)
        self.cb.on_checkpoint(Checkpoint(self.pos.step, epoch, dict(self.report.last), state, state["model"]))
        self.last_ckpt_step = self.pos.step

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore everything but the model weights (loaded by the caller before the optimizers)."""
        for opt, sd in zip(self.s.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(sd)
        for sch, sd in zip(self.schedulers, state["schedulers"], strict=True):
            sch.load_state_dict(sd)
        self.s.amp.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"], self.shuffle)
        p = state["position"]
        loss_sum = p["loss_sum"].to(device) if p["loss_sum"] is not None else None
        self.pos = Position(step=p["step"], epoch=p["epoch"], batch=p["batch"], perm=p["perm"],
                            loss_sum=loss_sum, loss_steps=p["loss_steps"],
                            early=dict(state["early_stopping"]))
        self.report.last.update(state.get("metrics", {}))
        self.last_ckpt_step = self.pos.step

    def _finish(self, status: str) -> TrainResult:
        self.checkpoint()
        self.report.flush()
        epochs_done = self.pos.epoch
        return TrainResult(status=status, step=self.pos.step, epoch=epochs_done,  # type: ignore[arg-type]
                           metrics=dict(self.report.last))
