"""Listing, inspection and download commands, each run as the real console script."""

import csv
import io
import json
from pathlib import Path

import pytest
import torch

from tests.cli.conftest import SPEC, RunCli, parse_json
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def finished_job(stack: Stack, files: dict[str, Path]) -> dict:
    """A small job on data.csv, run to success once for this module."""
    with files["data"].open("rb") as f:
        dataset = stack.post("/datasets", files={"file": ("data.csv", f)}, data={"name": "xor-ish"})
    model = stack.post("/models", json={"name": "tiny", "spec": SPEC})
    job_id = stack.submit(model["id"], dataset["id"], {"epochs": 2, "batch_size": 32})
    return stack.wait_job(job_id, {"succeeded"})


def test_whoami_json_names_admin(run_cli: RunCli) -> None:
    me = parse_json(run_cli("whoami", "--json"))
    assert me["admin"] is True


def test_listings_json_parse_and_hold_the_job(run_cli: RunCli, finished_job: dict) -> None:
    jobs = parse_json(run_cli("jobs", "ls", "--status", "succeeded", "--json"))
    assert finished_job["id"] in [j["id"] for j in jobs]
    assert {j["status"] for j in jobs} == {"succeeded"}
    assert finished_job["dataset_id"] in [d["id"] for d in parse_json(run_cli("datasets", "ls", "--json"))]
    assert finished_job["model_id"] in [m["id"] for m in parse_json(run_cli("models", "ls", "--json"))]
    shown = parse_json(run_cli("jobs", "show", str(finished_job["id"]), "--json"))
    assert shown["status"] == "succeeded"


def test_checkpoints_json_ends_at_last_step(run_cli: RunCli, finished_job: dict) -> None:
    checkpoints = parse_json(run_cli("checkpoints", str(finished_job["id"]), "--json"))
    steps = [c["step"] for c in checkpoints]
    # 96 training rows (val_fraction 0.2 of 120) in batches of 32: 3 steps an epoch, 2 epochs.
    assert max(steps) == 6 == finished_job["progress"]["step"]


