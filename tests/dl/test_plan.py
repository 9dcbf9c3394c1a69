"""plan_job: the server's dry run resolves task, loss and outputs and checks the model's output shape."""

from typing import Any

import pytest
import torch

from dl.config import parse_config
from dl.data import DatasetInfo
from dl.errors import ConfigError, ShapeError
from dl.plan import JobPlan, plan_job

DIGITS = DatasetInfo(1797, [64], {"kind": "classes", "num_classes": 10, "classes": list(range(10))})
BINARY = DatasetInfo(100, [5], {"kind": "classes", "num_classes": 2, "classes": ["no", "yes"]})
VALUES = DatasetInfo(100, [5], {"kind": "values", "shape": [2]})
IMAGES = DatasetInfo(10, [1, 4, 4], {"kind": "none"})


def _mlp(out: int) -> dict[str, Any]:
    return {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": out}]}


def test_plan_classification_counts_parameters() -> None:
    plan = plan_job(_mlp(10), DIGITS, parse_config({}))
    assert plan == JobPlan(task="classification", num_outputs=10, loss="CrossEntropyLoss",
                           parameters=64 * 8 + 8 + 8 * 10 + 10, output_shape=[10])


def test_plan_wrong_output_names_last_layer() -> None:
    with pytest.raises(ShapeError) as info:
        plan_job(_mlp(3), DIGITS, parse_config({}))
    assert info.value.loc == ("layers", 3)
    assert "outputs shape [3]" in str(info.value) and "[10]" in str(info.value)


def test_plan_binary_logit_takes_one_output() -> None:
    plan = plan_job(_mlp(1), BINARY, parse_config({"loss": "BCEWithLogitsLoss"}))
    assert (plan.num_outputs, plan.loss, plan.output_shape) == (1, "BCEWithLogitsLoss", [1])


def test_plan_regression_and_reconstruction() -> None:
    assert plan_job(_mlp(2), VALUES, parse_config({})).loss == "MSELoss"
    spec = {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 16},
                       {"type": "Reshape", "shape": [1, 4, 4]}]}
    plan = plan_job(spec, IMAGES, parse_config({}))
    assert (plan.task, plan.output_shape, plan.num_outputs) == ("reconstruction", [1, 4, 4], 16)


def test_plan_python_model_resolves_without_spec() -> None:
    plan = plan_job(None, DIGITS, parse_config({"loss": {"type": "NLLLoss"}}))
    assert (plan.task, plan.loss, plan.num_outputs, plan.parameters) == ("classification", "NLLLoss", 10, 0)


def test_plan_gan_checks_generator_output() -> None:
    gan = {"generator": {"layers": [{"type": "Linear", "out_features": 5}]},
           "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}, "latent_dim": 3}
    plan = plan_job(gan, VALUES, parse_config({}))
    assert (plan.task, plan.loss, plan.output_shape) == ("gan", "BCEWithLogitsLoss", [5])
    gan["generator"] = {"layers": [{"type": "Linear", "out_features": 4}]}
    with pytest.raises(ShapeError, match="generator"):
        plan_job(gan, VALUES, parse_config({}))


def test_plan_gan_model_refuses_gpus_without_task() -> None:
    gan = {"generator": {"layers": [{"type": "Linear", "out_features": 5}]},
           "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}, "latent_dim": 3}
    with pytest.raises(ConfigError) as err:
        plan_job(gan, VALUES, parse_config({"gpus": 2}))
    assert err.value.loc == ("gpus",)


@pytest.mark.parametrize(("info", "raw", "loc"), [
    (VALUES, {"task": "classification"}, ("task",)),
    (DIGITS, {"task": "regression"}, ("task",)),
    (DIGITS, {"task": "gan"}, ("task",)),
    (VALUES, {"early_stopping": {"metric": "val_accuracy"}}, ("early_stopping", "metric")),
    (DIGITS, {"freeze": ["layers.1", "layers.9"]}, ("freeze", 1)),
])
def test_plan_config_that_does_not_fit(info: DatasetInfo, raw: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ConfigError) as err:
        plan_job(_mlp(10 if info is DIGITS else 2), info, parse_config(raw))
    assert err.value.loc == loc


def test_plan_refuses_sparse_adam_for_dense_gradients() -> None:
    with pytest.raises(ConfigError, match="SparseAdam needs sparse gradients") as sparse:
        plan_job(_mlp(10), DIGITS, parse_config({"optimizer": {"type": "SparseAdam"}}))
    assert sparse.value.loc == ("optimizer", "type")


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon arrived in torch 2.9")
def test_plan_refuses_muon_for_one_dimensional_parameters() -> None:
    with pytest.raises(ConfigError, match=r"layers\.1\.bias has shape \[8\]"):
        plan_job(_mlp(10), DIGITS, parse_config({"optimizer": {"type": "Muon"}}))
    no_bias = {"layers": [{"type": "Linear", "out_features": 10, "bias": False}]}
    assert plan_job(no_bias, DIGITS, parse_config({"optimizer": {"type": "Muon"}})).parameters == 640
