"""The user config file: 0600 permissions, atomic rewrite, environment overrides."""

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli import config


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_creates_file_readable_by_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "torchyard" / "config.json"
    config.save("http://h:8000", "secret-token", path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert json.loads(path.read_text()) == {"url": "http://h:8000", "token": "secret-token"}


def test_save_over_world_readable_file_makes_it_0600(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)
    config.save("http://h", "t2", path)
    assert _mode(path) == 0o600
    assert config.load_file(path) == {"url": "http://h", "token": "t2"}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left behind


def test_config_path_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TORCHYARD_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_path() == tmp_path / "torchyard" / "config.json"


def test_resolve_env_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    config.save("http://file", "file-token", path)
    monkeypatch.setenv("TORCHYARD_URL", "http://env")
    monkeypatch.delenv("TORCHYARD_TOKEN", raising=False)
    assert config.resolve(path) == config.Credentials(url="http://env", token="file-token")
    monkeypatch.setenv("TORCHYARD_TOKEN", "env-token")
    assert config.resolve(path) == config.Credentials(url="http://env", token="env-token")


def test_resolve_without_file_or_env_is_empty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TORCHYARD_URL", raising=False)
    monkeypatch.delenv("TORCHYARD_TOKEN", raising=False)
    assert config.resolve(tmp_path / "missing.json") == config.Credentials(url=None, token=None)


def test_load_corrupt_file_raises_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        config.load_file(path)


def test_login_unreachable_exits_3_and_saves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    env = {"TORCHYARD_CONFIG": str(path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "cli.main", "login", "http://127.0.0.1:9", "--token", "t"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "unreachable" in proc.stderr
    assert not path.exists()


def test_command_without_login_exits_2(tmp_path: Path) -> None:
    env = {"TORCHYARD_CONFIG": str(tmp_path / "none.json"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "cli.main", "jobs", "ls"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2
    assert "torchyard login" in proc.stderr
