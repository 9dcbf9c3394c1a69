"""train(): metrics as the contract defines them, stop/early stop/max_steps, schedulers, accumulation,
freeze and initial weights, and the errors a user can act on."""

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from dl.config import parse_config
from dl.data import from_arrays
from dl.errors import ConfigError, TrainingError, where_marked
from dl.train import train
from tests.dl.toys import Recorder, blobs, linear_values, params_equal


def _mlp(features: int = 4, classes: int = 3) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, classes))


def test_train_reports_contract_metrics() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 2, "batch_size": 10, "log_every_steps": 3})
    result = train(_mlp(), blobs(n=100), config, callbacks=rec)  # 80 train samples: 8 steps per epoch
    assert result.status == "succeeded" and result.step == 16 and result.epoch == 2
    assert [s for s, _ in rec.series("train_loss")] == [3, 6, 9, 12, 15]
    for name in ("val_loss", "val_accuracy", "lr", "epoch_time_s", "samples_per_s"):
        assert [s for s, _ in rec.series(name)] == [8, 16], name
    assert rec.series("val_accuracy")[-1][1] == pytest.approx(result.metrics["val_accuracy"])
    assert all(v > 0 for _, v in rec.series("samples_per_s"))
    assert rec.metric_calls < 16  # points arrive in batches, not one call per step
    assert rec.progress[-1] == (2, 16, 16)
    assert rec.start_info["total_steps"] == 16 and rec.start_info["steps_per_epoch"] == 8
    assert rec.result is result and result.normalization is not None


def test_train_logs_one_line_per_epoch_with_its_metrics() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 2, "batch_size": 10})
    train(_mlp(), blobs(n=100), config, callbacks=rec)
    assert [line.split(":")[0] for line in rec.logs] == ["epoch 1/2 (step 8)", "epoch 2/2 (step 16)"]
    val_loss = rec.series("val_loss")[-1][1]
    assert f"val_loss {val_loss:.4g}" in rec.logs[-1] and "val_accuracy" in rec.logs[-1]


def test_train_log_line_shows_the_last_step_loss_not_nan() -> None:
    rec = Recorder()
    train(_mlp(), blobs(n=100), parse_config({"epochs": 1, "batch_size": 10}), callbacks=rec)
    last_loss = rec.series("train_loss")[-1][1]
    assert "nan" not in rec.logs[0] and f"train_loss {last_loss:.4g}" in rec.logs[0]


def test_train_log_line_shows_the_epoch_mean_loss_when_tracked() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 1, "batch_size": 10, "scheduler": {"type": "ReduceLROnPlateau"}})
    train(_mlp(), blobs(n=100), config, callbacks=rec)
    mean_loss = sum(v for _, v in rec.series("train_loss")) / 8
    assert f"train_loss {mean_loss:.4g}" in rec.logs[0]


def test_train_regression_logs_val_mae_and_learns() -> None:
    rec = Recorder()
    model = nn.Linear(3, 1)
    config = parse_config({"epochs": 30, "batch_size": 16, "optimizer": {"type": "Adam", "lr": 0.05}})
    result = train(model, linear_values(), config, callbacks=rec)
    assert "val_accuracy" not in result.metrics
    assert result.metrics["val_mae"] < 0.05


def test_train_lbfgs_matches_polyfit() -> None:
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 3.0, 15)
    y = 2.5 * x - 1.0 + rng.normal(0, 0.2, 15)
    data = from_arrays(x.reshape(-1, 1).astype(np.float32), y.astype(np.float32))
    model = nn.Linear(1, 1)
    lbfgs = {"type": "LBFGS", "lr": 1, "max_iter": 100, "line_search_fn": "strong_wolfe",
             "tolerance_grad": 1e-10, "tolerance_change": 1e-14}
    config = parse_config({"epochs": 3, "batch_size": 15, "val_fraction": 0, "normalize": False,
                           "shuffle": False, "optimizer": lbfgs})
    train(model, data, config)
    slope, intercept = np.polyfit(x, y, 1)
    assert model.weight.item() == pytest.approx(slope, abs=1e-4)
    assert model.bias.item() == pytest.approx(intercept, abs=1e-4)


