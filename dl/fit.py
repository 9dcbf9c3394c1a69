"""Whether a job config fits its dataset and task, from counts alone: what would otherwise fail (or
train nonsense) on a worker is a ConfigError at submit."""

import math
from typing import Any

from dl.config import MAX_INT, TrainConfig
from dl.data import DatasetInfo, val_size
from dl.errors import ConfigError
from dl.loaders import num_batches
from dl.optim import INDEX_TARGET_LOSSES

UNIT_INTERVAL_LOSSES = frozenset({"BCELoss", "BCEWithLogitsLoss"})  # targets must lie in [0, 1]


def check_loss_fits_task(task: str, loss: str, config: TrainConfig) -> None:
    if loss in INDEX_TARGET_LOSSES and task != "classification":
        raise ConfigError(("loss", "type"), f"{loss} needs class targets, but the task is {task}; "
                          "use MSELoss, L1Loss or SmoothL1Loss")
    if task == "reconstruction" and loss in UNIT_INTERVAL_LOSSES and config.normalize:
        raise ConfigError(("normalize",), f"{loss} needs targets in [0, 1], but normalize standardises the "
                          "inputs an autoencoder reconstructs; set normalize false")


def check_train_size(n_train: int, config: TrainConfig) -> None:
    """At least one training batch must come out of the split."""
    if n_train == 0 or (config.drop_last and n_train < config.batch_size):
        raise ConfigError(("batch_size",), f"the training split has {n_train} samples: too few for "
                          f"batch_size {config.batch_size}{' with drop_last' if config.drop_last else ''}")


def steps_of(batches_per_epoch: int, config: TrainConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, optimizer steps of the run) for that many batches per epoch."""
    per_epoch = math.ceil(batches_per_epoch / config.grad_accum_steps)
    total = per_epoch * config.epochs
    return per_epoch, min(total, config.max_steps) if config.max_steps else total


def train_steps(info: DatasetInfo, config: TrainConfig) -> int:
    """The run's optimizer steps, as the engine will count them; ConfigError when no batch fits."""
    n_train = info.num_samples - val_size(info.num_samples, config.val_fraction)
    if info.num_samples:
        check_train_size(n_train, config)
    _, total = steps_of(num_batches(n_train, config.batch_size, config.drop_last), config)
    if total > MAX_INT:  # only without max_steps (itself at most MAX_INT)
        raise ConfigError(("epochs",), f"{config.epochs} epochs are {total} steps, over {MAX_INT}; "
                          "lower epochs or set max_steps")
    return total


def check_scheduler_length(config: TrainConfig, total: int) -> None:
    """OneCycleLR raises once stepped past its length: a length shorter than the run cannot work."""
    sched: dict[str, Any] | None = config.scheduler
    if not sched or sched["type"] != "OneCycleLR":
        return
    length = sched.get("total_steps")
    if length is None and sched.get("epochs") is not None and sched.get("steps_per_epoch") is not None:
        length = int(sched["epochs"]) * int(sched["steps_per_epoch"])
    if length is not None and length < total - 1:  # the engine steps it after every step but the last
        raise ConfigError(("scheduler", "total_steps"), f"OneCycleLR is set for {length} steps but the job "
                          f"takes {total}; leave total_steps out (it defaults to the job's steps) or raise "
                          "it")


def check_last_batch(info: DatasetInfo, config: TrainConfig, one_sample_layer: str | None) -> None:
    """A last batch of one sample reaches a layer that cannot train on one (BatchNorm over [N, C])."""
    n_train = info.num_samples - val_size(info.num_samples, config.val_fraction)
    if one_sample_layer is None or config.drop_last or n_train % config.batch_size != 1:
        return
    raise ConfigError(("batch_size",), f"the last batch of each epoch holds 1 sample ({n_train} training "
                      f"samples, batch_size {config.batch_size}), and layer {one_sample_layer} cannot train "
                      "on one sample; set drop_last true or pick another batch_size")
