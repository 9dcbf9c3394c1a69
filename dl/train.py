"""train(): data split and normalisation, device placement, task stepper, resume, then the loop."""

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from dl.callbacks import Callback, CallbackList, Checkpoint, MetricPoint, NullCallback, TrainResult
from dl.config import TrainConfig
from dl.data import ArrayData, apply_normalization, fit_normalization, split_indices
from dl.distributed import Dist, local_cuda_device
from dl.errors import ConfigError, DLError
from dl.fit import check_train_size, steps_of
from dl.gan import GanStepper
from dl.loaders import LoaderBatches, TensorBatches, make_batches
from dl.loop import Loop, Stepper
from dl.modules import takes_token_ids
from dl.optim import build_loss, build_optimizer, build_scheduler
from dl.plan import resolve_task
from dl.tasks import Amp, SupervisedStepper

Batches = TensorBatches | LoaderBatches
__all__ = ["Callback", "CallbackList", "Checkpoint", "MetricPoint", "NullCallback", "TrainResult", "train",
           "resolve_device"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(("device",), f"device {name} was asked for but this worker has no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(("device",), "device mps was asked for but this worker has no MPS device; "
                          "use auto or cpu")
    return torch.device(name)


def _prepare_model(model: nn.Module, config: TrainConfig, init_weights: dict[str, Tensor] | None,
                   device: torch.device) -> None:
    if init_weights is not None:
        problem = _weights_problem(model, init_weights)
        if problem is not None:
            raise ConfigError(("init_from",), f"the initial weights do not fit this model: {problem}")
        model.load_state_dict(init_weights)
    for i, path in enumerate(config.freeze):
        try:
            module = model.get_submodule(path)
        except AttributeError as err:
            raise ConfigError(("freeze", i), f"the model has no module {path!r}") from err
        module.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(("freeze",), "no trainable parameter is left")
    model.to(device)


def _weights_problem(model: nn.Module, weights: dict[str, Tensor]) -> str | None:
    """What keeps `weights` from loading into `model`, naming the tensors and shapes; None if they fit."""
    own = model.state_dict()
    problems = [f"{k} is {list(w.shape)} in the weights but {list(own[k].shape)} in the model"
                for k, w in weights.items() if k in own and w.shape != own[k].shape]
    missing, unexpected = [k for k in own if k not in weights], [k for k in weights if k not in own]
    if missing:
        problems.append(f"the weights lack {_few(missing)}")
    if unexpected:
        problems.append(f"the model has no {_few(unexpected)}")
    return "; ".join(problems[:3]) or None


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (" and more" if len(names) > 3 else "")


def _compiler(config: TrainConfig) -> Callable[[nn.Module], Callable[[Tensor], Tensor]]:
    if config.compile:
        return lambda m: torch.compile(m)  # type: ignore[return-value]
    return lambda m: m


def _trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def _stepper(model: nn.Module, task: str, loss_name: str, config: TrainConfig,
             device: torch.device, dist: Dist | None) -> Stepper:
    amp = Amp(config.precision, device)
    loss_fn = build_loss(config.loss or {"type": loss_name}).to(device)
    if task == "gan":
        opt_d = build_optimizer(config.optimizer, _trainable(model.discriminator))  # type: ignore[arg-type]
        opt_g = build_optimizer(config.optimizer, _trainable(model.generator))  # type: ignore[arg-type]
        return GanStepper(model, _compiler(config), loss_fn, opt_d, opt_g, amp, config.grad_clip_norm)
    opt = build_optimizer(config.optimizer, _trainable(model))
    if dist is None:
        return SupervisedStepper(model, _compiler(config)(model), task, loss_fn, loss_name, opt, amp,
                                 config.grad_clip_norm)
    ddp = dist.wrap(model, device)
    return SupervisedStepper(model, _compiler(config)(ddp), task, loss_fn, loss_name, opt, amp,
                             config.grad_clip_norm, eval_fwd=_compiler(config)(model), no_sync=ddp.no_sync,
                             reduce=dist.sum)


def _split(data: ArrayData, config: TrainConfig,
           normalize: bool) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None,
                                     dict[str, list[float]] | None]:
    train_idx, val_idx = split_indices(len(data.x), config.val_fraction, config.seed)
    x, norm = data.x, None
    if normalize:
        norm = fit_normalization(x[train_idx], data.info.input_shape)
        if norm is not None:
            x = apply_normalization(x, norm, data.info.input_shape)
    y = data.y
    return (x[train_idx], None if y is None else y[train_idx], x[val_idx],
            None if y is None else y[val_idx], norm)


