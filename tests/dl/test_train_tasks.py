"""Each task end to end on a toy problem: sequence classification (LSTM), autoencoder, GAN; compile
against eager; TensorBoard output."""

from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from dl.callbacks import CallbackList, TensorBoardCallback
from dl.config import parse_config
from dl.data import from_arrays, load_builtin
from dl.errors import ConfigError
from dl.spec import build_model
from dl.train import train
from tests.dl.toys import Recorder, blobs


def _contains_token(n: int = 300, length: int = 6, vocab: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 when token 3 occurs anywhere in the sequence (~47% of sequences)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocab, size=(n, length))
    return x, (x == 3).any(axis=1).astype(np.int64)


def test_train_lstm_many_to_one_learns_sequence_task() -> None:
    x, y = _contains_token()
    data = from_arrays(x, y)
    assert data.x.dtype == torch.int64
    spec = {"layers": [{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 8},
                       {"type": "LSTM", "hidden_size": 16, "output": "last"},
                       {"type": "Linear", "out_features": 2}]}
    torch.manual_seed(0)
    model = build_model(spec, data.info.input_shape)
    config = parse_config({"epochs": 8, "batch_size": 32, "optimizer": {"type": "Adam", "lr": 0.02}})
    result = train(model, data, config)
    assert result.normalization is None  # token ids are not standardised
    assert result.metrics["val_accuracy"] >= 0.95


def test_train_autoencoder_reconstruction_loss_falls() -> None:
    digits = load_builtin("digits")
    data = from_arrays(digits.x.numpy(), None)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 64))
    rec = Recorder()
    config = parse_config({"epochs": 5, "batch_size": 64, "optimizer": {"type": "Adam", "lr": 0.01}})
    result = train(model, data, config, callbacks=rec)
    losses = [v for _, v in rec.series("train_loss")]
    val = [v for _, v in rec.series("val_loss")]
    assert losses[0] > 0.8 and losses[-1] < 0.4 * losses[0]  # standardised inputs: the first loss is about 1
    assert val == sorted(val, reverse=True)
    assert "val_accuracy" not in result.metrics and "val_mae" not in result.metrics


def _gan_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.normal(0, 0.3, size=(256, 2)) + np.array([2.0, -1.0])).astype(np.float32), np.zeros(0)


def test_train_gan_alternates_and_moves_generator_towards_data() -> None:
    x, _ = _gan_data()
    data = from_arrays(x, None)
    spec = {"generator": {"layers": [{"type": "Linear", "out_features": 16}, {"type": "ReLU"},
                                     {"type": "Linear", "out_features": 2}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 16}, {"type": "LeakyReLU"},
                                         {"type": "Linear", "out_features": 1}]},
            "latent_dim": 4}
    torch.manual_seed(0)
    model = build_model(spec, [2])
    generator = model.get_submodule("generator")
    z = torch.randn(512, 4)
    before = generator(z).mean(0).detach()
    rec = Recorder()
    config = parse_config({"epochs": 30, "batch_size": 32, "normalize": False, "val_fraction": 0,
                           "optimizer": {"type": "Adam", "lr": 0.005, "betas": [0.5, 0.999]}})
    result = train(model, data, config, callbacks=rec)
    assert result.status == "succeeded"
    d_loss, g_loss = rec.series("d_loss"), rec.series("g_loss")
    assert len(d_loss) == len(g_loss) == result.step and "train_loss" not in result.metrics
    assert np.std([v for _, v in d_loss]) > 0.01 and np.std([v for _, v in g_loss]) > 0.01
    target = torch.tensor([2.0, -1.0])
    after = generator(z).mean(0).detach()
    assert (after - target).norm() < 0.5 * (before - target).norm()


def test_train_gan_refuses_early_stopping() -> None:
    x, _ = _gan_data()
    spec = {"generator": {"layers": [{"type": "Linear", "out_features": 2}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}, "latent_dim": 2}
    with pytest.raises(ConfigError) as info:
        train(build_model(spec, [2]), from_arrays(x, None),
              parse_config({"early_stopping": {"metric": "train_loss"}}))
    assert info.value.loc == ("early_stopping",)


def _wine_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))


def test_train_compiled_model_matches_eager_accuracy() -> None:
    data = load_builtin("wine")
    raw = {"epochs": 10, "batch_size": 16, "drop_last": True, "optimizer": {"type": "Adam", "lr": 0.01}}
    eager = train(_wine_mlp(), data, parse_config(raw))
    compiled_model = _wine_mlp()
    compiled = train(compiled_model, data, parse_config({**raw, "compile": True}))
    assert eager.metrics["val_accuracy"] >= 0.9
    assert compiled.metrics["val_accuracy"] == pytest.approx(eager.metrics["val_accuracy"], abs=1 / 36)
    assert compiled.metrics["val_loss"] == pytest.approx(eager.metrics["val_loss"], rel=0.05)
    assert "_orig_mod" not in "".join(compiled_model.state_dict())  # weights of the plain module


def test_train_compiled_spec_model_validates() -> None:
    # a spec-built Model has no len(); the compiled module's truth test used to call it at validation
    torch.manual_seed(0)
    model = build_model({"layers": [{"type": "Linear", "out_features": 3}]}, [4])
    result = train(model, blobs(), parse_config({"epochs": 2, "compile": True}))
    assert result.status == "succeeded"
    assert 0.0 <= result.metrics["val_accuracy"] <= 1.0


def test_tensorboard_callback_writes_every_metric(tmp_path: Path) -> None:
    rec = Recorder()
    callbacks = CallbackList([TensorBoardCallback(tmp_path), rec])
    config = parse_config({"epochs": 2, "batch_size": 32})
    train(_wine_mlp(), load_builtin("wine"), config, callbacks=callbacks)
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert tags >= {"train_loss", "val_loss", "val_accuracy", "lr", "epoch_time_s", "samples_per_s"}
    assert [e.step for e in acc.Scalars("train_loss")] == [s for s, _ in rec.series("train_loss")]
    assert acc.Tags()["graph"] is True


def test_tensorboard_callback_draws_a_gan_generator_graph(tmp_path: Path) -> None:
    spec = {"generator": {"layers": [{"type": "Linear", "out_features": 2}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}, "latent_dim": 4}
    config = parse_config({"epochs": 1, "batch_size": 64, "normalize": False, "val_fraction": 0})
    train(build_model(spec, [2]), from_arrays(_gan_data()[0], None), config,
          callbacks=TensorBoardCallback(tmp_path))
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert acc.Tags()["graph"] is True


def test_train_blobs_classifier_reaches_full_accuracy() -> None:
    config = parse_config({"epochs": 10, "batch_size": 16})
    torch.manual_seed(config.seed)  # the caller seeds before building, as the worker does
    result = train(nn.Sequential(nn.Linear(4, 3)), blobs(n=150), config)
    assert result.metrics["val_accuracy"] == 1.0
