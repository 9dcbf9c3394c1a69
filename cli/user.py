"""User commands: login, whoami, datasets, models, submit, jobs, follow, metrics, checkpoints, download."""

import typer


def register(app: typer.Typer) -> None:
    """Add the user commands to the root app."""
