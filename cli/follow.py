"""`torchyard follow ID`: a live progress bar and latest metrics, fed by the job's event stream."""

import contextlib
import time
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from cli.render import last_metrics
from cli.session import EXIT_CANCELLED, EXIT_FAILED, client, err, handles_errors
from client import TERMINAL_STATUSES, Client, Event, Job, ServerError, Unreachable

REFRESH_S = 2.0  # how often the bar re-reads the job for its epoch and total steps
EXIT_BY_STATUS = {"succeeded": 0, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}


class JobProgress(Progress):
    """The task bar plus one line of the latest metric values under it."""

    def __init__(self) -> None:
        self.metrics_line = Text("")  # before Progress.__init__, which already renders
        super().__init__(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.metrics_line.plain:
            yield self.metrics_line


class FollowState:
    """What the display shows, updated from `metric`, `status` and `log` events."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.metrics: dict[str, float] = dict(_numeric(job.get("summary") or {}))
        progress = job.get("progress") or {}
        self.step = int(progress.get("step") or 0)
        self.total: int | None = progress.get("total_steps") or None

    def apply(self, event: Event) -> str | None:
        """Fold one event in; return a log line to print, if it was one."""
        if event.event == "metric" and isinstance(event.data, list):
            for point in event.data:
                self.metrics[str(point.get("name"))] = point.get("value")
                self.step = max(self.step, int(point.get("step") or 0))
        elif event.event == "status" and isinstance(event.data, dict):
            self.job = event.data  # type: ignore[assignment]
            progress = self.job.get("progress") or {}
            self.step = max(self.step, int(progress.get("step") or 0))
            self.total = progress.get("total_steps") or self.total
        elif event.event == "log" and isinstance(event.data, dict):
            return str(event.data.get("line", ""))
        return None

    def refresh(self, job: Job) -> None:
        """Take status, epoch and total steps from a fresh GET: status events come only on changes, and
        a live start can miss the `running` one. A final status is left to the stream, which ends on it."""
        if job.get("status") not in TERMINAL_STATUSES:
            self.job = job
        progress = job.get("progress") or {}
        self.total = progress.get("total_steps") or self.total
        self.step = max(self.step, int(progress.get("step") or 0))

    def description(self) -> str:
        epoch = (self.job.get("progress") or {}).get("epoch")
        where = f" epoch {epoch}" if epoch else ""
        return f"Job {self.job.get('id')} {self.job.get('status')}{where}"

    def rate(self) -> str:
        rate = self.metrics.get("samples_per_s")
        return f"{rate:,.0f} samples/s" if isinstance(rate, int | float) else ""


def _numeric(values: dict[str, Any]) -> Iterable[tuple[str, float]]:
    return ((k, v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool))


def follow_job(api: Client, job_id: int, reconnect_timeout_s: float = 60.0) -> int:
    """Show the job live until it ends; return the contract's exit code for its final status."""
    return report(follow_to_end(api, job_id, reconnect_timeout_s))


def follow_to_end(api: Client, job_id: int, reconnect_timeout_s: float = 60.0) -> Job:
    """Show the job live until it ends; return the finished job."""
    state = FollowState(api.get_job(job_id))
    if state.job.get("status") not in TERMINAL_STATUSES:
        err.print(f"Following job {job_id} ({state.job.get('status')})")
        stream = api.events(job_id, reconnect_timeout_s=reconnect_timeout_s)
        _show_live(api, state, stream)
        if stream.reconnects:
            err.print(f"(event stream reconnected {stream.reconnects} time(s))")
    return state.job


def _show_live(api: Client, state: FollowState, stream: Iterable[Event]) -> None:
    with JobProgress() as progress:
        task = progress.add_task(state.description(), total=state.total, rate="")
        refreshed = time.monotonic()
        for event in stream:
            line = state.apply(event)
            if line is not None:
                progress.console.print(line, markup=False)
            if event.event == "status" and state.job.get("status") in TERMINAL_STATUSES:
                break
            if time.monotonic() - refreshed > REFRESH_S:
                refreshed = time.monotonic()
                _refresh(api, state)
            progress.metrics_line = Text(last_metrics(state.metrics))
            progress.update(task, description=state.description(), completed=state.step,
                            total=state.total, rate=state.rate())
        progress.update(task, description=state.description(), completed=state.step, total=state.total)


def _refresh(api: Client, state: FollowState) -> None:
    with contextlib.suppress(Unreachable, ServerError):  # the stream reconnects; the bar keeps its figures
        state.refresh(api.get_job(state.job["id"]))


def report(job: Job) -> int:
    status = str(job.get("status"))
    progress = job.get("progress") or {}
    err.print(f"Job {job.get('id')} {status} at step {progress.get('step', '?')} "
              f"(epoch {progress.get('epoch', '?')}); {last_metrics(job.get('summary') or {})}")
    if status == "failed":
        err.print(f"Error: {job.get('error') or 'no reason given'}")
    return EXIT_BY_STATUS.get(status, EXIT_FAILED)


@handles_errors
def follow(
    job_id: Annotated[int, typer.Argument(help="Job id")],
    reconnect_timeout: Annotated[float, typer.Option(
        min=0, help="Seconds to keep retrying a lost server before giving up (exit 3).")] = 60.0,
) -> None:
    """Follow a job live; exit 0 succeeded, 1 failed, 4 cancelled, 3 server unreachable."""
    raise typer.Exit(follow_job(client(), job_id, reconnect_timeout))