def test_train_grad_accumulation_equals_one_large_batch() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, -1.0], [2.0, 2.0], [-1.0, 0.5]])
    y = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0, 1.0])
    data = from_arrays(x.numpy(), y.numpy())
    w0 = torch.tensor([[0.5, -0.5]])
    common = {"epochs": 1, "val_fraction": 0, "normalize": False, "shuffle": False,
              "optimizer": {"type": "SGD", "lr": 0.1}}
    accumulated = nn.Linear(2, 1, bias=False)
    train(accumulated, data, parse_config({**common, "batch_size": 4, "grad_accum_steps": 2}),
          init_weights={"weight": w0})
    # hand-derived: one step on the mean squared error of all 6 samples
    expected = w0 - 0.1 * (2 / 6) * ((x @ w0.T).squeeze(1) - y) @ x
    assert torch.allclose(accumulated.weight.detach(), expected, atol=1e-6)
    big = nn.Linear(2, 1, bias=False)
    train(big, data, parse_config({**common, "batch_size": 6}), init_weights={"weight": w0})
    assert torch.allclose(accumulated.weight.detach(), big.weight.detach(), atol=1e-6)


def test_train_cyclic_lr_steps_per_batch() -> None:
    rec = Recorder()
    cyclic = {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}
    config = parse_config({"epochs": 3, "batch_size": 10, "val_fraction": 0,
                           "optimizer": {"type": "SGD", "lr": 0.01}, "scheduler": cyclic})
    train(_mlp(), blobs(n=40), config, callbacks=rec)  # 4 steps per epoch
    # lr of each epoch's last step (schedule index 3, 7, 11): 0.01 + 0.09 * (1 - |i/4 - 2c + 1|)
    assert [round(v, 6) for _, v in rec.series("lr")] == [0.0775, 0.0325, 0.0775]


def test_train_one_cycle_ends_at_its_final_lr() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 2, "batch_size": 10, "optimizer": {"type": "SGD", "lr": 0.01},
                           "scheduler": {"type": "OneCycleLR", "max_lr": 0.5}})
    train(_mlp(), blobs(n=50), config, callbacks=rec)
    state = rec.checkpoints[-1].state
    assert state["schedulers"][0]["last_epoch"] == 7  # stepped after each of the 8 steps but the last
    assert state["optimizers"][0]["param_groups"][0]["lr"] == pytest.approx(0.5 / 25 / 1e4)


def test_train_reduce_on_plateau_is_fed_val_loss() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 4, "batch_size": 10, "optimizer": {"type": "SGD", "lr": 1e-12},
                           "scheduler": {"type": "ReduceLROnPlateau", "patience": 0, "factor": 0.5}})
    train(_mlp(), blobs(n=50), config, callbacks=rec)
    assert [v for _, v in rec.series("lr")] == pytest.approx([1e-12, 1e-12, 5e-13, 2.5e-13])
    first_val = rec.series("val_loss")[0][1]
    assert rec.checkpoints[-1].state["schedulers"][0]["best"] == pytest.approx(first_val)


def test_train_early_stopping_ends_after_patience() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 10, "batch_size": 10, "optimizer": {"type": "SGD", "lr": 0.0},
                           "early_stopping": {"metric": "val_loss", "patience": 2}})
    result = train(_mlp(), blobs(n=50), config, callbacks=rec)
    assert result.status == "succeeded" and result.epoch == 3
    assert any("early stopping" in line for line in rec.logs)


def test_train_should_stop_saves_checkpoint_and_stops() -> None:
    rec = Recorder(stop_after=3)
    result = train(_mlp(), blobs(n=100), parse_config({"epochs": 5, "batch_size": 10}), callbacks=rec)
    assert result.status == "stopped" and result.step == 3
    assert [c.step for c in rec.checkpoints] == [3]


def test_train_max_steps_ends_mid_epoch_with_checkpoint() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 5, "batch_size": 10, "max_steps": 11, "checkpoint_every_epochs": None})
    result = train(_mlp(), blobs(n=100), config, callbacks=rec)
    assert result.status == "succeeded" and result.step == 11
    assert [c.step for c in rec.checkpoints] == [11]
    assert [s for s, _ in rec.series("val_loss")] == [8, 11]


def _ramp() -> Any:
    """y = x on 1..100: unnormalised, a large learning rate makes its loss blow up within a few steps."""
    values = np.linspace(1, 100, 40, dtype=np.float32)
    return from_arrays(values.reshape(-1, 1), values)