def test_metrics_csv_matches_json_series(run_cli: RunCli, finished_job: dict) -> None:
    series = parse_json(run_cli("metrics", str(finished_job["id"]), "train_loss", "--json"))
    proc = run_cli("metrics", str(finished_job["id"]), "train_loss", "--csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [int(r["step"]) for r in rows] == series["steps"] == [1, 2, 3, 4, 5, 6]
    assert [float(r["value"]) for r in rows] == series["values"]


def test_download_newest_checkpoint_loads_as_state_dict(run_cli: RunCli, finished_job: dict,
                                                        tmp_path: Path) -> None:
    dest = tmp_path / "weights.pt"
    proc = run_cli("download", str(finished_job["id"]), "-o", str(dest))
    assert proc.returncode == 0, proc.stderr
    state = torch.load(dest, weights_only=True)
    shapes = sorted(tuple(t.shape) for t in state.values())
    assert shapes == [(2,), (2, 8), (8,), (8, 2)]  # Linear(2->8) and Linear(8->2)


def test_download_torchscript_model_runs_on_raw_features(run_cli: RunCli, finished_job: dict,
                                                          tmp_path: Path) -> None:
    dest = tmp_path / "model.ts.pt"
    proc = run_cli("download", str(finished_job["id"]), "--format", "torchscript", "-o", str(dest))
    assert proc.returncode == 0, proc.stderr
    model = torch.jit.load(str(dest))
    assert model(torch.zeros(3, 2)).shape == (3, 2)  # normalisation is inside: raw 2-feature rows in


def test_jobs_show_prints_layer_summary(run_cli: RunCli, finished_job: dict) -> None:
    proc = run_cli("jobs", "show", str(finished_job["id"]))
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout
    assert "layers.2" in proc.stdout and "Linear" in proc.stdout


def test_jobs_logs_follow_of_failed_job_matches_logs(stack: Stack, run_cli: RunCli, finished_job: dict,
                                                    tmp_path: Path) -> None:
    source = "def build_model(input_shape, num_outputs):\n    raise ValueError('broken on purpose')\n"
    model = stack.post("/models", files={"file": ("broken.py", source.encode())}, data={"name": "broken"})
    job_id = stack.submit(model["id"], finished_job["dataset_id"], {"epochs": 1})
    stack.wait_job(job_id, {"failed"})
    plain = run_cli("jobs", "logs", str(job_id))
    followed = run_cli("jobs", "logs", str(job_id), "-f", timeout=60)  # replays from the first event
    assert plain.returncode == followed.returncode == 0, followed.stderr
    assert "broken on purpose" in plain.stdout
    assert followed.stdout == plain.stdout


def test_models_create_bad_layer_exits_1_naming_loc(run_cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("layers:\n  - type: Linear\n    out_features: 4\n  - type: NoSuchLayer\n")
    proc = run_cli("models", "create", str(spec))
    assert proc.returncode == 1
    assert "layers.1" in proc.stderr


def test_models_show_lists_spec_layers(run_cli: RunCli, files: dict[str, Path]) -> None:
    model = parse_json(run_cli("models", "create", str(files["spec"]), "--name", "shown", "--json"))
    proc = run_cli("models", "show", str(model["id"]))
    assert proc.returncode == 0, proc.stderr
    assert "out_features=8" in proc.stdout and "layers.2" in proc.stdout


def test_datasets_upload_builtin_rm(run_cli: RunCli, files: dict[str, Path]) -> None:
    uploaded = parse_json(run_cli("datasets", "upload", str(files["data"]), "--target", "x1", "--json"))
    assert uploaded["num_samples"] == 120
    assert uploaded["input_shape"] == [2]
    assert uploaded["target"]["kind"] == "values"  # x1 holds floats
    builtin = parse_json(run_cli("datasets", "builtin", "iris", "--json"))
    assert (builtin["num_samples"], builtin["input_shape"]) == (150, [4])
    assert run_cli("datasets", "rm", str(uploaded["id"])).returncode == 0
    remaining = [d["id"] for d in parse_json(run_cli("datasets", "ls", "--json"))]
    assert uploaded["id"] not in remaining and builtin["id"] in remaining


def test_login_saves_0600_config_and_whoami_uses_it(stack: Stack, run_cli: RunCli, tmp_path: Path) -> None:
    user = stack.post("/users", json={"name": "cli-login-user", "admin": False})
    assert run_cli("login", stack.url, "--token", user["token"]).returncode == 0
    config = tmp_path / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    assert json.loads(config.read_text())["token"] == user["token"]
    # run_cli sets TORCHYARD_URL/TOKEN to the admin; an empty override falls back to the file.
    proc = run_cli("whoami", "--json", token="", url="")
    assert parse_json(proc)["name"] == "cli-login-user"


def test_login_bad_token_exits_3_and_saves_nothing(stack: Stack, run_cli: RunCli, tmp_path: Path) -> None:
    proc = run_cli("login", stack.url, "--token", "wrong-token-xyz")
    assert proc.returncode == 3
    assert not (tmp_path / "config.json").exists()


def test_download_to_missing_folder_exits_2_in_one_line(run_cli: RunCli, finished_job: dict,
                                                        tmp_path: Path) -> None:
    dest = tmp_path / "no-such-folder" / "weights.pt"
    proc = run_cli("download", str(finished_job["id"]), "-o", str(dest))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"Cannot write {dest}: No such file or directory"
    assert "Traceback" not in proc.stderr and not dest.parent.exists()


def test_jobs_ls_piped_keeps_each_row_on_one_line(run_cli: RunCli, finished_job: dict) -> None:
    succeeded = [j for j in parse_json(run_cli("jobs", "ls", "--json")) if j["status"] == "succeeded"]
    proc = run_cli("jobs", "ls", unset=("COLUMNS",))  # a pipe with no width given: `| grep succeeded`
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "succeeded" in line]
    assert len(rows) >= len(succeeded) >= 1  # jobs only ever become succeeded, never leave it
    row = next(line for line in rows if finished_job["created_at"] in line)
    assert f" {finished_job['id']} " in row and "train_loss=" in row


def test_listing_past_limit_hints_on_stderr(stack: Stack, run_cli: RunCli) -> None:
    for _ in range(2):
        stack.post("/datasets/builtin", json={"name": "wine"})
    count = len(parse_json(run_cli("datasets", "ls", "--json", "--limit", "1000")))
    page = run_cli("datasets", "ls", "--json", "--limit", "1")
    assert len(parse_json(page)) == 1  # stdout stays the data array
    assert page.stderr.strip() == f"showing 1 of {count}; use --limit/--offset for the rest"
    table = run_cli("datasets", "ls", "--limit", "1", "--offset", "1")
    assert table.stderr.strip() == f"showing 2-2 of {count}; use --limit/--offset for the rest"
    assert run_cli("datasets", "ls", "--json", "--limit", "1000").stderr == ""


def test_metrics_unknown_name_exits_1_listing_names(run_cli: RunCli, finished_job: dict) -> None:
    proc = run_cli("metrics", str(finished_job["id"]), "train_los")
    assert proc.returncode == 1
    assert proc.stdout == ""
    line = proc.stderr.strip()
    assert "\n" not in line and "'train_los'" in line and "train_loss" in line and "val_loss" in line


def test_login_url_of_no_torchyard_server_exits_3(stack: Stack, run_cli: RunCli, tmp_path: Path) -> None:
    proc = run_cli("login", f"{stack.url}/not-the-api", "--token", stack.admin_token)
    assert proc.returncode == 3
    assert "No Torchyard server" in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "config.json").exists()
