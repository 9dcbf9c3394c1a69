"""What every user command shares: the client built from the config, consoles, and the mapping of
errors to the contract's exit codes (1 API refusal, 2 usage, 3 unreachable/auth, 130 interrupted)."""

import errno
import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cli import config
from client import ApiError, AuthError, Client, NotTorchyard, Page, TorchyardError, Unreachable

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_CANCELLED, EXIT_INTERRUPTED = 1, 2, 3, 4, 130

# Data goes to stdout; progress, notices and errors to stderr, so `--json` output stays parseable.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
LimitOpt = Annotated[int, typer.Option(min=1, help="At most this many.")]
OffsetOpt = Annotated[int, typer.Option(min=0)]

# Piped output is read by grep and awk: a row must stay on one line, not fold at a pipe's 80 columns.
PIPE_WIDTH = 100_000
out = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
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
    """Turn client errors, local file errors and Ctrl-C into a one-line message and the contract's
    exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (TorchyardError, OSError, KeyboardInterrupt) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # a closed pipe (`| head`): click exits quietly
            raise typer.Exit(report_error(exc)) from exc

    return wrapper


def report_error(exc: BaseException) -> int:
    """Print one line for the error; return its exit code."""
    if isinstance(exc, AuthError):
        err.print(f"[red]Authentication refused:[/] {escape(exc.message)}", markup=True)
        return EXIT_UNREACHABLE
    if isinstance(exc, NotTorchyard):
        message = str(exc)
        err.print(f"[red]{escape(message[:1].upper() + message[1:])}[/]", markup=True)
        return EXIT_UNREACHABLE
    if isinstance(exc, Unreachable):
        err.print(f"[red]Server unreachable:[/] {escape(str(exc))}", markup=True)
        return EXIT_UNREACHABLE
    if isinstance(exc, ApiError):
        err.print(f"[red]Error ({exc.status}):[/] {escape(exc.message)}", markup=True)
        return EXIT_FAILED
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        err.print(f"Cannot access{where}: {exc.strerror or exc}")
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        err.print("Interrupted.")
        return EXIT_INTERRUPTED
    err.print(f"Error: {exc}")
    return EXIT_FAILED


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


def emit_page(page: Page, offset: int, as_json: bool, render: Callable[[], Any]) -> None:
    """A listing: the rows (or the JSON array) on stdout, and on stderr a hint when there are more."""
    emit(page.data, as_json, render)
    shown = len(page.data)
    if shown < page.count:
        span = str(shown) if offset == 0 else f"{offset + 1}-{offset + shown}" if shown else "none"
        err.print(f"showing {span} of {page.count}; use --limit/--offset for the rest")
