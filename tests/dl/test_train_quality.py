"""Quality on scikit-learn's bundled sets: the engine must learn them as well as a careful script."""

import torch
from torch import nn

from dl.config import parse_config
from dl.data import load_builtin
from dl.spec import build_model
from dl.train import train


def test_train_wine_reaches_95_percent() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 3))
    config = parse_config({"epochs": 40, "batch_size": 16,
                           "optimizer": {"type": "AdamW", "lr": 0.003, "weight_decay": 0.01}})
    assert train(model, load_builtin("wine"), config).metrics["val_accuracy"] >= 0.95


def test_train_breast_cancer_binary_logit_reaches_95_percent() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))  # one logit, BCEWithLogitsLoss
    config = parse_config({"epochs": 20, "batch_size": 32, "loss": {"type": "BCEWithLogitsLoss"},
                           "optimizer": {"type": "Adam", "lr": 0.005}})
    assert train(model, load_builtin("breast_cancer"), config).metrics["val_accuracy"] >= 0.95


def test_train_diabetes_regression_beats_the_mean() -> None:
    data = load_builtin("diabetes")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 1))
    config = parse_config({"epochs": 60, "batch_size": 32, "optimizer": {"type": "Adam", "lr": 0.5}})
    result = train(model, data, config)
    y = data.y
    assert y is not None
    baseline_mae = float((y - y.mean()).abs().mean())  # ~64 for predicting the mean
    assert result.metrics["val_mae"] < 0.75 * baseline_mae


def test_train_digits_cnn_reaches_97_percent() -> None:
    spec = {"layers": [
        {"type": "Reshape", "shape": [1, 8, 8]},
        {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
        {"type": "Linear", "out_features": 10},
    ]}
    torch.manual_seed(0)
    model = build_model(spec, [64])
    config = parse_config({"epochs": 8, "batch_size": 32, "optimizer": {"type": "Adam", "lr": 0.003}})
    assert train(model, load_builtin("digits"), config).metrics["val_accuracy"] >= 0.97
