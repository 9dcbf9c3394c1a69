"""Data-parallel train(): two gloo ranks on the CPU must follow the one-process run with the same global
batch, report and checkpoint once (rank 0), agree on stopping, and resume from rank 0's checkpoint.

The two ranks run once per module (torch.multiprocessing.spawn) through every scenario; each test
checks one property of what they recorded."""

import datetime
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from dl.config import TrainConfig, parse_config
from dl.distributed import Dist
from dl.errors import ConfigError
from dl.train import train
from tests.dl.toys import Recorder, blobs

WORLD = 2
# 96 training samples in global batches of 19: the last one has 1 sample, so rank 1's share is empty;
# 24 validation samples split 19 + 5.
UNEVEN: dict[str, Any] = {"epochs": 3, "batch_size": 19, "optimizer": {"type": "Adam", "lr": 0.01}}
# 10 batches of 10 (the last 6) in optimizer steps of 3 batches: the last step has one short batch.
ACCUM: dict[str, Any] = {"epochs": 2, "batch_size": 10, "grad_accum_steps": 3,
                         "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9}}
STOP_AT = 4
RTOL = 1e-5


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _run(config: dict[str, Any], *, stop_after: int | None = None,
         resume: dict[str, Any] | None = None) -> dict[str, Any]:
    rec, model = Recorder(stop_after=stop_after), _mlp()
    result = train(model, blobs(n=120), parse_config(config), callbacks=rec, resume=resume)
    return {"train_loss": rec.series("train_loss"), "val_loss": rec.series("val_loss"),
            "val_accuracy": rec.series("val_accuracy"), "points": len(rec.points),
            "checkpoints": [(c.step, c.state) for c in rec.checkpoints], "weights": model.state_dict(),
            "status": result.status, "step": result.step}


def _rank(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=60))
    try:
        runs = {"uneven": _run(UNEVEN), "accum": _run(ACCUM), "stopped": _run(UNEVEN, stop_after=STOP_AT)}
        # every rank resumes from the state rank 0 saved (the worker reads it back from the database)
        saved = Path(out_dir) / "stop_state.pt"
        if rank == 0:
            torch.save(runs["stopped"]["checkpoints"][0][1], saved)
        dist.barrier()
        runs["resumed"] = _run(UNEVEN, resume=torch.load(saved, weights_only=True))
        torch.save(runs, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What each of the two ranks recorded, per scenario."""
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_rank, args=(str(out / "init"), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _assert_close_series(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [s for s, _ in got] == [s for s, _ in want]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=RTOL)


def _assert_close_weights(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)  # no "module." prefix from the DDP wrapper
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=RTOL, atol=1e-6, msg=key)


def test_weights_make_rank_shares_average_to_the_global_mean() -> None:
    # global batches of 19 and 1 samples: rank 1 holds 9 and 0 of them, rank 0 holds 10 and 1
    assert Dist(rank=1, world=2, control=None).weights([19, 1]) == [9 * 2 / 20, 0.0]
    assert Dist(rank=0, world=2, control=None).weights([19, 1]) == [10 * 2 / 20, 1 * 2 / 20]
    assert Dist(rank=1, world=2, control=None).train_shard(torch.tensor([7])).tolist() == [7]


def test_train_two_ranks_follow_the_one_process_loss_curve(ranks: list[dict[str, Any]]) -> None:
    one = _run(UNEVEN)
    for name in ("train_loss", "val_loss", "val_accuracy"):
        _assert_close_series(ranks[0]["uneven"][name], one[name])
    assert len(one["train_loss"]) == 3 * 6  # 6 global batches per epoch, every one a step
    _assert_close_weights(ranks[0]["uneven"]["weights"], one["weights"])
    _assert_close_weights(ranks[1]["uneven"]["weights"], one["weights"])


def test_train_two_ranks_accumulate_like_one_process(ranks: list[dict[str, Any]]) -> None:
    one = _run(ACCUM)
    _assert_close_series(ranks[0]["accum"]["train_loss"], one["train_loss"])
    _assert_close_weights(ranks[0]["accum"]["weights"], one["weights"])


def test_train_two_ranks_report_and_checkpoint_on_rank_zero_only(ranks: list[dict[str, Any]]) -> None:
    assert [s for s, _ in ranks[0]["uneven"]["checkpoints"]] == [6, 12, 18]
    assert ranks[1]["uneven"]["points"] == 0 and ranks[1]["uneven"]["checkpoints"] == []
    state = ranks[0]["uneven"]["checkpoints"][-1][1]
    assert list(state["model"]) == list(_mlp().state_dict())


def test_train_two_ranks_stop_when_rank_zero_is_asked(ranks: list[dict[str, Any]]) -> None:
    for rank in ranks:
        assert (rank["stopped"]["status"], rank["stopped"]["step"]) == ("stopped", STOP_AT)
    assert [s for s, _ in ranks[0]["stopped"]["checkpoints"]] == [STOP_AT]


def test_train_two_ranks_resume_from_rank_zero_checkpoint(ranks: list[dict[str, Any]]) -> None:
    resumed, whole = ranks[0]["resumed"], ranks[0]["uneven"]
    assert resumed["train_loss"] == [p for p in whole["train_loss"] if p[0] > STOP_AT]
    for rank in ranks:
        _assert_close_weights(rank["resumed"]["weights"], whole["weights"])


def test_train_one_process_resumes_a_two_rank_checkpoint(ranks: list[dict[str, Any]]) -> None:
    state = ranks[0]["stopped"]["checkpoints"][0][1]
    resumed, one = _run(UNEVEN, resume=state), _run(UNEVEN)
    _assert_close_series(resumed["train_loss"], [p for p in one["train_loss"] if p[0] > STOP_AT])
    _assert_close_weights(resumed["weights"], one["weights"])


@pytest.mark.parametrize(("config", "loc"), [
    ({"gpus": 2, "optimizer": {"type": "LBFGS"}}, ("gpus",)),
    ({"gpus": 2, "task": "gan"}, ("gpus",)),
    ({"gpus": 2, "device": "cuda:1"}, ("device",)),
])
def test_parse_config_refuses_what_ddp_cannot_do(config: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    assert err.value.loc == loc


def test_parse_config_accepts_gpus_two() -> None:
    assert parse_config({"gpus": 2}) == TrainConfig(gpus=2)
