"""Allow-lists of torch optimizers, losses and LR schedulers, and their construction from config dicts.

Lookups go through these explicit tables only, never getattr on a module with a user-given name.
"""

import inspect
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler as sched

from dl.argtypes import argument_problem
from dl.errors import ConfigError

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    cls.__name__: cls
    for cls in (
        torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.Adamax, torch.optim.NAdam,
        torch.optim.RAdam, torch.optim.Adagrad, torch.optim.Adadelta, torch.optim.ASGD,
        torch.optim.RMSprop, torch.optim.Rprop, torch.optim.LBFGS, torch.optim.SparseAdam,
    )
}
# Newer than the oldest torch we run on (the Docker image's 2.8): offered where this torch has them.
OPTIMIZERS.update({n: getattr(torch.optim, n) for n in ("Adafactor", "Muon") if hasattr(torch.optim, n)})

# Losses called as loss(output, target); three-input ones (triplet, ranking, CTC, Gaussian NLL) are left out.
LOSSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        nn.L1Loss, nn.MSELoss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
        nn.CrossEntropyLoss, nn.NLLLoss, nn.KLDivLoss, nn.PoissonNLLLoss, nn.SoftMarginLoss,
        nn.MultiLabelSoftMarginLoss, nn.MultiMarginLoss, nn.HingeEmbeddingLoss,
    )
}

SCHEDULERS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        sched.StepLR, sched.MultiStepLR, sched.ConstantLR, sched.LinearLR, sched.ExponentialLR,
        sched.PolynomialLR, sched.CosineAnnealingLR, sched.CosineAnnealingWarmRestarts,
        sched.CyclicLR, sched.OneCycleLR, sched.ReduceLROnPlateau,
    )
}

# Stepped after every optimizer step rather than every epoch.
PER_BATCH_SCHEDULERS = frozenset({"OneCycleLR", "CyclicLR"})
# Losses whose target is a class index, not a float tensor shaped like the output.
INDEX_TARGET_LOSSES = frozenset({"CrossEntropyLoss", "NLLLoss", "MultiMarginLoss"})
LOSS_TENSOR_ARGS = frozenset({"weight", "pos_weight"})

# Arguments the engine owns (the model's parameters, resume position, callables, deprecated flags).
_RESERVED = {
    "optimizer": {"params", "differentiable", "capturable"},
    "scheduler": {"optimizer", "last_epoch", "scale_fn", "verbose"},
    "loss": {"size_average", "reduce"},
}
_KINDS: dict[str, dict[str, type[Any]]] = {"optimizer": OPTIMIZERS, "loss": LOSSES, "scheduler": SCHEDULERS}


def check_args(section: str, raw: dict[str, Any]) -> None:
    """Type in the allow-list, every argument a keyword the torch class takes -> else ConfigError."""
    table = _KINDS[section]
    name = raw.get("type")
    if not isinstance(name, str) or name not in table:
        allowed = ", ".join(sorted(table))
        raise ConfigError((section, "type"), f"unknown {section} type {name!r}; choose one of {allowed}")
    params = inspect.signature(table[name]).parameters
    accepted = set(params) - _RESERVED[section]
    for key in raw:
        if key != "type" and key not in accepted:
            raise ConfigError((section, key), f"{name} takes no argument {key!r}; it takes "
                              f"{', '.join(sorted(accepted)) or 'none'}")
    for key in sorted(accepted):
        if params[key].default is inspect.Parameter.empty and key not in raw:
            raise ConfigError((section, key), f"{name} needs the argument {key!r}")
    for key, value in raw.items():
        problem = None if key == "type" else argument_problem(table[name], key, value)
        if problem:
            raise ConfigError((section, key), f"{name} takes {key} as {problem}")
    if section == "loss" and raw.get("reduction", "mean") not in ("mean", "batchmean"):
        raise ConfigError(("loss", "reduction"), "the engine needs a mean loss: use 'mean' (or 'batchmean')")


def _kwargs(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "type"}


def _construction_error(section: str, name: str, err: Exception) -> ConfigError:
    return ConfigError((section,), f"{name} rejected its arguments: {err}")


