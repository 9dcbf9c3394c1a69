"""Argument values for torch optimizers/losses/schedulers are checked at parse time: by type against
torch's own signatures, and by taking a few steps, so nothing fails (or misbehaves) later on a worker."""

import contextlib
from typing import Any

import pytest

from dl.config import parse_config
from dl.data import DatasetInfo
from dl.errors import ConfigError, ShapeError
from dl.plan import plan_job

CLASSES = DatasetInfo(100, [4], {"kind": "classes", "num_classes": 3})
SPEC = {"layers": [{"type": "Linear", "out_features": 3}]}


@pytest.mark.parametrize(("config", "loc", "words"), [
    ({"optimizer": {"type": "Adam", "betas": [0.9]}}, ("optimizer", "betas"), "got [0.9]"),
    ({"optimizer": {"type": "Adam", "betas": {}}}, ("optimizer", "betas"), "tuple[float, float]"),
    ({"optimizer": {"type": "Rprop", "etas": [0.5]}}, ("optimizer", "etas"), "tuple[float, float]"),
    ({"optimizer": {"type": "SGD", "maximize": "x"}}, ("optimizer", "maximize"), "bool"),
    ({"optimizer": {"type": "LBFGS", "history_size": "x"}}, ("optimizer", "history_size"), "int"),
    ({"scheduler": {"type": "StepLR", "step_size": "x"}}, ("scheduler", "step_size"), "int"),
    ({"scheduler": {"type": "MultiStepLR", "milestones": "x"}}, ("scheduler", "milestones"), "Iterable[int]"),
    ({"loss": {"type": "CrossEntropyLoss", "label_smoothing": "x"}}, ("loss", "label_smoothing"), "float"),
    ({"loss": {"type": "CrossEntropyLoss", "ignore_index": 1.5}}, ("loss", "ignore_index"), "int"),
])
def test_parse_config_wrong_argument_type_names_the_argument(config: dict[str, Any], loc: tuple[str, ...],
                                                             words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    assert err.value.loc == loc and words in str(err.value)


@pytest.mark.parametrize(("config", "section", "words"), [
    ({"scheduler": {"type": "OneCycleLR", "max_lr": 0.1, "div_factor": 0}}, "scheduler", "division by zero"),
    ({"scheduler": {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 0}}, "scheduler",
     "division by zero"),
    ({"optimizer": {"type": "LBFGS", "line_search_fn": "foo"}}, "optimizer", "strong_wolfe"),
])
def test_parse_config_values_that_fail_in_torch_are_config_errors(config: dict[str, Any], section: str,
                                                                  words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    assert err.value.loc == (section,) and words in str(err.value)


@pytest.mark.parametrize("config", [
    {"optimizer": {"type": "Adam", "betas": [0.8, 0.99], "amsgrad": True}},
    {"optimizer": {"type": "SGD", "lr": 1, "momentum": 0.9, "nesterov": True}},
    {"optimizer": {"type": "LBFGS", "line_search_fn": "strong_wolfe", "history_size": 5}},
    {"scheduler": {"type": "MultiStepLR", "milestones": [2, 4], "gamma": 0.5}},
    {"scheduler": {"type": "OneCycleLR", "max_lr": [0.1]}},
    {"scheduler": {"type": "ReduceLROnPlateau", "min_lr": 0, "mode": "max"}},
    {"loss": {"type": "CrossEntropyLoss", "weight": [1, 2, 3], "label_smoothing": 0.1}},
])
def test_parse_config_valid_arguments_pass(config: dict[str, Any]) -> None:
    plan_job(SPEC, CLASSES, parse_config(config))


def test_plan_loss_weight_of_the_wrong_length_names_the_loss() -> None:
    with pytest.raises(ConfigError, match=r"all 3 classes") as err:
        plan_job(SPEC, CLASSES, parse_config({"loss": {"type": "CrossEntropyLoss", "weight": [1, 2]}}))
    assert err.value.loc == ("loss",)


@pytest.mark.parametrize(("config", "loc"), [
    ({"gpus": 10**20}, ("gpus",)), ({"gpus": 65}, ("gpus",)),
    ({"keep_checkpoints": 10**20}, ("keep_checkpoints",)), ({"epochs": 2**31}, ("epochs",)),
    ({"num_workers": 65}, ("num_workers",)),
])
def test_parse_config_counts_above_their_limit_are_refused(config: dict[str, Any], loc: tuple[str]) -> None:
    with pytest.raises(ConfigError, match="must be at most") as err:
        parse_config(config)
    assert err.value.loc == loc


def test_plan_epochs_whose_steps_overflow_are_refused_unless_max_steps() -> None:
    config = {"epochs": 2**31 - 1, "batch_size": 1}
    with pytest.raises(ConfigError, match="set max_steps") as err:
        plan_job(SPEC, CLASSES, parse_config(config))
    assert err.value.loc == ("epochs",)
    plan_job(SPEC, CLASSES, parse_config({**config, "max_steps": 10}))


ODD_VALUES: list[Any] = ["x", [], {}, [0.5], -1, 0, 1e308, True, None, [[1]]]


def _every_argument() -> list[tuple[str, str, str]]:
    import inspect

    from dl.optim import _KINDS, _RESERVED

    return [(section, name, key) for section, table in _KINDS.items() for name, cls in sorted(table.items())
            for key in inspect.signature(cls).parameters if key not in _RESERVED[section]]


def test_parse_config_odd_argument_values_are_accepted_or_config_errors() -> None:
    """What the server turns into a 422; anything else raised here would be a 500."""
    required = {"StepLR": {"step_size": 2}, "MultiStepLR": {"milestones": [1]},
                "ExponentialLR": {"gamma": 0.9}, "CosineAnnealingLR": {"T_max": 5},
                "CosineAnnealingWarmRestarts": {"T_0": 2},
                "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1}, "OneCycleLR": {"max_lr": 0.1}}
    checked = 0
    for section, name, key in _every_argument():
        for value in ODD_VALUES:
            raw = {"type": name, **required.get(name, {}), key: value}
            with contextlib.suppress(ConfigError, ShapeError):
                plan_job(SPEC, CLASSES, parse_config({section: raw}))
            checked += 1
    assert checked > 500
