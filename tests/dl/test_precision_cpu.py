"""fp16 on CPU: recurrent layers (torch has no CPU fp16 LSTM kernel) run in float32 and train; bf16 keeps
its own kernels."""

import math

import numpy as np
import pytest
import torch

from dl.config import parse_config
from dl.data import from_arrays
from dl.spec import build_model
from dl.train import train
from tests.dl.toys import Recorder


def _sequences(n: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Regression on sequences [10, 3]: the target is the mean of the first feature over time."""
    x = np.random.default_rng(0).normal(size=(n, 10, 3)).astype(np.float32)
    return x, x[:, :, 0].mean(axis=1).astype(np.float32)


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN"])
def test_train_recurrent_fp16_on_cpu_learns(layer: str) -> None:
    torch.manual_seed(0)
    spec = {"layers": [{"type": layer, "hidden_size": 16, "output": "last"},
                       {"type": "Linear", "out_features": 1}]}
    rec = Recorder()
    config = parse_config({"epochs": 8, "batch_size": 32, "precision": "16", "device": "cpu",
                           "optimizer": {"type": "Adam", "lr": 0.01}})
    result = train(build_model(spec, [10, 3]), from_arrays(*_sequences()), config, callbacks=rec)
    losses = [v for _, v in rec.series("train_loss")]
    assert result.status == "succeeded" and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] / 2


def test_lstm_runs_in_float32_under_cpu_fp16_autocast() -> None:
    lstm = build_model({"layers": [{"type": "LSTM", "hidden_size": 4}]}, [5, 3])
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.float16):
        out = lstm(x.half())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, lstm(x), atol=5e-3, rtol=0)


def test_lstm_keeps_bf16_under_cpu_bf16_autocast() -> None:
    lstm = build_model({"layers": [{"type": "LSTM", "hidden_size": 4}]}, [5, 3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lstm(torch.randn(2, 5, 3))
    assert out.dtype == torch.bfloat16
