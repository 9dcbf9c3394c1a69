"""Checks the ops commands make before acting: a free port for `up`, that the server answering is the
one `up` started, and a migrated database for `user create`."""

import contextlib
import errno
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class PreflightError(RuntimeError):
    """A one-line reason the command cannot go on."""


def check_port_free(host: str, port: int) -> None:
    """Bind the address the API will listen on and let it go, so a taken port is reported before
    anything starts (uvicorn also sets SO_REUSEADDR, so a port in TIME_WAIT counts as free)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PreflightError(f"cannot listen on {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PreflightError(f"port {port} is already in use on {host}; "
                                     "pick another with --port") from exc
            raise PreflightError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def browser_host(host: str) -> str:
    """The host part of a URL a browser on this machine can open: 0.0.0.0 and :: are not addresses."""
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def confirm_ours(url: str, token: str, api_proc: subprocess.Popen[Any]) -> None:
    """The API that answered health checks is the child `up` started and knows its admin token;
    otherwise another server holds the port and the token would not work there."""
    try:
        status = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                           timeout=10).status_code
    except httpx.HTTPError as exc:
        raise PreflightError(f"the API at {url} stopped answering: {exc}") from exc
    if api_proc.poll() is not None or status != 200:
        raise PreflightError(f"another server answers at {url} (the admin token got {status}); "
                             "pick another port with --port")


def check_migrated(database_url: str) -> None:
    """The users table exists; a fresh SQLite file is not created just to find that out."""
    from server.core.db import make_engine

    url = make_url(database_url)
    shown = url.render_as_string(hide_password=True)
    missing = PreflightError(f"the database is not initialised ({shown}); run `torchyard migrate` first")
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(str(url.database)).is_file():
        raise missing
    engine = make_engine(database_url)
    try:
        with contextlib.closing(engine.connect()) as connection:
            present = inspect(connection).has_table("users")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise PreflightError(f"cannot open the database {shown}: {reason}") from exc
    finally:
        engine.dispose()
    if not present:
        raise missing
