"""`torchyard metrics|checkpoints|download`: what a job produced."""

import csv
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.datasets import transfer_progress
from cli.render import last_metrics, table
from cli.session import EXIT_FAILED, EXIT_USAGE, JsonOpt, client, err, handles_errors, out, print_json
from client import Client

JobId = Annotated[int, typer.Argument(help="Job id")]
FULL_SERIES = 1_000_000  # the contract's largest max_points: a whole series, not downsampled


@handles_errors
def metrics(
    job_id: JobId,
    name: Annotated[str | None, typer.Argument(help="Metric name (omit to list the names).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="step,value,time rows on stdout.")] = False,
    since_step: Annotated[int | None, typer.Option(help="Only points after this step.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a metric series of a job (or its metric names)."""
    api = client()
    if name is None:
        names = api.metric_names(job_id)
        print_json(names) if as_json else out.print("\n".join(names))
        return
    series = api.metric_series(job_id, name, max_points=FULL_SERIES, since_step=since_step)
    points = list(zip(series.get("steps", []), series.get("values", []), series.get("times", []),
                      strict=False))
    if not points:
        _check_metric_name(api, job_id, name)
    if as_json:
        print_json(series)
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["step", "value", "time"])
        writer.writerows(points)
    else:
        out.print(table(f"{name} of job {job_id} ({len(points)} points)", ["step", "value", "time"],
                        ([s, v, _clock(t)] for s, v, t in points)))


def _check_metric_name(api: Client, job_id: int, name: str) -> None:
    """An empty series of a name the job never logged is a typo: exit 1 naming the job's metrics."""
    names = api.metric_names(job_id)
    if name not in names:
        err.print(f"Job {job_id} has no metric {name!r}; its metrics: {', '.join(names) or 'none yet'}")
        raise typer.Exit(EXIT_FAILED)


def _clock(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s).isoformat(sep=" ", timespec="milliseconds")


@handles_errors
def checkpoints(job_id: JobId, as_json: JsonOpt = False) -> None:
    """List a job's checkpoints."""
    data = client().checkpoints(job_id)
    if as_json:
        print_json(data)
        return
    out.print(table(f"Checkpoints of job {job_id}", ["step", "epoch", "bytes", "created", "metrics"],
                    ([c.get("step"), c.get("epoch"), c.get("size_bytes"), c.get("created_at"),
                      last_metrics(c.get("metrics") or {})] for c in data)))


SUFFIX = {"pt": "pt", "safetensors": "safetensors", "torchscript": "ts.pt", "onnx": "onnx"}


@handles_errors
def download(
    job_id: JobId,
    step: Annotated[int | None, typer.Option(help="Checkpoint step (default: the newest).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", dir_okay=False,
                                                help="File to write (default: job<ID>-step<S>.pt).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="pt (torch.load weights), safetensors, "
                                     "torchscript or onnx (the trained spec model).")] = "pt",
) -> None:
    """Download a checkpoint: its model weights (a state_dict), or the model as TorchScript/ONNX."""
    if fmt not in SUFFIX:
        raise typer.BadParameter(f"{fmt!r}: expected one of {', '.join(SUFFIX)}", param_hint="--format")
    api = client()
    if step is None:
        steps = [int(c["step"]) for c in api.checkpoints(job_id)]
        if not steps:
            err.print(f"Job {job_id} has no checkpoint yet.")
            raise typer.Exit(1)
        step = max(steps)
    dest = output or Path(f"job{job_id}-step{step}.{SUFFIX[fmt]}")
    try:
        with transfer_progress(f"Downloading step {step}") as progress:
            task = progress.add_task("download", total=None)
            api.download_checkpoint(job_id, step, dest, fmt=fmt,
                                    on_progress=lambda done, total: progress.update(task, completed=done,
                                                                                    total=total))
    except OSError as exc:
        err.print(f"Cannot write {dest}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    err.print(f"Saved checkpoint step {step} of job {job_id} to {dest}")
    out.print(str(dest))
