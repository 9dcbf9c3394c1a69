"""Container HEALTHCHECK for every role of the image (TORCHYARD_ROLE: api | worker | tensorboard)."""

import os
import sys

import httpx
from kombu import Connection
from sqlalchemy import text

from server.core.config import get_settings
from server.core.db import get_engine

ROLE_URLS = {
    "api": "http://127.0.0.1:8000/api/v1/health",
    "tensorboard": "http://127.0.0.1:6006/",
}


def check_url(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        return f"{url} unreachable: {exc}"
    return None if response.status_code == 200 else f"{url} answered {response.status_code}"


def check_backends() -> str | None:
    """A worker is healthy when it can reach the job database and the broker."""
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means unhealthy; the message goes to docker inspect
        return f"database unreachable: {exc}"
    try:
        with Connection(get_settings().broker_url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"broker unreachable: {exc}"
    return None


def main() -> int:
    role = os.environ.get("TORCHYARD_ROLE", "api")
    url = os.environ.get("TORCHYARD_HEALTHCHECK_URL") or ROLE_URLS.get(role)  # override: a non-default port
    problem = check_url(url) if url else check_backends()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
