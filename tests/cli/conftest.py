"""Helpers for driving the real `torchyard` console script against a live stack."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.stack import Stack

TORCHYARD = [str(Path(sys.executable).with_name("torchyard"))]
# A two-feature, two-class problem a small MLP learns: class 1 exactly when x0 > x1.
SPEC = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 2}]}

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(url: str, token: str, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHYARD_")}
    return {**env, "TORCHYARD_URL": url, "TORCHYARD_TOKEN": token, "TORCHYARD_CONFIG": str(config),
            "COLUMNS": "200"}


@pytest.fixture
def run_cli(stack: Stack, tmp_path: Path) -> RunCli:
    """Run `torchyard ARGS...` as the admin (or `token=`) and return the finished process."""

    def run(*args: str, token: str | None = None, url: str | None = None, timeout: float = 180,
            unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        env = cli_env(stack.url if url is None else url, stack.admin_token if token is None else token,
                      tmp_path / "config.json")
        for name in unset:
            env.pop(name, None)
        return subprocess.run([*TORCHYARD, *args], capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=tmp_path)

    return run


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """spec.json and data.csv (120 rows, header x0,x1,label) on disk."""
    root = tmp_path_factory.mktemp("cli-files")
    spec = root / "spec.json"
    spec.write_text(json.dumps(SPEC))
    rows = ["x0,x1,label"]
    for i in range(120):
        x0, x1 = (i * 7 % 11) / 10, (i * 5 % 13) / 12
        rows.append(f"{x0:.3f},{x1:.3f},{int(x0 > x1)}")
    data = root / "data.csv"
    data.write_text("\n".join(rows) + "\n")
    return {"spec": spec, "data": data}


def parse_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout)
