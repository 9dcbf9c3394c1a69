"""Configs that cannot fit their data or task are refused at plan time, naming the field; the planned
step count is the engine's."""

from typing import Any

import numpy as np
import pytest

from dl.config import parse_config
from dl.data import DatasetInfo, from_arrays
from dl.errors import ConfigError
from dl.fit import train_steps
from dl.plan import plan_job
from dl.spec import build_model
from dl.train import train
from tests.dl.toys import Recorder

IRIS = DatasetInfo(150, [4], {"kind": "classes", "num_classes": 3})
VALUES = DatasetInfo(100, [4], {"kind": "values", "shape": [1]})
IMAGES = DatasetInfo(150, [1, 8, 8], {"kind": "none"})
MLP = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 3}]}
BN_MLP = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "BatchNorm1d"}, {"type": "ReLU"},
                     {"type": "Linear", "out_features": 3}]}
AUTOENCODER = {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 16}, {"type": "ReLU"},
                          {"type": "Linear", "out_features": 64}, {"type": "Sigmoid"},
                          {"type": "Unflatten", "dim": 1, "unflattened_size": [1, 8, 8]}]}


@pytest.mark.parametrize(("info", "spec", "config", "loc", "words"), [
    (VALUES, {"layers": [{"type": "Linear", "out_features": 1}]}, {"loss": {"type": "CrossEntropyLoss"}},
     ("loss", "type"), "needs class targets, but the task is regression"),
    (VALUES, {"layers": [{"type": "Linear", "out_features": 1}]}, {"loss": {"type": "NLLLoss"}},
     ("loss", "type"), "use MSELoss"),
    (IMAGES, AUTOENCODER, {"loss": {"type": "BCELoss"}}, ("normalize",), "set normalize false"),
    (IRIS, MLP, {"epochs": 2, "batch_size": 16, "scheduler": {"type": "OneCycleLR", "max_lr": 0.1,
                                                             "total_steps": 5}},
     ("scheduler", "total_steps"), "set for 5 steps but the job takes 16"),
    (IRIS, MLP, {"batch_size": 1000, "drop_last": True}, ("batch_size",), "has 120 samples: too few"),
    (IRIS, BN_MLP, {"batch_size": 7}, ("batch_size",), "layer layers.1 cannot train on one sample"),
])
def test_plan_config_that_cannot_fit_is_refused(info: DatasetInfo, spec: dict[str, Any],
                                                config: dict[str, Any], loc: tuple[str, ...],
                                                words: str) -> None:
    with pytest.raises(ConfigError) as err:
        plan_job(spec, info, parse_config(config))
    assert err.value.loc == loc and words in str(err.value)


@pytest.mark.parametrize(("info", "spec", "config"), [
    (IMAGES, AUTOENCODER, {"loss": {"type": "BCELoss"}, "normalize": False}),
    (IRIS, MLP, {"epochs": 2, "batch_size": 16, "scheduler": {"type": "OneCycleLR", "max_lr": 0.1,
                                                             "total_steps": 16}}),
    (IRIS, BN_MLP, {"batch_size": 7, "drop_last": True}),
    (IRIS, BN_MLP, {"batch_size": 8}),
    (IMAGES, {"layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
                         {"type": "BatchNorm2d"}, {"type": "Conv2d", "out_channels": 1, "kernel_size": 1}]},
     {"batch_size": 7, "task": "reconstruction"}),  # BatchNorm2d on [1, 2, 8, 8] trains on one sample
])
def test_plan_config_that_fits_passes(info: DatasetInfo, spec: dict[str, Any],
                                      config: dict[str, Any]) -> None:
    plan_job(spec, info, parse_config(config))


@pytest.mark.parametrize("config", [
    {"epochs": 2, "batch_size": 16, "grad_accum_steps": 3},  # 120 train samples: 8 batches -> 3 steps
    {"epochs": 3, "batch_size": 16, "drop_last": True},
    {"epochs": 5, "batch_size": 10, "max_steps": 17, "val_fraction": 0.1},
])
def test_train_steps_matches_the_engine(config: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    data = from_arrays(rng.normal(size=(150, 4)).astype(np.float32), rng.integers(0, 3, 150))
    rec = Recorder()
    parsed = parse_config(config)
    train(build_model(MLP, [4]), data, parsed, callbacks=rec)
    assert train_steps(IRIS, parsed) == rec.start_info["total_steps"]
    if config.get("grad_accum_steps") == 3:
        assert rec.start_info["total_steps"] == 6  # ceil(8 / 3) * 2 epochs, derived by hand
