"""The dry run behind POST /jobs: task, loss and output size from the dataset, and a shape check of
the spec-built model on the "meta" device (no weights allocated)."""

import math
from dataclasses import dataclass
from typing import Any

from dl.config import TrainConfig
from dl.data import DatasetInfo
from dl.errors import ConfigError, ShapeError
from dl.fit import check_last_batch, check_loss_fits_task, check_scheduler_length, train_steps
from dl.optim import INDEX_TARGET_LOSSES, probe_loss

DEFAULT_LOSS = {"classification": "CrossEntropyLoss", "regression": "MSELoss",
                "reconstruction": "MSELoss", "gan": "BCEWithLogitsLoss"}
_TASK_FOR_KIND = {"classes": "classification", "values": "regression", "none": "reconstruction"}
_VAL_METRIC_TASK = {"val_accuracy": "classification", "val_mae": "regression"}


@dataclass
class JobPlan:
    task: str
    num_outputs: int
    loss: str
    parameters: int
    output_shape: list[int]


def is_gan_spec(spec: dict[str, Any] | None) -> bool:
    return isinstance(spec, dict) and "generator" in spec


def resolve_task(info: DatasetInfo, config: TrainConfig, gan: bool) -> tuple[str, str]:
    """(task, loss type) after defaults; ConfigError when the task does not fit the data or model."""
    kind = info.target.get("kind", "none")
    task = config.task or ("gan" if gan else _TASK_FOR_KIND.get(kind, "reconstruction"))
    if task == "classification" and kind != "classes":
        raise ConfigError(("task",), f"classification needs a dataset with classes; its target is {kind}")
    if task == "regression" and kind != "values":
        raise ConfigError(("task",), f"regression needs a dataset with float values; its target is {kind}")
    if (task == "gan") != gan:
        raise ConfigError(("task",), "the gan task needs a GAN model ({generator, discriminator, latent_dim})"
                          if task == "gan" else f"a GAN model trains with task gan, not {task}")
    loss = config.loss["type"] if config.loss else DEFAULT_LOSS[task]
    _check_task_options(task, config)
    return task, loss


def _check_task_options(task: str, config: TrainConfig) -> None:
    es = config.early_stopping
    if es is not None and _VAL_METRIC_TASK.get(es["metric"], task) != task:
        raise ConfigError(("early_stopping", "metric"), f"{es['metric']} is not measured for task {task}")
    if es is not None and task == "gan":
        raise ConfigError(("early_stopping",), "a GAN has no validation loss to stop on")
    if task == "gan" and (config.grad_accum_steps != 1 or config.optimizer["type"] == "LBFGS"):
        raise ConfigError(("optimizer",), "a GAN trains one step per batch: no LBFGS, grad_accum_steps 1")
    if task == "gan" and (config.gpus or 0) > 1:  # a GAN model with task left null lands here at submit
        raise ConfigError(("gpus",), "a GAN trains on one device; set gpus to 1 or null")


def num_outputs(task: str, loss: str, info: DatasetInfo) -> int:
    if task == "classification":
        classes = int(info.target["num_classes"])
        binary_single = classes == 2 and loss not in INDEX_TARGET_LOSSES
        return 1 if binary_single else classes
    if task == "regression":
        return math.prod(info.target.get("shape") or [1])
    if task == "reconstruction":
        return math.prod(info.input_shape)
    return 1


def _expected_shapes(task: str, loss: str, info: DatasetInfo, outputs: int) -> list[list[int]]:
    if task == "classification":
        return [[outputs]] if loss in INDEX_TARGET_LOSSES else [[outputs], [int(info.target["num_classes"])]]
    if task == "regression":
        return [list(info.target.get("shape") or [1]), [outputs]]
    return [list(info.input_shape), [outputs]]


def _check_freeze(model: Any, config: TrainConfig) -> None:
    for i, path in enumerate(config.freeze):
        try:
            model.get_submodule(path)
        except AttributeError as err:
            raise ConfigError(("freeze", i), f"the model has no module {path!r}") from err


def _check_optimizer(model: Any, config: TrainConfig) -> None:
    """Optimizers that cannot train a spec-built model's parameters are refused before queueing."""
    kind = config.optimizer["type"]
    if kind == "SparseAdam":
        raise ConfigError(("optimizer", "type"), "SparseAdam needs sparse gradients, which spec-built "
                          "models never produce; use Adam or AdamW")
    if kind != "Muon":
        return
    for name, param in model.named_parameters():
        frozen = any(name == path or name.startswith(f"{path}.") for path in config.freeze)
        if param.dim() != 2 and not frozen:
            raise ConfigError(("optimizer", "type"), f"Muon trains only 2-D weights, but {name} has shape "
                              f"{list(param.shape)}; use AdamW, or set bias false and freeze the rest")


def _output_mismatch(spec: dict[str, Any], info: DatasetInfo, shape: list[int], want: str) -> ShapeError:
    last = len(spec.get("layers") or [None]) - 1
    err = ShapeError(f"layers.{last}", info.input_shape, want, loc=("layers", last))
    # the generic message speaks of a layer's input; this one is about the model's output
    Exception.__init__(err, f"the model outputs shape {shape} (last layer layers.{last}) but the task "
                       f"needs {want}")
    return err


def plan_job(spec: dict[str, Any] | None, info: DatasetInfo, config: TrainConfig) -> JobPlan:
    """Resolve task/loss/outputs; with a spec, build it on "meta" and check its output fits the task."""
    gan = is_gan_spec(spec)
    task, loss = resolve_task(info, config, gan)
    outputs = num_outputs(task, loss, info)
    check_loss_fits_task(task, loss, config)
    check_scheduler_length(config, train_steps(info, config))
    if config.loss is not None and task != "gan":
        probe_loss(config.loss, outputs)
    if spec is None:
        return JobPlan(task=task, num_outputs=outputs, loss=loss, parameters=0, output_shape=[])
    from dl.shapes import fails_on_one_sample
    from dl.spec import build_model, count_parameters, output_shape

    model: Any = build_model(spec, info.input_shape, device="meta")
    _check_freeze(model, config)
    _check_optimizer(model, config)
    if not gan:
        check_last_batch(info, config, fails_on_one_sample(model, tuple(info.input_shape)))
    if gan:
        shape = list(output_shape(model.generator, [int(model.latent_dim)]))
        if shape != list(info.input_shape):
            latent = [int(model.latent_dim)]
            raise ShapeError("generator", latent, f"to output {info.input_shape}, got {shape}",
                             loc=("generator",))
        return JobPlan(task, outputs, loss, count_parameters(model), shape)
    shape = list(output_shape(model, info.input_shape))
    expected = _expected_shapes(task, loss, info, outputs)
    if shape not in expected:
        raise _output_mismatch(spec, info, shape, f"{expected[0]} for {task} with {loss}")
    return JobPlan(task, outputs, loss, count_parameters(model), shape)

