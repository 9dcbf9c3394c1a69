"""`torchyard up` and `torchyard user create` refusing to start or write in a bad state, run as the real
console script."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.preflight import PreflightError, browser_host, confirm_ours
from tests.cli.conftest import TORCHYARD
from tests.stubhttp import answering, serving


def _ops_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHYARD_")}
    env["TORCHYARD_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["TORCHYARD_DATABASE_URL"] = database_url
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TORCHYARD, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_up_port_in_use_exits_1_without_banner(taken_port: int, tmp_path: Path) -> None:
    proc = _run(["up", "--port", str(taken_port), "--workers", "0"], _ops_env(tmp_path / "data"))
    assert proc.returncode == 1
    assert "Admin token" not in proc.stdout and "Dashboard" not in proc.stdout
    assert proc.stderr == f"port {taken_port} is already in use on 127.0.0.1; pick another with --port\n"
    assert not (tmp_path / "data").exists()  # refused before migrating or making a token


@pytest.fixture
def other_server() -> Iterator[str]:
    """Another instance on the port: it refuses every token but its own."""
    with serving(answering(lambda _path: (401, None, b'{"detail":"invalid token"}'))) as url:
        yield url


def test_confirm_ours_refuses_server_rejecting_token(other_server: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(PreflightError, match="another server answers .* got 401"):
            confirm_ours(other_server, "our-token", child)
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(("host", "shown"), [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"),
                                             ("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"),
                                             ("example.lan", "example.lan")])
def test_browser_host_maps_wildcards_to_loopback(host: str, shown: str) -> None:
    assert browser_host(host) == shown


def test_user_create_unmigrated_sqlite_says_migrate(tmp_path: Path) -> None:
    proc = _run(["user", "create", "alice"], _ops_env(tmp_path / "fresh"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "run `torchyard migrate` first" in proc.stderr
    assert not (tmp_path / "fresh" / "torchyard.db").exists()  # no empty database left behind


def test_user_create_unmigrated_postgres_says_migrate(fresh_pg_url: str, tmp_path: Path) -> None:
    proc = _run(["user", "create", "alice"], _ops_env(tmp_path / "data", fresh_pg_url))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "torchyard migrate" in proc.stderr


def test_user_create_after_migrate_prints_token_once(tmp_path: Path) -> None:
    env = _ops_env(tmp_path / "data")
    assert _run(["migrate"], env).returncode == 0
    created = _run(["user", "create", "  bob  ", "--admin"], env)
    assert created.returncode == 0, created.stderr
    assert len(created.stdout.strip()) >= 20 and created.stdout.count("\n") == 1
    again = _run(["user", "create", "bob"], env)  # the name was stored stripped
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("name", ["", "   ", "two words"])
def test_user_create_bad_name_exits_2(name: str, tmp_path: Path) -> None:
    proc = _run(["user", "create", name], _ops_env(tmp_path / "data"))
    assert proc.returncode == 2
    assert "NAME" in proc.stderr and proc.stdout == ""
