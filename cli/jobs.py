"""`torchyard jobs ls|show|cancel|logs`."""

import sys
from typing import Annotated

import typer

from cli.render import job_table, jobs_table, layer_summary_table
from cli.session import JsonOpt, LimitOpt, OffsetOpt, client, emit_page, err, handles_errors, out, print_json
from client import ApiError, AuthError, Client

app = typer.Typer(help="List, inspect and cancel jobs.", no_args_is_help=True, rich_markup_mode=None)

JobId = Annotated[int, typer.Argument(help="Job id")]
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@app.command("ls")
@handles_errors
def ls_cmd(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: LimitOpt = 100,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """List your jobs."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(STATUSES)}", param_hint="--status")
    page = client().list_jobs(status=status, limit=limit, offset=offset)
    emit_page(page, offset, as_json, lambda: jobs_table(page.data, page.count))  # type: ignore[arg-type]


@app.command("show")
@handles_errors
def show_cmd(job_id: JobId, as_json: JsonOpt = False) -> None:
    """Show a job and, once its model is built, the per-layer summary."""
    api = client()
    job = api.get_job(job_id)
    if as_json:
        print_json(job)
        return
    out.print(job_table(job))
    try:
        out.print(layer_summary_table(dict(api.job_model(job_id))))
    except AuthError:
        raise
    except ApiError as exc:  # e.g. a Python model not built yet: the job itself was shown
        err.print(f"Model summary unavailable: {exc.message}")


@app.command("cancel")
@handles_errors
def cancel_cmd(job_id: JobId) -> None:
    """Cancel a queued or running job (it keeps its checkpoints)."""
    client().cancel_job(job_id)
    err.print(f"Cancel requested for job {job_id}.")


@app.command("logs")
@handles_errors
def logs_cmd(
    job_id: JobId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print a job's log; with -f, keep following it until the job ends."""
    api = client()
    if not follow:
        text = api.logs(job_id)
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        return
    follow_logs(api, job_id)


def follow_logs(api: Client, job_id: int) -> None:
    """Replays the job's events from the first one (`after=0`), printing the log lines: gapless and
    without repeats, across server restarts too."""
    api.get_job(job_id)  # a missing job is a clean 404 before streaming
    for event in api.events(job_id, after="0"):
        if event.event == "log" and isinstance(event.data, dict):
            sys.stdout.write(f"{event.data.get('line', '')}\n")
            sys.stdout.flush()
