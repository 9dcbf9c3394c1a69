"""Ops commands: up, api, worker, migrate, user create (owned by the platform room)."""

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from typing import Annotated, Any

import httpx
import typer

from cli import preflight
from server.core.config import Settings, get_settings

HostOpt = Annotated[str, typer.Option("--host", help="address to listen on")]
PortOpt = Annotated[int, typer.Option("--port", help="port to listen on")]
user_app = typer.Typer(help="Manage users (needs database access).", no_args_is_help=True,
                       rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    """Add the ops commands to the root app."""
    app.command()(up)
    app.command()(api)
    app.command()(worker)
    app.command()(migrate)
    app.add_typer(user_app, name="user")


def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from server.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    typer.echo("database is up to date")


def api(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Run the API server and dashboard (uvicorn), with housekeeping in a background thread."""
    import uvicorn

    from worker import housekeeping

    get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    housekeeping.start()
    # Open event streams would otherwise hold a SIGTERM'd server until they end.
    uvicorn.run("server.main:app", host=host, port=port, log_level="info", proxy_headers=True,
                timeout_graceful_shutdown=3)


def _gpu_list(gpus: str | None) -> list[str]:
    return [g.strip() for g in (gpus or "").split(",") if g.strip()]


def worker(
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU indices, e.g. 0,1 (default: CPU)")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="jobs run at once")] = 1,
) -> None:
    """Run one Celery worker that trains jobs from the queue."""
    devices = _gpu_list(gpus)
    # Set before torch ever loads; without --gpus jobs run on the CPU.
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    # Idle OpenMP threads sleep instead of spinning, so jobs sharing a host do not starve each other.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["TORCHYARD_WORKER_CONCURRENCY"] = str(concurrency)
    from celery.signals import worker_ready

    from worker import housekeeping
    from worker.app import app, gpu_queue

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    queues = [settings.queue] + [gpu_queue(settings.queue, k) for k in range(2, len(devices) + 1)]
    # Started once the pool has forked, so no child inherits a running thread.
    worker_ready.connect(lambda **_: housekeeping.start(settings), weak=False)
    app.worker_main([
        "worker", "--queues", ",".join(queues), "--concurrency", str(concurrency), "--pool", "prefork",
        "--loglevel", "INFO", "--hostname", f"torchyard-{secrets.token_hex(3)}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ])


USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")  # the rule POST /users applies


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="user name: letters, digits and _ . @ -")],
    admin: Annotated[bool, typer.Option("--admin", help="may create users")] = False,
) -> None:
    """Create a user and print its token (shown only once)."""
    from sqlalchemy import select

    from server.core.db import session_scope
    from server.core.security import hash_token, new_token
    from server.store.models import User

    name = name.strip()
    if not USER_NAME.fullmatch(name):
        raise typer.BadParameter("expected 1 to 100 letters, digits or _ . @ -", param_hint="NAME")
    try:
        preflight.check_migrated(get_settings().database_url)
    except preflight.PreflightError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    token = new_token()
    with session_scope() as session:
        if session.execute(select(User.id).where(User.name == name)).first() is not None:
            typer.echo(f"user {name!r} already exists", err=True)
            raise typer.Exit(1)
        session.add(User(name=name, admin=admin, token_hash=hash_token(token)))
    typer.echo(token)


def admin_token(settings: Settings) -> str:
    """TORCHYARD_ADMIN_TOKEN, else a token generated once and kept (0600) in the data dir."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def _child_env(settings: Settings, token: str) -> dict[str, str]:
    return {**os.environ, "TORCHYARD_ADMIN_TOKEN": token, "TORCHYARD_DATA_DIR": str(settings.data_dir),
            "TORCHYARD_DATABASE_URL": settings.database_url, "TORCHYARD_BROKER_URL": settings.broker_url}


def wait_healthy(url: str, procs: list[subprocess.Popen[Any]], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a Torchyard process exited during start-up; see its output above")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)  # polling the health route with a deadline
    raise RuntimeError(f"the API did not become healthy at {url} within {timeout_s:.0f} s")


def _stop_all(procs: list[subprocess.Popen[Any]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def up(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int, typer.Option("--workers", min=0, help="worker processes")] = 1,
    demo: Annotated[bool, typer.Option("--demo", help="also submit a demo job (digits MLP)")] = False,
) -> None:
    """Migrate, then run the API, the dashboard and N workers on this machine until Ctrl-C."""
    try:
        preflight.check_port_free(host, port)
    except preflight.PreflightError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = admin_token(settings)
    migrate()
    env = _child_env(settings, token)
    me = [sys.executable, "-m", "cli.main"]
    procs = [subprocess.Popen([*me, "api", "--host", host, "--port", str(port)], env=env)]
    procs += [subprocess.Popen([*me, "worker"], env=env) for _ in range(workers)]
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _serve(procs, f"http://{preflight.browser_host(host)}:{port}", token, demo)
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    except RuntimeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        _stop_all(procs)


def _serve(procs: list[subprocess.Popen[Any]], local: str, token: str, demo: bool) -> None:
    """Print the banner once the API that answers is ours, then supervise the children."""
    wait_healthy(local, procs)
    preflight.confirm_ours(local, token, procs[0])
    typer.echo(f"Dashboard: {local}/")
    typer.echo(f"Admin token: {token}", color=False)
    if demo:
        from cli.demo import submit_demo

        job_id = submit_demo(local, token)
        typer.echo(f"Demo job: {local}/jobs/{job_id}")
    sys.stdout.flush()
    _supervise(procs)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _supervise(procs: list[subprocess.Popen[Any]]) -> None:
    """Block until a child exits; `up` is only useful with all of them alive."""
    pid, status = os.wait()
    name = next((" ".join(map(str, p.args[3:])) for p in procs  # type: ignore[index]
                 if p.pid == pid), str(pid))
    raise RuntimeError(f"child process '{name}' exited with status {os.waitstatus_to_exitcode(status)}")
