"""The job config: every key of the contract with its default, parsed strictly into a TrainConfig."""

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dl import optim
from dl.errors import ConfigError

TASKS = ("classification", "regression", "reconstruction", "gan")
PRECISIONS = ("32", "bf16", "16")
EARLY_STOPPING_METRICS = ("val_loss", "val_accuracy", "val_mae", "train_loss")
# torch.manual_seed takes up to 2**64 - 1 and the shuffle generator is seeded with seed + 1
MAX_SEED = 2**63 - 1
MAX_INT = 2**31 - 1  # counts are stored in 32-bit integer columns
MAX_GPUS = 64  # more than any one host has: DDP runs inside one host
MAX_LOADER_WORKERS = 64  # DataLoader worker processes on one host
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass
class TrainConfig:
    task: str | None = None
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 64
    optimizer: dict[str, Any] = field(default_factory=lambda: {"type": "Adam", "lr": 0.001})
    loss: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    val_fraction: float = 0.2
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = False
    normalize: bool = True
    num_workers: int = 0
    pin_memory: bool | None = None
    device: str = "auto"
    precision: str = "32"
    compile: bool = False
    grad_clip_norm: float | None = None
    grad_accum_steps: int = 1
    checkpoint_every_epochs: int | None = 1
    checkpoint_every_steps: int | None = None
    keep_checkpoints: int = 3
    early_stopping: dict[str, Any] | None = None
    log_every_steps: int = 1
    gpus: int | None = None
    max_restarts: int = 3
    init_from: dict[str, Any] | None = None
    freeze: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _int(loc: tuple[Any, ...], v: Any, low: int | None = None, optional: bool = False,
         high: int = MAX_INT) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(loc, f"must be an integer{' or null' if optional else ''}, got {v!r}")
    if low is not None and v < low:
        raise ConfigError(loc, f"must be at least {low}, got {v}")
    if v > high:
        raise ConfigError(loc, f"must be at most {high}, got {v}")
    return v


def _float(loc: tuple[Any, ...], v: Any, optional: bool = False) -> float | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(loc, f"must be a finite number{' or null' if optional else ''}, got {v!r}")
    return float(v)


def _bool(loc: tuple[Any, ...], v: Any, optional: bool = False) -> bool | None:
    if v is None and optional:
        return None
    if not isinstance(v, bool):
        raise ConfigError(loc, f"must be true or false, got {v!r}")
    return v


def _choice(loc: tuple[Any, ...], v: Any, choices: tuple[str, ...], optional: bool = False) -> str | None:
    if v is None and optional:
        return None
    if v not in choices:
        raise ConfigError(loc, f"must be one of {', '.join(choices)}, got {v!r}")
    return str(v)


def _section(name: str, v: Any, default_type: str | None = None) -> dict[str, Any] | None:
    """optimizer/loss/scheduler: null, a type name, or {"type": ..., args}; args checked against torch."""
    if v is None:
        return None
    raw = {"type": v} if isinstance(v, str) else v
    if not isinstance(raw, dict):
        raise ConfigError((name,), f"must be an object like {{\"type\": ...}}, got {v!r}")
    raw = dict(raw)
    if "type" not in raw and default_type is not None:
        raw["type"] = default_type  # {"lr": 0.01} keeps the default optimizer type
    optim.check_args(name, raw)
    _check_numbers(name, raw)
    return raw


def _check_numbers(name: str, raw: dict[str, Any]) -> None:
    for key in ("lr", "max_lr", "base_lr", "weight_decay"):
        if key in raw and not isinstance(raw[key], list | tuple):
            value = _float((name, key), raw[key])
            if value is not None and value < 0:
                raise ConfigError((name, key), f"must not be negative, got {value}")


def _precision(v: Any) -> str:
    text = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return str(_choice(("precision",), text, PRECISIONS))


def _device(v: Any) -> str:
    if not isinstance(v, str) or not _DEVICE_RE.match(v):
        raise ConfigError(("device",), f"must be auto, cpu, cuda or cuda:N, got {v!r}")
    return v


def _val_fraction(v: Any) -> float:
    value = _float(("val_fraction",), v)
    if value is None or not 0 <= value < 1:
        raise ConfigError(("val_fraction",), f"must be in [0, 1), got {v!r}")
    return value


def _positive_float(loc: str) -> Callable[[Any], float | None]:
    def check(v: Any) -> float | None:
        value = _float((loc,), v, optional=True)
        if value is not None and value <= 0:
            raise ConfigError((loc,), f"must be positive, got {value}")
        return value
    return check


