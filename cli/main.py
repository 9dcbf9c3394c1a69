"""The `torchyard` command: ops commands (up, api, worker, migrate, user) and user commands."""

import typer

from cli import ops, user

# Plain click output: a usage error is a short `Error: ...` line, not a box wrapped at 80 columns, and a
# bug's traceback is Python's own rather than pages of boxed frames with locals.
app = typer.Typer(help="Torchyard: training-as-a-service for PyTorch.", no_args_is_help=True,
                  rich_markup_mode=None, pretty_exceptions_enable=False)
ops.register(app)
user.register(app)

if __name__ == "__main__":
    app()
