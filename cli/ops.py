"""Ops commands: up, api, worker, migrate, user create (owned by the platform room)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the ops commands to the root app."""
