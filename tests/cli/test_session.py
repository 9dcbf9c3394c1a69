"""`handles_errors`: local file errors become one line and exit 2; a closed pipe is left to click."""

import errno

import pytest
import typer

from cli.session import EXIT_USAGE, handles_errors


def _raising(exc: BaseException) -> None:
    @handles_errors
    def command() -> None:
        raise exc

    command()


def test_handles_errors_os_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as caught:
        _raising(PermissionError(errno.EACCES, "Permission denied", "/srv/data.csv"))
    assert caught.value.exit_code == EXIT_USAGE
    assert capsys.readouterr().err == "Cannot access /srv/data.csv: Permission denied\n"


def test_handles_errors_broken_pipe_propagates() -> None:
    with pytest.raises(BrokenPipeError):
        _raising(BrokenPipeError(errno.EPIPE, "Broken pipe"))
