"""`--set KEY=VALUE` parsing and merging into the job config; what a refused submit leaves behind."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import typer

from cli.submit import apply_sets, parse_set
from tests.cli.conftest import RunCli, parse_json
from tests.stack import Stack


def test_parse_set_json_number() -> None:
    assert parse_set("optimizer.lr=0.01") == (["optimizer", "lr"], 0.01)


def test_parse_set_non_json_is_string() -> None:
    assert parse_set("loss.type=MSELoss") == (["loss", "type"], "MSELoss")


def test_parse_set_splits_on_first_equals() -> None:
    assert parse_set("name=a=b") == (["name"], "a=b")


def test_parse_set_json_literals() -> None:
    assert parse_set("compile=true") == (["compile"], True)
    assert parse_set("max_steps=null") == (["max_steps"], None)
    assert parse_set('freeze=["layers.0"]') == (["freeze"], ["layers.0"])
    assert parse_set('precision="32"') == (["precision"], "32")


@pytest.mark.parametrize("item", ["epochs", "=3", "optimizer..lr=1", "optimizer.=1"])
def test_parse_set_malformed_raises(item: str) -> None:
    with pytest.raises(typer.BadParameter, match="KEY=VALUE"):
        parse_set(item)


def test_apply_sets_optimizer_keeps_default_type() -> None:
    assert apply_sets({}, ["optimizer.lr=0.01"]) == {"optimizer": {"type": "Adam", "lr": 0.01}}


def test_apply_sets_optimizer_null_gets_default_type() -> None:
    assert apply_sets({"optimizer": None}, ["optimizer.lr=0.5"]) == {"optimizer": {"type": "Adam", "lr": 0.5}}


def test_apply_sets_merges_into_given_optimizer() -> None:
    config = {"optimizer": {"type": "SGD", "momentum": 0.9}, "epochs": 2}
    merged = apply_sets(config, ["optimizer.lr=0.1", "epochs=5"])
    assert merged == {"optimizer": {"type": "SGD", "momentum": 0.9, "lr": 0.1}, "epochs": 5}
    assert config == {"optimizer": {"type": "SGD", "momentum": 0.9}, "epochs": 2}  # input untouched


def test_apply_sets_creates_other_objects_empty() -> None:
    merged = apply_sets({}, ["scheduler.type=StepLR", "scheduler.step_size=2", "init_from.job_id=7"])
    assert merged == {"scheduler": {"type": "StepLR", "step_size": 2}, "init_from": {"job_id": 7}}


def test_apply_sets_later_wins() -> None:
    assert apply_sets({}, ["epochs=1", "epochs=3"]) == {"epochs": 3}


def test_apply_sets_into_scalar_raises_naming_key() -> None:
    with pytest.raises(typer.BadParameter, match="epochs is 3, not an object"):
        apply_sets({"epochs": 3}, ["epochs.value=1"])


def test_submit_malformed_set_exits_2_before_contacting_server() -> None:
    env = {"TORCHYARD_URL": "http://127.0.0.1:9", "TORCHYARD_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "cli.main", "submit", "--model", "1", "--dataset", "1",
                           "--set", "epochs"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "KEY=VALUE" in proc.stderr


def _new_user(stack: Stack) -> str:
    """The token of a user with nothing yet, so counts of their datasets are exact."""
    return str(stack.post("/users", json={"name": f"submit-{uuid.uuid4().hex[:8]}"})["token"])


def _dataset_ids(run_cli: RunCli, token: str) -> list[int]:
    return [d["id"] for d in parse_json(run_cli("datasets", "ls", "--json", token=token))]


@pytest.mark.e2e
def test_submit_refused_deletes_dataset_it_uploaded(stack: Stack, run_cli: RunCli,
                                                    files: dict[str, Path]) -> None:
    token = _new_user(stack)
    proc = run_cli("submit", "--model", str(files["spec"]), "--dataset", str(files["data"]),
                   "--set", "epochz=1", token=token)
    assert proc.returncode == 1
    assert "Error (422): body.config.epochz" in proc.stderr
    assert "Deleted dataset" in proc.stderr and "Deleted model" in proc.stderr
    assert _dataset_ids(run_cli, token) == []
    assert parse_json(run_cli("models", "ls", "--json", token=token)) == []


@pytest.mark.e2e
def test_submit_refused_deletes_builtin_it_created(stack: Stack, run_cli: RunCli,
                                                   files: dict[str, Path]) -> None:
    token = _new_user(stack)
    proc = run_cli("submit", "--model", str(files["spec"]), "--dataset", "builtin:iris",
                   "--set", "epochs=0", token=token)
    assert proc.returncode == 1, proc.stderr
    assert _dataset_ids(run_cli, token) == []


@pytest.mark.e2e
def test_submit_builtin_reuses_users_dataset(stack: Stack, run_cli: RunCli, files: dict[str, Path]) -> None:
    token = _new_user(stack)
    existing = parse_json(run_cli("datasets", "builtin", "wine", "--json", token=token))
    model = parse_json(run_cli("models", "create", str(files["spec"]), "--json", token=token))
    for _ in range(2):
        proc = run_cli("submit", "--model", str(model["id"]), "--dataset", "builtin:wine",
                       "--set", "epochz=1", token=token)
        assert proc.returncode == 1
        assert f"Dataset {existing['id']} 'wine' (builtin, already yours)" in proc.stderr
        assert "Deleted dataset" not in proc.stderr and "Deleted model" not in proc.stderr
    assert _dataset_ids(run_cli, token) == [existing["id"]]
