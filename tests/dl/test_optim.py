"""The optimizer/loss/scheduler allow-lists: every entry builds, steps and round-trips its state."""

from typing import Any

import pytest
import torch
from torch import nn

from dl.checkpoint import from_bytes, to_bytes
from dl.errors import ConfigError
from dl.optim import LOSSES, OPTIMIZERS, SCHEDULERS, build_loss, build_optimizer, build_scheduler

SCHEDULER_ARGS: dict[str, dict[str, Any]] = {
    "StepLR": {"step_size": 2}, "MultiStepLR": {"milestones": [1, 3]}, "ConstantLR": {},
    "LinearLR": {}, "ExponentialLR": {"gamma": 0.9}, "PolynomialLR": {}, "CosineAnnealingLR": {"T_max": 5},
    "CosineAnnealingWarmRestarts": {"T_0": 2}, "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1},
    "OneCycleLR": {"max_lr": 0.1}, "ReduceLROnPlateau": {"patience": 0},
}
LOSS_CASES: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
    "CrossEntropyLoss": (torch.randn(4, 3), torch.tensor([0, 1, 2, 1])),
    "NLLLoss": (torch.randn(4, 3).log_softmax(1), torch.tensor([0, 1, 2, 1])),
    "MultiMarginLoss": (torch.randn(4, 3), torch.tensor([0, 1, 2, 1])),
    "BCELoss": (torch.rand(4, 1), torch.ones(4, 1)),
    "KLDivLoss": (torch.randn(4, 3).log_softmax(1), torch.full((4, 3), 1 / 3)),
}


def _quadratic() -> tuple[nn.Parameter, torch.Tensor]:
    w = nn.Parameter(torch.tensor([[2.0, -1.0], [0.5, 1.5]]))
    return w, torch.zeros(2, 2)


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - {"SparseAdam"}))
def test_build_optimizer_every_type_reduces_a_quadratic(name: str) -> None:
    w, target = _quadratic()
    args: dict[str, Any] = {"type": name}
    if name not in ("Adadelta", "LBFGS", "Muon"):
        args["lr"] = 0.1
    opt = build_optimizer(args, [w])
    before = float(((w - target) ** 2).sum().detach())

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((w - target) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)  # type: ignore[arg-type]
    assert float(((w - target) ** 2).sum().detach()) < before


def test_build_optimizer_bad_value_is_config_error() -> None:
    with pytest.raises(ConfigError, match="SGD rejected its arguments"):
        build_optimizer({"type": "SGD", "lr": 0.1, "momentum": -1.0}, [nn.Parameter(torch.zeros(1))])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_build_loss_every_type_gives_a_scalar(name: str) -> None:
    out, target = LOSS_CASES.get(name, (torch.randn(4, 3), torch.sign(torch.randn(4, 3))))
    loss = build_loss({"type": name})(out, target)
    assert loss.shape == () and torch.isfinite(loss)


def test_build_loss_list_weight_becomes_a_tensor() -> None:
    loss = build_loss({"type": "CrossEntropyLoss", "weight": [0.0, 1.0]})
    out = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # only class 1 counts: loss over the second sample only, log(2)
    assert float(loss(out, torch.tensor([0, 1]))) == pytest.approx(0.693147, abs=1e-5)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_build_scheduler_every_type_round_trips_its_state(name: str) -> None:
    w, _ = _quadratic()
    opt = build_optimizer({"type": "SGD", "lr": 0.1, "momentum": 0.9}, [w])
    sch = build_scheduler({"type": name, **SCHEDULER_ARGS[name]}, opt, total_steps=10)
    for _ in range(3):
        opt.step()
        sch.step(1.0) if name == "ReduceLROnPlateau" else sch.step()
    state = from_bytes(to_bytes({"s": sch.state_dict()}))["s"]
    again = build_scheduler({"type": name, **SCHEDULER_ARGS[name]},
                            build_optimizer({"type": "SGD", "lr": 0.1, "momentum": 0.9}, [w]), total_steps=10)
    again.load_state_dict(state)
    assert again.state_dict() == sch.state_dict()


def test_build_scheduler_one_cycle_spans_the_run() -> None:
    opt = build_optimizer({"type": "SGD", "lr": 0.1}, [nn.Parameter(torch.zeros(1))])
    sch = build_scheduler({"type": "OneCycleLR", "max_lr": 1.0}, opt, total_steps=7)
    assert sch.total_steps == 7