def build_optimizer(raw: dict[str, Any], params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    check_args("optimizer", raw)
    try:
        return OPTIMIZERS[raw["type"]](params, **_kwargs(raw))
    except Exception as err:  # torch raises anything (IndexError, ZeroDivisionError...) on bad values
        raise _construction_error("optimizer", raw["type"], err) from err


def build_loss(raw: dict[str, Any]) -> nn.Module:
    check_args("loss", raw)
    kwargs = _kwargs(raw)
    if raw["type"] == "KLDivLoss":
        kwargs.setdefault("reduction", "batchmean")  # KL proper; "mean" also divides by classes
    try:
        for key in LOSS_TENSOR_ARGS & kwargs.keys():
            kwargs[key] = torch.as_tensor(kwargs[key], dtype=torch.float32)
        return LOSSES[raw["type"]](**kwargs)
    except Exception as err:  # torch raises anything (IndexError, ZeroDivisionError...) on bad values
        raise _construction_error("loss", raw["type"], err) from err


def build_scheduler(raw: dict[str, Any], optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """A scheduler; OneCycleLR without a length gets the run's number of optimizer steps."""
    check_args("scheduler", raw)
    kwargs = _kwargs(raw)
    if raw["type"] == "OneCycleLR" and not {"total_steps", "epochs"} & kwargs.keys():
        kwargs["total_steps"] = max(1, total_steps)
    try:
        return SCHEDULERS[raw["type"]](optimizer, **kwargs)
    except Exception as err:  # torch raises anything (IndexError, ZeroDivisionError...) on bad values
        raise _construction_error("scheduler", raw["type"], err) from err


def probe(raw_opt: dict[str, Any], raw_loss: dict[str, Any] | None, raw_sched: dict[str, Any] | None) -> None:
    """Build the optimizer and scheduler on a small parameter and take a few steps, so argument values
    that only fail once training runs are refused at submit time."""
    param = nn.Parameter(torch.ones(2, 2))
    opt = build_optimizer(raw_opt, [param])
    if raw_loss is not None:
        build_loss(raw_loss)
    scheduler = build_scheduler(raw_sched, opt, total_steps=100) if raw_sched is not None else None
    if raw_opt["type"] == "SparseAdam":  # needs sparse gradients: plan_job refuses it with the reason
        return
    for _ in range(3):
        _stepped("optimizer", raw_opt["type"], lambda: opt.step(lambda: _quadratic(opt, param)))
        if raw_sched is not None:
            _stepped("scheduler", raw_sched["type"], lambda: _step_scheduler(scheduler))


def probe_loss(raw: dict[str, Any], outputs: int) -> None:
    """Evaluate the loss on a batch of two shaped like the job's model output, so argument values that
    only fail on real tensors (a class `weight` of the wrong length) are refused at submit time."""
    out = torch.zeros(2, outputs)  # (B, outputs)
    index = raw["type"] in INDEX_TARGET_LOSSES
    target = torch.zeros(2, dtype=torch.long) if index else torch.full((2, outputs), 0.5)
    _stepped("loss", raw["type"], lambda: build_loss(raw)(out, target))


def _stepped(section: str, name: str, step: Callable[[], Any]) -> None:
    try:
        step()
    except Exception as err:  # whatever torch raises on these values, the user's config caused it
        raise ConfigError((section,), f"{name} fails with these arguments: {err}") from err


def _quadratic(opt: torch.optim.Optimizer, param: torch.Tensor) -> float:
    opt.zero_grad()
    loss = (param ** 2).sum()
    loss.backward()
    return float(loss.detach())


def _step_scheduler(scheduler: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. deprecation notices: not the user's concern
        if isinstance(scheduler, sched.ReduceLROnPlateau):
            scheduler.step(1.0)
        else:
            scheduler.step()


def step_epoch_schedulers(schedulers: list[Any], sched_type: str | None, plateau_metric: float) -> None:
    """The end-of-epoch scheduler step (per-batch ones step in the loop; ReduceLROnPlateau reads a metric)."""
    with warnings.catch_warnings():
        # spurious right after a resume at an epoch's end, or when fp16 scaling skipped a step
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
        for sch in schedulers:
            if sched_type == "ReduceLROnPlateau":
                sch.step(plateau_metric)
            elif sched_type is not None and sched_type not in PER_BATCH_SCHEDULERS:
                sch.step()