def test_train_nan_loss_names_step_and_last_finite_loss() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 50, "batch_size": 8, "normalize": False, "val_fraction": 0,
                           "optimizer": {"type": "SGD", "lr": 1e4}})
    data = _ramp()
    with pytest.raises(TrainingError, match=r"at step (\d+); the last finite loss was") as info:
        train(nn.Linear(1, 1), data, config, callbacks=rec)
    bad_step = int(str(info.value).split("at step ")[1].split(";")[0])
    finite = rec.series("train_loss")
    assert [s for s, _ in finite] == list(range(1, bad_step))  # every finite point before it was reported
    assert all(math.isfinite(v) for _, v in finite)
    assert f"{finite[-1][1]:.6g}" in str(info.value)


def test_train_nan_loss_reports_progress_up_to_the_last_finite_step() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 5, "batch_size": 8, "normalize": False, "val_fraction": 0,
                           "optimizer": {"type": "SGD", "lr": 1e30}})
    data = _ramp()
    with pytest.raises(TrainingError, match=r"at step 2;"):  # mid-epoch, in the same flush as step 1
        train(nn.Linear(1, 1), data, config, callbacks=rec)
    assert rec.progress[-1] == (1, 1, 25)


def test_train_nan_loss_logs_no_epoch_metrics_after_it() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 2, "batch_size": 4, "normalize": False, "val_fraction": 0.2,
                           "optimizer": {"type": "SGD", "lr": 1e30}})
    data = _ramp()
    with pytest.raises(TrainingError, match=r"at step 2;"):  # 8 steps per epoch: the NaN is mid-epoch
        train(nn.Linear(1, 1), data, config, callbacks=rec)
    assert [(p.name, p.step) for p in rec.points] == [("train_loss", 1)]
    assert rec.logs == []


class _FailingCheckpoint(Recorder):
    def on_checkpoint(self, ckpt: Any) -> None:
        raise RuntimeError("disk full")


def test_train_failure_at_epoch_end_keeps_the_epoch_points_and_says_where() -> None:
    rec = _FailingCheckpoint()
    config = parse_config({"epochs": 2, "batch_size": 10, "log_every_steps": 1})
    with pytest.raises(RuntimeError, match="disk full") as err:
        train(_mlp(), blobs(n=100), config, callbacks=rec)  # 8 steps per epoch
    assert [s for s, _ in rec.series("train_loss")] == list(range(1, 9))
    assert where_marked(err.value) == "at the end of epoch 1, after step 8"


def test_train_freeze_keeps_module_fixed() -> None:
    model = _mlp()
    first, last = model[0], model[2]
    assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
    before, last_before = first.weight.detach().clone(), last.weight.detach().clone()
    train(model, blobs(n=40), parse_config({"epochs": 2, "batch_size": 10, "freeze": ["0"]}))
    assert torch.equal(first.weight, before)
    assert not torch.equal(last.weight, last_before)
    with pytest.raises(ConfigError) as info:
        train(_mlp(), blobs(n=40), parse_config({"epochs": 1, "freeze": ["7"]}))
    assert info.value.loc == ("freeze", 0)


def test_train_init_weights_are_the_starting_point() -> None:
    source = _mlp()
    torch.nn.init.constant_(source.get_parameter("2.weight"), 0.25)
    target = _mlp()
    train(target, blobs(n=40), parse_config({"epochs": 1, "optimizer": {"type": "SGD", "lr": 0.0}}),
          init_weights=source.state_dict())
    assert params_equal(source, target) == []
    with pytest.raises(ConfigError, match="initial weights do not fit") as info:
        train(_mlp(), blobs(n=40), parse_config({"epochs": 1}), init_weights={"nope": torch.zeros(1)})
    assert info.value.loc == ("init_from",)


def test_train_init_weights_that_do_not_fit_name_tensor_and_shapes() -> None:
    weights = {**_mlp().state_dict(), "2.weight": torch.zeros(2, 16)}
    with pytest.raises(ConfigError, match=r"2\.weight is \[2, 16\] in the weights but \[3, 16\] in the"):
        train(_mlp(), blobs(n=40), parse_config({"epochs": 1}), init_weights=weights)
    del weights["0.bias"]
    with pytest.raises(ConfigError, match=r"the weights lack 0\.bias"):
        train(_mlp(), blobs(n=40), parse_config({"epochs": 1}), init_weights=weights)


def test_train_model_shape_error_is_one_sentence() -> None:
    with pytest.raises(TrainingError, match=r"the model failed on input of shape \[\d+, 4\]"):
        train(nn.Linear(5, 3), blobs(n=40), parse_config({"epochs": 1}))


