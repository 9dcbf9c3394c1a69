"""`torchyard submit --follow` / `torchyard follow` exit codes against a live API + worker."""

import json
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli.conftest import TORCHYARD, RunCli, cli_env
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e
# 500 epochs of digits in batches of 8: far longer than any test waits, so only a cancel ends it.
DIGITS_SPEC = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                          {"type": "Linear", "out_features": 10}]}


def _submitted_job(stdout: str) -> dict:
    """`submit --json --follow` prints one JSON document: the job once it has finished."""
    return dict(json.loads(stdout))


def test_submit_follow_files_ends_0_with_job_succeeded(stack: Stack, run_cli: RunCli,
                                                       files: dict[str, Path]) -> None:
    proc = run_cli("submit", "--model", str(files["spec"]), "--dataset", str(files["data"]),
                   "--set", "epochs=3", "--set", "optimizer.lr=0.01", "--json", "--follow")
    assert proc.returncode == 0, proc.stderr
    job = _submitted_job(proc.stdout)
    assert job["status"] == "succeeded"
    assert job["config"]["optimizer"] == {"type": "Adam", "lr": 0.01}  # --set kept the default type
    final = stack.job(job["id"])
    assert (final["status"], final["progress"]) == ("succeeded", job["progress"])
    assert f"Job {job['id']} succeeded" in proc.stderr


def test_submit_follow_nan_loss_ends_1_printing_error(stack: Stack, run_cli: RunCli,
                                                      files: dict[str, Path]) -> None:
    proc = run_cli("submit", "--model", str(files["spec"]), "--dataset", str(files["data"]),
                   "--set", "epochs=5", "--set", "optimizer.type=SGD", "--set", "optimizer.lr=1e10",
                   "--json", "--follow")
    assert proc.returncode == 1, proc.stderr
    final = stack.job(_submitted_job(proc.stdout)["id"])
    assert final["status"] == "failed"
    assert final["error"]
    assert f"Error: {final['error']}" in proc.stderr


def test_submit_follow_python_model_raising_ends_1(stack: Stack, run_cli: RunCli, files: dict[str, Path],
                                                   tmp_path: Path) -> None:
    model = tmp_path / "broken.py"
    model.write_text("def build_model(input_shape, num_outputs):\n"
                     "    raise ValueError('broken on purpose: no layers here')\n")
    proc = run_cli("submit", "--model", str(model), "--dataset", str(files["data"]), "--json", "--follow")
    assert proc.returncode == 1, proc.stderr
    final = stack.job(_submitted_job(proc.stdout)["id"])
    assert final["status"] == "failed"
    assert "broken on purpose" in proc.stderr


def _reader(pipe: object, sink: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: sink.extend(iter(pipe.readline, "")), daemon=True)  # type: ignore[attr-defined]
    thread.start()
    return thread


def test_follow_survives_api_restart_then_exits_4_on_cancel(stack: Stack, files: dict[str, Path],
                                                            tmp_path: Path) -> None:
    dataset = stack.post("/datasets/builtin", json={"name": "digits"})
    model = stack.post("/models", json={"name": "mlp", "spec": DIGITS_SPEC})
    job_id = stack.submit(model["id"], dataset["id"], {"epochs": 500, "batch_size": 8})
    env = cli_env(stack.url, stack.admin_token, tmp_path / "config.json")
    follower = subprocess.Popen([*TORCHYARD, "follow", str(job_id), "--reconnect-timeout", "90"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = _reader(follower.stderr, lines)
    try:
        stack.wait_job(job_id, {"running"}, timeout_s=120)
        wait_until(lambda: any("Following job" in line for line in lines), 60, "follow to connect")
        stack.restart_api()
        assert follower.poll() is None, "".join(lines)  # still waiting for the API to come back
        stack.client.post(f"/jobs/{job_id}/cancel").raise_for_status()
        assert follower.wait(timeout=120) == 4, "".join(lines)
    finally:
        if follower.poll() is None:
            follower.kill()
        stack.client.post(f"/jobs/{job_id}/cancel")  # never leave the shared worker busy
    reader.join(timeout=10)
    assert stack.job(job_id)["status"] == "cancelled"
    assert any("reconnected" in line for line in lines), "".join(lines)


def test_follow_unreachable_server_exits_3(run_cli: RunCli) -> None:
    proc = run_cli("follow", "1", url="http://127.0.0.1:9")
    assert proc.returncode == 3
    assert "unreachable" in proc.stderr


def test_follow_bad_token_exits_3(run_cli: RunCli) -> None:
    proc = run_cli("follow", "1", token="not-a-valid-token-at-all")
    assert proc.returncode == 3
    assert "Authentication refused" in proc.stderr


def test_follow_missing_job_exits_1_with_detail(run_cli: RunCli) -> None:
    proc = run_cli("follow", "987654")
    assert proc.returncode == 1
    assert "404" in proc.stderr


def test_follow_ctrl_c_exits_130_and_jobs_cancel_stops_job(stack: Stack, run_cli: RunCli,
                                                          tmp_path: Path) -> None:
    dataset = stack.post("/datasets/builtin", json={"name": "digits"})
    model = stack.post("/models", json={"name": "long", "spec": DIGITS_SPEC})
    job_id = stack.submit(model["id"], dataset["id"], {"epochs": 500, "batch_size": 8})
    env = cli_env(stack.url, stack.admin_token, tmp_path / "config.json")
    follower = subprocess.Popen([*TORCHYARD, "follow", str(job_id)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = _reader(follower.stderr, lines)
    try:
        wait_until(lambda: any("Following job" in line for line in lines), 60, "follow to start")
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 130
    finally:
        if follower.poll() is None:
            follower.kill()
        cancelled = run_cli("jobs", "cancel", str(job_id))
    reader.join(timeout=10)
    assert cancelled.returncode == 0, cancelled.stderr
    assert stack.wait_job(job_id, {"cancelled"}, timeout_s=60)["status"] == "cancelled"
    again = run_cli("jobs", "cancel", str(job_id))
    assert again.returncode == 1 and "409" in again.stderr  # a finished job cannot be cancelled
