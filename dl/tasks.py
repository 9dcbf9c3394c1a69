"""One optimizer step per task: supervised (classification, regression, reconstruction) and GAN.

A stepper owns the model's forward (eager or compiled), the loss, the optimizers and the AMP scaler."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from dl.errors import TrainingError
from dl.loaders import Batch
from dl.optim import INDEX_TARGET_LOSSES

LOGIT_LOSSES = frozenset({"BCEWithLogitsLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss"})


class Amp:
    """Autocast for bf16/fp16 and, for fp16, a GradScaler; both no-ops at 32-bit. fp16 also runs on
    CPU (CPU autocast has float16 kernels and GradScaler("cpu") exists), just without a speed-up."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.dtype = {"bf16": torch.bfloat16, "16": torch.float16}.get(precision)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def _call(fn: Callable[..., Tensor], what: str, *args: Tensor) -> Tensor:
    """Turn a shape error inside the model or loss into a sentence naming the shapes."""
    try:
        return fn(*args)
    except (RuntimeError, ValueError, IndexError) as err:
        shapes = " and ".join(str(list(a.shape)) for a in args)
        hint = _INTEGER_INPUT_HINT if args and not args[0].is_floating_point() and "dtype" in str(err) else ""
        raise TrainingError(f"{what} failed on input of shape {shapes}: {str(err).splitlines()[0]}{hint}") \
            from err


# Integer features are kept as token ids (for Embedding); a float layer first cannot take them.
_INTEGER_INPUT_HINT = (" (the dataset's x holds integer token ids: start the model with Embedding, "
                       "or store x as floats)")


Forward = Callable[[Tensor], Tensor]


class SupervisedStepper:
    """Data-parallel training passes `eval_fwd` (the unwrapped model: no collective in its forward),
    `no_sync` (DDP's, for accumulation) and `reduce` (sums validation totals across ranks)."""

    def __init__(self, model: nn.Module, fwd: Forward, task: str, loss_fn: nn.Module,
                 loss_name: str, optimizer: torch.optim.Optimizer, amp: Amp, clip: float | None, *,
                 eval_fwd: Forward | None = None,
                 no_sync: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
                 reduce: Callable[[list[float]], list[float]] | None = None) -> None:
        self.model, self.fwd, self.task, self.loss_fn, self.loss_name = model, fwd, task, loss_fn, loss_name
        # `is None`, not `or`: a compiled module's truth test calls len() on the model
        self.eval_fwd = fwd if eval_fwd is None else eval_fwd
        self.no_sync, self.reduce = no_sync, reduce
        self.optimizers = [optimizer]
        self.amp, self.clip = amp, clip
        self.lbfgs = isinstance(optimizer, torch.optim.LBFGS)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.metric_names: tuple[str, ...] = ("train_loss",)

    def target(self, xb: Tensor, yb: Tensor | None, out: Tensor) -> Tensor:
        if self.task == "reconstruction" or yb is None:
            return xb.reshape(out.shape) if xb.numel() == out.numel() else xb
        if self.task == "classification" and self.loss_name not in INDEX_TARGET_LOSSES:
            if out.shape[-1] == 1:
                return yb.to(out.dtype).reshape(out.shape)  # binary: one output unit
            return nn.functional.one_hot(yb, out.shape[-1]).to(out.dtype)
        if self.task == "regression" and yb.shape != out.shape and yb.numel() == out.numel():
            return yb.reshape(out.shape)
        return yb

    def loss(self, xb: Tensor, yb: Tensor | None, fwd: Forward | None = None) -> tuple[Tensor, Tensor]:
        with self.amp.autocast():
            out = _call(self.fwd if fwd is None else fwd, "the model", xb)
            tgt = self.target(xb, yb, out)
            return _call(self.loss_fn, f"the loss {self.loss_name}", out, tgt), out

    def step(self, group: list[Batch], weights: list[float] | None = None) -> dict[str, Tensor]:
        """One optimizer step; `weights` scale each micro-batch's loss (default: its share of samples,
        so k micro-batches equal one large batch)."""
        if self.lbfgs:
            return {"train_loss": self._lbfgs_step(*group[0])}
        opt, scaler = self.optimizers[0], self.amp.scaler
        opt.zero_grad(set_to_none=True)
        if weights is None and len(group) > 1:
            sizes = [len(xb) for xb, _ in group]
            weights = [size / sum(sizes) for size in sizes]
        losses: list[Tensor] = []
        for i, (xb, yb) in enumerate(group):
            last = i == len(group) - 1
            with self.no_sync() if self.no_sync is not None and not last else contextlib.nullcontext():
                loss, _ = self.loss(xb, yb)
                if weights is not None:
                    loss = loss * weights[i]
                scaler.scale(loss).backward()
            losses.append(loss.detach())
        if self.clip is not None:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(self.params, self.clip)
        scaler.step(opt)
        scaler.update()
        return {"train_loss": losses[0] if len(losses) == 1 else torch.stack(losses).sum()}

    def _lbfgs_step(self, xb: Tensor, yb: Tensor | None) -> Tensor:
        opt = self.optimizers[0]

        def closure() -> Tensor:
            opt.zero_grad(set_to_none=True)
            loss, _ = self.loss(xb, yb)
            loss.backward()
            if self.clip is not None:
                nn.utils.clip_grad_norm_(self.params, self.clip)
            return loss

        loss = opt.step(closure)  # type: ignore[arg-type]
        return torch.as_tensor(loss).detach()

    @torch.no_grad()
    def evaluate(self, batches: Iterator[Batch]) -> dict[str, float]:
        """Sample-weighted means; sums stay on the device until one transfer at the end."""
        self.model.eval()
        n, sums = 0, []
        for xb, yb in batches:
            loss, out = self.loss(xb, yb, self.eval_fwd)
            size = len(xb)
            n += size
            extra = torch.zeros((), device=loss.device)  # correct predictions, or absolute error sum
            if self.task == "classification" and yb is not None:
                extra = (self._predict(out) == yb).sum().float()
            elif self.task == "regression" and yb is not None:
                extra = (out.float() - self.target(xb, yb, out).float()).abs().mean() * size
            sums.append(torch.stack([loss.float() * size, extra]))
        self.model.train()
        loss_sum, extra_sum = torch.stack(sums).sum(0).tolist() if sums else (0.0, 0.0)
        if self.reduce is not None:  # this rank's shares of the validation batches -> the whole split
            loss_sum, extra_sum, total = self.reduce([loss_sum, extra_sum, float(n)])
            n = round(total)
        if n == 0:
            return {}
        metrics = {"val_loss": loss_sum / n}
        if self.task in ("classification", "regression"):
            metrics["val_accuracy" if self.task == "classification" else "val_mae"] = extra_sum / n
        return metrics

    def _predict(self, out: Tensor) -> Tensor:
        if out.shape[-1] == 1:
            threshold = 0.0 if self.loss_name in LOGIT_LOSSES else 0.5
            return (out.reshape(-1) > threshold).long()
        return out.argmax(dim=-1)