def _describe(model: nn.Module, input_shape: list[int]) -> dict[str, Any] | None:
    try:
        from dl.summary import describe
    except ImportError:
        return None
    try:
        return describe(model, input_shape)
    except (DLError, RuntimeError, ValueError, TypeError):
        return None  # a Python model may not trace; the summary is a nicety


def _announce(cb: Callback, model: nn.Module, example: Tensor, info: dict[str, Any]) -> None:
    """Graph writers trace the model: in eval mode with the RNG forked, so training is not perturbed."""
    with torch.random.fork_rng(devices=[]):
        was_training = model.training
        model.eval()
        cb.on_model(model, example)
        model.train(was_training)
    cb.on_train_start(info)


def _loaders(x_tr: Tensor, y_tr: Tensor | None, x_val: Tensor, y_val: Tensor | None, config: TrainConfig,
             dev: torch.device, sampler: Iterable[int] | None,
             collate_fn: Callable[[list[Any]], Any] | None,
             dist: Dist | None) -> tuple[Batches, TensorBatches | None]:
    check_train_size(len(x_tr), config)
    train_b = make_batches(x_tr, y_tr, config.batch_size, config.drop_last, dev,
                           num_workers=config.num_workers, pin_memory=config.pin_memory,
                           sampler=sampler, collate_fn=collate_fn, shard=dist.train_shard if dist else None)
    val_b = TensorBatches(x_val, y_val, config.batch_size, False, dev,
                          shard=dist.shard if dist else None) if len(x_val) else None
    return train_b, val_b


def _loop(stepper: Stepper, train_b: Batches, val_b: TensorBatches | None, config: TrainConfig,
          cb: Callback, dist: Dist | None) -> Loop:
    """The loop with its schedulers; OneCycleLR spans the run's optimizer steps."""
    _, total = steps_of(len(train_b), config)
    sched = config.scheduler
    schedulers = [build_scheduler(sched, opt, total) for opt in stepper.optimizers] if sched else []
    return Loop(stepper, schedulers, sched["type"] if sched else None, train_b, val_b, config, cb, total,
                dist)


def train(model: nn.Module, data: ArrayData, config: TrainConfig, *, callbacks: Callback | None = None,
          resume: dict[str, Any] | None = None, device: str | None = None,
          init_weights: dict[str, Tensor] | None = None, sampler: Iterable[int] | None = None,
          collate_fn: Callable[[list[Any]], Any] | None = None) -> TrainResult:
    """Train `model` on `data`; `resume` is a Checkpoint.state. Seed the global RNG with config.seed
    before building the model so that one seed fixes the initial weights too.

    Inside an initialised torch.distributed process group of 2+ ranks (every rank calls train() with the
    same arguments) it trains data-parallel; only rank 0's callbacks are called (see dl.distributed)."""
    dist = Dist.current()
    cb = callbacks if callbacks is not None and (dist is None or dist.main) else NullCallback()
    dev = resolve_device(device or config.device)
    if dist is not None and dev.type == "cuda" and dev.index is None:
        dev = local_cuda_device()
    task, loss_name = resolve_task(data.info, config, hasattr(model, "generator"))
    if dist is not None:
        dist.check(task, sampler is not None)
    # token ids feeding an Embedding are not features: standardising them would corrupt the ids
    x_tr, y_tr, x_val, y_val, norm = _split(data, config, config.normalize and not takes_token_ids(model))
    train_b, val_b = _loaders(x_tr, y_tr, x_val, y_val, config, dev, sampler, collate_fn, dist)
    _prepare_model(model, config, None if resume else init_weights, dev)
    if resume is not None:
        model.load_state_dict(resume["model"])
    else:
        torch.manual_seed(config.seed)  # dropout and GAN noise
    stepper = _stepper(model, task, loss_name, config, dev, dist)
    loop = _loop(stepper, train_b, val_b, config, cb, dist)
    if resume is not None:
        loop.load(resume, dev)
    _announce(cb, model, x_tr[:2].to(dev), {
        "total_steps": loop.total_steps, "epochs": config.epochs, "task": task,
        "steps_per_epoch": steps_of(len(train_b), config)[0],
        "model": _describe(model, data.info.input_shape)})
    result = loop.run()
    result.normalization = norm
    cb.on_train_end(result)
    return result
