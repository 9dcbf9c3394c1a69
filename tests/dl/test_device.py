"""A device the worker lacks is one sentence naming it, before anything is placed on it."""

import pytest
import torch

from dl.config import parse_config
from dl.errors import ConfigError
from dl.train import resolve_device, train
from tests.dl.toys import blobs


def test_resolve_device_mps_without_mps_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError) as info:
        resolve_device("mps")
    assert info.value.loc == ("device",)
    assert info.value.msg == "device mps was asked for but this worker has no MPS device; use auto or cpu"


def test_train_mps_without_mps_fails_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no MPS device"):
        train(torch.nn.Linear(4, 3), blobs(n=40), parse_config({"epochs": 1, "device": "mps"}))


def test_resolve_device_cuda_without_cuda_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device cuda:1 was asked for but this worker has no CUDA GPU"):
        resolve_device("cuda:1")
