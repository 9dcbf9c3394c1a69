"""Usage errors as short plain text (exit 2), checked before any server is contacted."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import TORCHYARD


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing listens on port 9: a command that got past its usage checks would exit 3 instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHYARD_") and k != "COLUMNS"}
    env.update(TORCHYARD_URL="http://127.0.0.1:9", TORCHYARD_TOKEN="t",
               TORCHYARD_CONFIG=str(cwd / "config.json"))
    return subprocess.run([*TORCHYARD, *args], capture_output=True, text=True, env=env, timeout=60, cwd=cwd)


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one `Error: ...` line click prints after the usage lines; no box drawing anywhere."""
    assert proc.returncode == 2, proc.stderr
    assert not any(ch in proc.stderr for ch in "╭│╰"), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_unknown_flag_is_short_plain_error(tmp_path: Path) -> None:
    proc = _run("jobs", "ls", "--bogus", cwd=tmp_path)
    assert _error_line(proc) == "Error: No such option: --bogus"
    assert len(proc.stderr.splitlines()) <= 4


@pytest.mark.parametrize(("name", "content", "args", "words"), [
    ("bad.yaml", "layers: [\n", ["models", "create", "bad.yaml"],
     ["bad.yaml: line 2, column 1: expected the node content"]),
    ("bad.json", '{"layers": [\n  {"type": "Linear",,}\n]}\n',
     ["submit", "--model", "bad.json", "--dataset", "1"],
     ["--model", "bad.json: line 2, column 21"]),
    ("model.txt", "layers: []\n", ["models", "create", "model.txt"],
     ["expected a .json, .yaml, .yml or .py file"]),
], ids=["yaml_line", "json_line", "extension"])
def test_bad_model_file_is_one_line_naming_file_and_place(name: str, content: str, args: list[str],
                                                          words: list[str], tmp_path: Path) -> None:
    (tmp_path / name).write_text(content)
    line = _error_line(_run(*args, cwd=tmp_path))
    assert all(word in line for word in words), line


def test_submit_bad_dataset_source_exits_2_before_creating_model(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text('{"layers": [{"type": "Linear", "out_features": 2}]}')
    line = _error_line(_run("submit", "--model", "spec.json", "--dataset", "nope", cwd=tmp_path))
    assert "--dataset" in line and "builtin:NAME" in line


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "localhost", "ftp://host/", "http://"])
def test_login_url_without_http_scheme_exits_2(url: str, tmp_path: Path) -> None:
    line = _error_line(_run("login", url, "--token", "t", cwd=tmp_path))
    assert "http://" in line
    assert not (tmp_path / "config.json").exists()
