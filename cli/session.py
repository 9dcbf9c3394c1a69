"""What every user command shares: the client built from the config, consoles, and the mapping of
errors to the contract's exit codes (1 API refusal, 2 usage, 3 unreachable/auth, 130 interrupted)."""

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cli import config
from client import ApiError, AuthError, Client, Unreachable

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_CANCELLED, EXIT_INTERRUPTED = 1, 2, 3, 4, 130

# Data goes to stdout; progress, notices and errors to stderr, so `--json` output stays parseable.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
LimitOpt = Annotated[int, typer.Option(min=1, help="At most this many.")]
OffsetOpt = Annotated[int, typer.Option(min=0)]

out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def client() -> Client:
    """A client for the configured server; a usage error (exit 2) when none is configured."""
    try:
        creds = config.resolve()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not creds.url or not creds.token:
        err.print("Not logged in: run `torchyard login URL --token TOKEN` "
                  "or set TORCHYARD_URL and TORCHYARD_TOKEN.")
        raise typer.Exit(EXIT_USAGE)
    return Client(creds.url, creds.token)


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn client errors and Ctrl-C into a one-line message and the contract's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except AuthError as exc:
            err.print(f"[red]Authentication refused:[/] {escape(exc.message)}", markup=True)
            raise typer.Exit(EXIT_UNREACHABLE) from exc
        except Unreachable as exc:
            err.print(f"[red]Server unreachable:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(EXIT_UNREACHABLE) from exc
        except ApiError as exc:
            err.print(f"[red]Error ({exc.status}):[/] {escape(exc.message)}", markup=True)
            raise typer.Exit(EXIT_FAILED) from exc
        except KeyboardInterrupt as exc:
            err.print("Interrupted.")
            raise typer.Exit(EXIT_INTERRUPTED) from exc

    return wrapper


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else there."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def emit(data: Any, as_json: bool, render: Callable[[], Any]) -> None:
    """--json prints the data on stdout; otherwise what `render` makes (a table or a line)."""
    if as_json:
        print_json(data)
    else:
        out.print(render())
