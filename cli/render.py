"""Human-readable tables for the contract's objects (the `--json` forms print them raw instead)."""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from rich.table import Table

from client import Dataset, Job

COMPOSITE_KEYS = ("layers", "branches")
# Short values that must never be split over lines (a folded `succeede`/`d` defeats grep).
NO_WRAP = frozenset({"id", "status", "kind", "format", "model", "dataset", "samples", "bytes", "layers",
                     "step", "epoch", "value", "time", "created", "parameters", "field"})


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(title: str, columns: list[str], rows: Iterable[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column, overflow="fold", no_wrap=column in NO_WRAP)
    for row in rows:
        t.add_row(*(_fmt(cell) for cell in row))
    return t


def datasets_table(datasets: list[Dataset], count: int) -> Table:
    rows = ([d.get("id"), d.get("name"), d.get("format"), d.get("num_samples"), d.get("input_shape"),
             _target(d.get("target") or {}), d.get("size_bytes"), d.get("created_at")] for d in datasets)
    return table(f"Datasets ({len(datasets)} of {count})",
                 ["id", "name", "format", "samples", "input", "target", "bytes", "created"], rows)


def _target(target: dict[str, Any]) -> str:
    kind = target.get("kind", "?")
    if kind == "classes":
        return f"classes ({target.get('num_classes', '?')})"
    return str(kind)


def jobs_table(jobs: list[Job], count: int) -> Table:
    rows = ([j.get("id"), j.get("name"), j.get("status"), j.get("model_id"), j.get("dataset_id"),
             progress_text(j), last_metrics(j.get("summary") or {}), j.get("created_at")] for j in jobs)
    return table(f"Jobs ({len(jobs)} of {count})",
                 ["id", "name", "status", "model", "dataset", "progress", "metrics", "created"], rows)


def progress_text(job: Job) -> str:
    progress = job.get("progress") or {}
    step, total = progress.get("step"), progress.get("total_steps")
    if step is None:
        return "-"
    return f"epoch {progress.get('epoch', '?')}, step {step}/{total if total else '?'}"


def last_metrics(summary: dict[str, Any]) -> str:
    """`train_loss=0.12 val_accuracy=0.97`: the numeric last values the job summary carries."""
    parts = [f"{k}={_fmt(v)}" for k, v in sorted(summary.items())
             if isinstance(v, int | float) and not isinstance(v, bool)]
    return " ".join(parts) or "-"


def job_table(job: Job) -> Table:
    keys = ["id", "name", "status", "model_id", "dataset_id", "attempts", "created_at", "started_at",
            "finished_at", "error"]
    rows: list[list[Any]] = [[k, job.get(k)] for k in keys]
    rows.append(["progress", progress_text(job)])
    rows.append(["metrics", last_metrics(job.get("summary") or {})])
    rows.append(["config", job.get("config")])
    return table(f"Job {job.get('id')}", ["field", "value"], rows)


def layer_summary_table(info: dict[str, Any]) -> Table:
    rows = ([r.get("path"), r.get("type"), r.get("output_shape"), r.get("parameters")]
            for r in info.get("summary", []))
    return table(f"Model: {info.get('parameters', '?')} parameters",
                 ["path", "type", "output shape", "parameters"], rows)


def spec_rows(spec: dict[str, Any], prefix: str = "") -> Iterator[list[Any]]:
    """Flatten a spec into (path, type, arguments) rows, composites first then their children."""
    for key in ("generator", "discriminator"):
        if isinstance(spec.get(key), dict):
            yield from spec_rows(spec[key], f"{prefix}{key}.")
    for index, layer in enumerate(spec.get("layers") or []):
        yield from _layer_rows(layer, f"{prefix}layers.{index}")


def _layer_rows(layer: Any, path: str) -> Iterator[list[Any]]:
    if not isinstance(layer, dict):
        yield [path, "?", layer]
        return
    args = {k: v for k, v in layer.items() if k != "type" and k not in COMPOSITE_KEYS}
    yield [path, layer.get("type"), " ".join(f"{k}={_fmt(v)}" for k, v in args.items()) or "-"]
    for index, child in enumerate(layer.get("layers") or []):
        yield from _layer_rows(child, f"{path}.layers.{index}")
    for b, branch in enumerate(layer.get("branches") or []):
        for index, child in enumerate(branch if isinstance(branch, list) else [branch]):
            yield from _layer_rows(child, f"{path}.branches.{b}.{index}")