def test_train_task_that_does_not_fit_the_data() -> None:
    with pytest.raises(ConfigError) as info:
        train(_mlp(), blobs(n=40), parse_config({"task": "regression"}))
    assert info.value.loc == ("task",)


def test_train_dataloader_path_matches_tensor_path() -> None:
    config = {"epochs": 2, "batch_size": 8}
    fast, loader = _mlp(), _mlp()
    train(fast, blobs(n=60), parse_config(config))
    train(loader, blobs(n=60), parse_config({**config, "num_workers": 1}))
    assert params_equal(fast, loader) == []


def test_train_caller_sampler_decides_the_epoch() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 1, "batch_size": 5, "val_fraction": 0})
    result = train(_mlp(), blobs(n=60), config, callbacks=rec, sampler=list(range(20)))
    assert result.step == 4


@pytest.mark.parametrize("precision", ["bf16", "16"])
def test_train_mixed_precision_learns(precision: str) -> None:
    rec = Recorder()
    config = parse_config({"epochs": 15, "batch_size": 16, "precision": precision,
                           "optimizer": {"type": "Adam", "lr": 0.01}})
    result = train(_mlp(), blobs(n=150), config, callbacks=rec)
    assert result.metrics["val_accuracy"] >= 0.95
    scale = rec.checkpoints[-1].state["scaler"].get("scale")
    assert (scale is not None) == (precision == "16")  # fp16 carries its GradScaler state


def _count_steps(raw: dict[str, Any]) -> int:
    return train(_mlp(), blobs(n=50), parse_config(raw)).step


def test_train_drop_last_and_batch_size_over_data() -> None:
    assert _count_steps({"epochs": 1, "batch_size": 16, "drop_last": True}) == 2  # 40 train samples
    assert _count_steps({"epochs": 1, "batch_size": 16}) == 3
    with pytest.raises(ConfigError) as info:
        _count_steps({"epochs": 1, "batch_size": 64, "drop_last": True})
    assert info.value.loc == ("batch_size",)


def test_train_same_seed_same_weights_other_seed_differs() -> None:
    def run(seed: int) -> nn.Module:
        torch.manual_seed(0)  # the caller fixes the initial weights (the worker seeds with config.seed)
        model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 3))
        train(model, blobs(n=60), parse_config({"epochs": 2, "batch_size": 8, "seed": seed}))
        return model

    assert params_equal(run(1), run(1)) == []
    assert params_equal(run(1), run(2)) != []  # split, shuffle and dropout follow the seed


def test_train_integer_inputs_into_linear_say_to_use_embedding() -> None:
    x = np.random.default_rng(0).integers(0, 5, size=(40, 3))
    with pytest.raises(TrainingError, match=r"Long and Float \(the dataset's x holds integer token ids: "
                                            r"start the model with Embedding.*\) at step 1"):
        train(nn.Sequential(nn.Linear(3, 2)), from_arrays(x, np.arange(40) % 2), parse_config({"epochs": 1}))


def test_train_scheduler_failure_mid_epoch_keeps_points_and_says_after_which_step() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 2, "batch_size": 10, "log_every_steps": 1,
                           "scheduler": {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 5}})
    with pytest.raises(ValueError, match="Tried to step 6 times") as err:
        train(_mlp(), blobs(n=100), config, callbacks=rec)  # 16 steps; the plan would refuse it
    # OneCycleLR takes total_steps steps after the one its constructor makes: the 6th fails, after step 6
    assert [s for s, _ in rec.series("train_loss")] == [1, 2, 3, 4, 5, 6]
    assert where_marked(err.value) == "after step 6"


class _Jams(nn.Module):
    def __init__(self, at_call: int) -> None:
        super().__init__()
        self.inner, self.calls, self.at_call = _mlp(), 0, at_call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.training and self.calls == self.at_call:
            raise RuntimeError("jammed")
        return self.inner(x)


def test_train_model_error_keeps_earlier_points_and_names_its_step() -> None:
    rec = Recorder()
    config = parse_config({"epochs": 1, "batch_size": 10, "log_every_steps": 1})
    with pytest.raises(TrainingError, match=r"input of shape \[10, 4\]: jammed at step (\d+)") as err:
        train(_Jams(at_call=4), blobs(n=100), config, callbacks=rec)
    step = int(str(err.value).rsplit(" ", 1)[1])
    assert step > 1 and [s for s, _ in rec.series("train_loss")] == list(range(1, step))
