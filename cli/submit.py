"""`torchyard submit`: from files on disk (or ids) to a queued job in one command."""

import copy
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import datasets, follow, models
from cli.session import client, err, handles_errors, out, print_json
from client import Client

# The contract's default optimizer: `--set optimizer.lr=0.01` changes the rate and keeps the type.
DEFAULT_OPTIMIZER: dict[str, Any] = {"type": "Adam", "lr": 0.001}
BUILTIN_PREFIX = "builtin:"


def parse_set(item: str) -> tuple[list[str], Any]:
    """`a.b=V` -> (["a", "b"], V), V parsed as JSON when it is JSON, else kept as the string."""
    key, sep, raw = item.partition("=")
    path = key.strip().split(".")
    if not sep or any(not part for part in path):
        raise typer.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. optimizer.lr=0.01", param_hint="--set")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def apply_sets(config: dict[str, Any], items: list[str]) -> dict[str, Any]:
    """A copy of `config` with each `--set` merged in, creating nested objects as needed."""
    merged = copy.deepcopy(config)
    for item in items:
        path, value = parse_set(item)
        node = merged
        for depth, part in enumerate(path[:-1]):
            if node.get(part) is None:
                node[part] = copy.deepcopy(DEFAULT_OPTIMIZER) if (depth, part) == (0, "optimizer") else {}
            if not isinstance(node[part], dict):
                where = ".".join(path[: depth + 1])
                raise typer.BadParameter(f"{item!r}: {where} is {node[part]!r}, not an object",
                                         param_hint="--set")
            node = node[part]
        node[path[-1]] = value
    return merged


def _as_id(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def resolve_model(api: Client, value: str) -> int:
    """An existing model id, or a spec/.py file created as a model now."""
    path = Path(value)
    if path.is_file():
        return int(models.create(api, path, None, option="--model")["id"])
    model_id = _as_id(value)
    if model_id is None:
        raise typer.BadParameter(f"{value!r} is neither a file nor a model id", param_hint="--model")
    return model_id


def resolve_dataset(api: Client, value: str) -> int:
    """An existing dataset id, `builtin:NAME`, or a file uploaded now."""
    if value.startswith(BUILTIN_PREFIX):
        dataset = api.builtin_dataset(value[len(BUILTIN_PREFIX):])
        err.print(f"Dataset {dataset.get('id')} '{dataset.get('name')}' (builtin)")
        return int(dataset["id"])
    path = Path(value)
    if path.is_file():
        return int(datasets.upload(api, path, None, None)["id"])
    dataset_id = _as_id(value)
    if dataset_id is None:
        raise typer.BadParameter(f"{value!r} is neither a file, builtin:NAME nor a dataset id",
                                 param_hint="--dataset")
    return dataset_id


def build_config(config_file: Path | None, sets: list[str]) -> dict[str, Any]:
    base = models.read_structured(config_file, "--config") if config_file else {}
    return apply_sets(base, sets)


@handles_errors
def submit(
    model: Annotated[str, typer.Option(help="Model id, or a .json/.yaml spec or .py file to create.")],
    dataset: Annotated[str, typer.Option(help="Dataset id, a .csv/.npz/.zip file, or builtin:NAME.")],
    config_file: Annotated[Path | None, typer.Option("--config", exists=True, dir_okay=False,
                                                     help="Job config, .yaml or .json.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE into the config "
                                                   "(VALUE as JSON, else a string); repeatable.")] = None,
    name: Annotated[str | None, typer.Option(help="Job name.")] = None,
    follow_job: Annotated[bool, typer.Option("--follow", "-f", help="Follow the job to its end.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON on stdout.")] = False,
) -> None:
    """Submit a training job: create the model and dataset from files if needed, then queue it."""
    job_config = build_config(config_file, sets or [])  # usage errors before anything is uploaded
    api = client()
    job = api.submit_job(resolve_model(api, model), resolve_dataset(api, dataset), job_config, name=name)
    if as_json:
        print_json(job)
    else:
        out.print(f"Job {job.get('id')} {job.get('status')}")
    if follow_job:
        raise typer.Exit(follow.follow_job(api, int(job["id"])))