def _early_stopping(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ConfigError(("early_stopping",), "must be null or {\"metric\", \"mode\", \"patience\"}")
    for key in v:
        if key not in ("metric", "mode", "patience", "min_delta"):
            raise ConfigError(("early_stopping", key), "unknown key; use metric, mode, patience, min_delta")
    metric = _choice(("early_stopping", "metric"), v.get("metric", "val_loss"), EARLY_STOPPING_METRICS)
    default_mode = "max" if metric == "val_accuracy" else "min"
    mode = _choice(("early_stopping", "mode"), v.get("mode", default_mode), ("min", "max"))
    patience = _int(("early_stopping", "patience"), v.get("patience", 5), low=0)
    min_delta = _float(("early_stopping", "min_delta"), v.get("min_delta", 0.0))
    if min_delta is not None and min_delta < 0:
        raise ConfigError(("early_stopping", "min_delta"), "must not be negative")
    return {"metric": metric, "mode": mode, "patience": patience, "min_delta": min_delta}


def _init_from(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict) or "job_id" not in v:
        raise ConfigError(("init_from",), "must be null or {\"job_id\": ID, \"step\": S}")
    for key in v:
        if key not in ("job_id", "step"):
            raise ConfigError(("init_from", key), "unknown key; use job_id and step")
    return {"job_id": _int(("init_from", "job_id"), v["job_id"], low=1),
            "step": _int(("init_from", "step"), v.get("step"), low=0, optional=True)}


def _freeze(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise ConfigError(("freeze",), f"must be a list of module paths, got {v!r}")
    for i, path in enumerate(v):
        if not isinstance(path, str) or not path:
            raise ConfigError(("freeze", i), f"must be a module path like 'layers.0', got {path!r}")
    return list(v)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "task": lambda v: _choice(("task",), v, TASKS, optional=True),
    "epochs": lambda v: _int(("epochs",), v, low=1),
    "max_steps": lambda v: _int(("max_steps",), v, low=1, optional=True),
    "batch_size": lambda v: _int(("batch_size",), v, low=1),
    "optimizer": lambda v: _section("optimizer", v, default_type="Adam") or _missing("optimizer"),
    "loss": lambda v: _section("loss", v),
    "scheduler": lambda v: _section("scheduler", v),
    "val_fraction": _val_fraction,
    "seed": lambda v: _int(("seed",), v, low=0, high=MAX_SEED),
    "shuffle": lambda v: _bool(("shuffle",), v),
    "drop_last": lambda v: _bool(("drop_last",), v),
    "normalize": lambda v: _bool(("normalize",), v),
    "num_workers": lambda v: _int(("num_workers",), v, low=0, high=MAX_LOADER_WORKERS),
    "pin_memory": lambda v: _bool(("pin_memory",), v, optional=True),
    "device": _device,
    "precision": _precision,
    "compile": lambda v: _bool(("compile",), v),
    "grad_clip_norm": _positive_float("grad_clip_norm"),
    "grad_accum_steps": lambda v: _int(("grad_accum_steps",), v, low=1),
    "checkpoint_every_epochs": lambda v: _int(("checkpoint_every_epochs",), v, low=1, optional=True),
    "checkpoint_every_steps": lambda v: _int(("checkpoint_every_steps",), v, low=1, optional=True),
    "keep_checkpoints": lambda v: _int(("keep_checkpoints",), v, low=1),
    "early_stopping": _early_stopping,
    "log_every_steps": lambda v: _int(("log_every_steps",), v, low=1),
    "gpus": lambda v: _int(("gpus",), v, low=1, optional=True, high=MAX_GPUS),
    "max_restarts": lambda v: _int(("max_restarts",), v, low=0),
    "init_from": _init_from,
    "freeze": _freeze,
}


def _missing(name: str) -> dict[str, Any]:
    raise ConfigError((name,), "must not be null")


def _cross_checks(cfg: TrainConfig) -> None:
    es = cfg.early_stopping
    if es is not None and es["metric"] != "train_loss" and cfg.val_fraction == 0:
        raise ConfigError(("early_stopping", "metric"), f"{es['metric']} needs validation; val_fraction is 0")
    if cfg.optimizer["type"] == "LBFGS" and cfg.grad_accum_steps != 1:
        raise ConfigError(("grad_accum_steps",), "LBFGS re-evaluates the loss itself; use grad_accum_steps 1")
    if cfg.optimizer["type"] == "LBFGS" and cfg.precision == "16":
        raise ConfigError(("precision",), "LBFGS cannot run with fp16 gradient scaling; use 32 or bf16")
    if cfg.gpus is not None and cfg.gpus > 1:
        _data_parallel_checks(cfg)
    optim.probe(cfg.optimizer, cfg.loss, cfg.scheduler)


def _data_parallel_checks(cfg: TrainConfig) -> None:
    """What gpus > 1 (DDP) cannot combine with; a GAN model with task null is refused by plan_job."""
    if cfg.optimizer["type"] == "LBFGS":
        raise ConfigError(("gpus",), "LBFGS re-evaluates the loss itself and cannot train data-parallel; "
                          "set gpus to 1 or null")
    if cfg.task == "gan":
        raise ConfigError(("gpus",), "a GAN trains on one device; set gpus to 1 or null")
    if cfg.device.startswith("cuda:"):
        raise ConfigError(("device",), f"device {cfg.device} pins one GPU but gpus is {cfg.gpus}; use auto")


def parse_config(raw: Any) -> TrainConfig:
    """A TrainConfig from the job's JSON config; ConfigError(loc, msg) for anything wrong."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError((), f"the config must be a JSON object, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _PARSERS:
            raise ConfigError((key,), f"unknown config key {key!r}")
        values[key] = _PARSERS[key](value)
    cfg = TrainConfig(**values)
    _cross_checks(cfg)
    return cfg
