"""parse_config: contract defaults, and a ConfigError with the offending loc for every bad input."""

from typing import Any

import pytest

from dl.config import TrainConfig, parse_config
from dl.errors import ConfigError

CONTRACT_DEFAULTS: dict[str, Any] = {
    "task": None, "epochs": 10, "max_steps": None, "batch_size": 64,
    "optimizer": {"type": "Adam", "lr": 0.001}, "loss": None, "scheduler": None, "val_fraction": 0.2,
    "seed": 0, "shuffle": True, "drop_last": False,
    "normalize": True, "num_workers": 0, "pin_memory": None, "device": "auto", "precision": "32",
    "compile": False, "grad_clip_norm": None, "grad_accum_steps": 1, "checkpoint_every_epochs": 1,
    "checkpoint_every_steps": None, "keep_checkpoints": 3, "early_stopping": None, "log_every_steps": 1,
    "gpus": None, "max_restarts": 3, "init_from": None, "freeze": [],
}


def test_parse_empty_gives_contract_defaults() -> None:
    assert parse_config({}).to_dict() == CONTRACT_DEFAULTS
    assert parse_config(None) == TrainConfig()


def test_parse_contract_defaults_verbatim_round_trips() -> None:
    assert parse_config(CONTRACT_DEFAULTS).to_dict() == CONTRACT_DEFAULTS


@pytest.mark.parametrize(("raw", "loc"), [
    ({"lr": 0.1}, ("lr",)),
    ({"epochs": 0}, ("epochs",)),
    ({"epochs": "10"}, ("epochs",)),
    ({"epochs": True}, ("epochs",)),
    ({"batch_size": 0}, ("batch_size",)),
    ({"max_steps": 0}, ("max_steps",)),
    ({"val_fraction": 1.0}, ("val_fraction",)),
    ({"val_fraction": -0.1}, ("val_fraction",)),
    ({"precision": "8"}, ("precision",)),
    ({"precision": "fp64"}, ("precision",)),
    ({"device": "tpu"}, ("device",)),
    ({"shuffle": "yes"}, ("shuffle",)),
    ({"seed": -1}, ("seed",)),
    ({"seed": 2**64}, ("seed",)),
    ({"grad_clip_norm": 0}, ("grad_clip_norm",)),
    ({"grad_accum_steps": 0}, ("grad_accum_steps",)),
    ({"optimizer": {"type": "Adam", "lr": -0.001}}, ("optimizer", "lr")),
    ({"optimizer": {"type": "Adam", "lr": "fast"}}, ("optimizer", "lr")),
    ({"optimizer": {"type": "Adam", "betas": [0.9, 0.999], "momentum": 0.9}}, ("optimizer", "momentum")),
    ({"optimizer": {"type": "Adam", "params": []}}, ("optimizer", "params")),
    ({"optimizer": {"type": "os.system"}}, ("optimizer", "type")),
    ({"optimizer": None}, ("optimizer",)),
    ({"loss": {"type": "MSELoss", "weight": [1.0]}}, ("loss", "weight")),
    ({"loss": {"type": "TripletMarginLoss"}}, ("loss", "type")),
    ({"loss": {"type": "L1Loss", "reduction": "sum"}}, ("loss", "reduction")),
    ({"scheduler": {"type": "StepLR"}}, ("scheduler", "step_size")),
    ({"scheduler": {"type": "LambdaLR", "lr_lambda": "x"}}, ("scheduler", "type")),
    ({"scheduler": {"type": "SequentialLR"}}, ("scheduler", "type")),
    ({"scheduler": {"type": "StepLR", "step_size": 2, "last_epoch": 3}}, ("scheduler", "last_epoch")),
    ({"early_stopping": {"metric": "val_f1"}}, ("early_stopping", "metric")),
    ({"early_stopping": {"patience": -1}}, ("early_stopping", "patience")),
    ({"early_stopping": {"metric": "val_loss"}, "val_fraction": 0}, ("early_stopping", "metric")),
    ({"init_from": {"job_id": "abc"}}, ("init_from", "job_id")),
    ({"init_from": {"job_id": 1, "stepp": 2}}, ("init_from", "stepp")),
    ({"freeze": ["layers.0", 3]}, ("freeze", 1)),
    ({"optimizer": {"type": "LBFGS"}, "grad_accum_steps": 2}, ("grad_accum_steps",)),
    ({"gpus": 0}, ("gpus",)),
    ({"optimizer": "LBFGS", "precision": "16"}, ("precision",)),
])
def test_parse_bad_value_names_its_loc(raw: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.loc == loc
    assert str(info.value).startswith(".".join(map(str, loc)))


def test_parse_bad_argument_value_is_config_error() -> None:
    with pytest.raises(ConfigError, match="Adam rejected its arguments") as info:
        parse_config({"optimizer": {"type": "Adam", "betas": [2.0, 0.9]}})
    assert info.value.loc == ("optimizer",)


def test_parse_partial_optimizer_keeps_default_type() -> None:
    assert parse_config({"optimizer": {"lr": 0.01}}).optimizer == {"type": "Adam", "lr": 0.01}


def test_parse_accepts_every_allowed_section() -> None:
    cfg = parse_config({
        "optimizer": "NAdam",
        "loss": {"type": "CrossEntropyLoss", "weight": [1, 2, 3], "label_smoothing": 0.1},
        "scheduler": {"type": "OneCycleLR", "max_lr": 0.1}, "precision": 16,
        "early_stopping": {"metric": "val_accuracy"},
    })
    assert cfg.optimizer == {"type": "NAdam"}
    assert cfg.precision == "16"
    assert cfg.early_stopping == {"metric": "val_accuracy", "mode": "max", "patience": 5, "min_delta": 0.0}


def test_parse_non_object_is_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_config([1, 2])  # type: ignore[arg-type]
