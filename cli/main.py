"""The `torchyard` command: ops commands (up, api, worker, migrate, user) and user commands."""

import typer

from cli import ops, user

app = typer.Typer(help="Torchyard: training-as-a-service for PyTorch.", no_args_is_help=True)
ops.register(app)
user.register(app)

if __name__ == "__main__":
    app()
