"""Checkpoint state round-trips through bytes and a stopped-then-resumed run is bit-identical."""

from typing import Any

import pytest
import torch
from torch import nn

from dl.checkpoint import from_bytes, to_bytes
from dl.config import parse_config
from dl.train import train
from tests.dl.toys import Recorder, blobs, params_equal


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


RESUME_CONFIGS: list[dict[str, Any]] = [
    {"epochs": 4, "batch_size": 16, "optimizer": {"type": "AdamW", "lr": 0.01},
     "scheduler": {"type": "StepLR", "step_size": 1, "gamma": 0.7}},
    {"epochs": 3, "batch_size": 8, "grad_accum_steps": 2,
     "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
     "scheduler": {"type": "OneCycleLR", "max_lr": 0.1}, "checkpoint_every_epochs": None},
    {"epochs": 3, "batch_size": 10, "precision": "bf16", "optimizer": {"type": "RMSprop", "lr": 0.01},
     "scheduler": {"type": "ReduceLROnPlateau", "patience": 0}, "grad_clip_norm": 0.5,
     "early_stopping": {"metric": "val_loss", "patience": 10}},
]


@pytest.mark.parametrize("raw", RESUME_CONFIGS, ids=["adamw-steplr", "sgd-onecycle-accum", "bf16-plateau"])
@pytest.mark.parametrize("stop_at", [5, 11])
def test_resume_after_stop_matches_uninterrupted_run(raw: dict[str, Any], stop_at: int) -> None:
    config = parse_config(raw)
    data = blobs(n=90)
    straight = _mlp()
    full = train(straight, data, config)

    stopper = Recorder(stop_after=stop_at)
    first = _mlp()
    stopped = train(first, data, config, callbacks=stopper)
    assert stopped.status == "stopped"
    assert stopped.step == stop_at  # one should_stop call per optimizer step
    last = stopper.checkpoints[-1]
    assert last.step == stop_at and last.state["position"]["batch"] > 0  # stopped mid-epoch

    state = from_bytes(to_bytes(last.state))  # what the worker stores and reads back
    resumed_model = _mlp(seed=123)  # different initial weights: the state must overwrite them
    resumed = train(resumed_model, data, config, resume=state)
    assert resumed.status == "succeeded" and resumed.step == full.step
    assert params_equal(straight, resumed_model) == []


def test_state_round_trips_with_weights_only_load() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 1, "batch_size": 32, "scheduler": {"type": "CyclicLR", "base_lr": 0.001,
                                                                         "max_lr": 0.01}})
    train(_mlp(), blobs(n=64), config, callbacks=rec)
    ckpt = rec.checkpoints[-1]
    back = from_bytes(to_bytes(ckpt.state))
    assert set(back) >= {"model", "optimizers", "schedulers", "scaler", "rng", "position", "early_stopping"}
    assert torch.equal(back["model"]["0.weight"], ckpt.weights["0.weight"])
    assert back["position"]["step"] == ckpt.step == 2


def test_checkpoint_is_a_snapshot_not_a_live_view() -> None:
    rec = Recorder()
    model = _mlp()
    train(model, blobs(n=64), parse_config({"epochs": 3, "batch_size": 32}), callbacks=rec)
    first, last = rec.checkpoints[0], rec.checkpoints[-1]
    assert [c.step for c in rec.checkpoints] == [2, 4, 6]
    assert not torch.equal(first.weights["0.weight"], last.weights["0.weight"])
    assert torch.equal(last.weights["0.weight"], model.state_dict()["0.weight"])


def test_checkpoint_every_steps_and_always_at_the_end() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 2, "batch_size": 10, "val_fraction": 0, "checkpoint_every_epochs": None,
                           "checkpoint_every_steps": 4})
    result = train(_mlp(), blobs(n=50), config, callbacks=rec)
    assert result.step == 10
    assert [c.step for c in rec.checkpoints] == [4, 8, 10]
    assert [c.epoch for c in rec.checkpoints] == [1, 2, 2]
