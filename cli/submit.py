"""`torchyard submit`: from files on disk (or ids) to a queued job in one command."""

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import datasets, follow, models
from cli.session import client, err, handles_errors, out, print_json
from client import ApiError, AuthError, Client, Dataset, Job, TorchyardError

# The contract's default optimizer: `--set optimizer.lr=0.01` changes the rate and keeps the type.
DEFAULT_OPTIMIZER: dict[str, Any] = {"type": "Adam", "lr": 0.001}
BUILTIN_PREFIX = "builtin:"
PAGE = 1000  # the largest page the list routes serve


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


@dataclass
class Created:
    """What this command made on the server, so a refused submit can take it back."""

    model_id: int | None = None
    dataset_id: int | None = None


def check_sources(model: str, dataset: str) -> None:
    """Usage errors in --model/--dataset before anything is created on the server."""
    if not Path(model).is_file() and _as_id(model) is None:
        raise typer.BadParameter(f"{model!r} is neither a file nor a model id", param_hint="--model")
    if not (dataset.startswith(BUILTIN_PREFIX) or Path(dataset).is_file() or _as_id(dataset) is not None):
        raise typer.BadParameter(f"{dataset!r} is neither a file, builtin:NAME nor a dataset id",
                                 param_hint="--dataset")


def resolve_model(api: Client, value: str, created: Created) -> int:
    """An existing model id, or a spec/.py file created as a model now."""
    path = Path(value)
    if not path.is_file():
        return int(value)
    created.model_id = int(models.create(api, path, None, option="--model")["id"])
    return created.model_id


def resolve_dataset(api: Client, value: str, created: Created) -> int:
    """An existing dataset id, `builtin:NAME` (the user's existing one if any), or a file uploaded now."""
    if value.startswith(BUILTIN_PREFIX):
        name = value[len(BUILTIN_PREFIX):]
        existing = find_builtin(api, name)
        if existing is not None:
            err.print(f"Dataset {existing.get('id')} '{name}' (builtin, already yours)")
            return int(existing["id"])
        dataset = api.builtin_dataset(name)
        err.print(f"Dataset {dataset.get('id')} '{dataset.get('name')}' (builtin)")
        created.dataset_id = int(dataset["id"])
    elif Path(value).is_file():
        created.dataset_id = int(datasets.upload(api, Path(value), None, None)["id"])
    else:
        return int(value)
    return created.dataset_id


def find_builtin(api: Client, name: str) -> Dataset | None:
    """The user's newest dataset made from builtin `name` (the server names those after the builtin)."""
    offset = 0
    while True:
        page = api.list_datasets(limit=PAGE, offset=offset)
        for dataset in page.data:  # newest first
            if dataset.get("format") == "builtin" and dataset.get("name") == name:
                return dataset  # type: ignore[return-value]
        offset += len(page.data)
        if not page.data or offset >= page.count:
            return None


def take_back(api: Client, created: Created) -> None:
    """After a refused submit: delete what this command made on the way (never what was passed by id)."""
    made = [("dataset", created.dataset_id, api.delete_dataset),
            ("model", created.model_id, api.delete_model)]
    for kind, object_id, delete in made:
        if object_id is None:
            continue
        try:
            delete(object_id)
            err.print(f"Deleted {kind} {object_id}, which this submit had created.")
        except TorchyardError as exc:
            err.print(f"Could not delete {kind} {object_id}: {exc}")


def build_config(config_file: Path | None, sets: list[str]) -> dict[str, Any]:
    base = models.read_structured(config_file, "--config") if config_file else {}
    return apply_sets(base, sets)


def create_job(api: Client, model: str, dataset: str, job_config: dict[str, Any], name: str | None) -> Job:
    """Resolve model and dataset, then submit; a refusal takes back what was created on the way."""
    created = Created()
    try:
        return api.submit_job(resolve_model(api, model, created), resolve_dataset(api, dataset, created),
                              job_config, name=name)
    except ApiError as exc:
        if not isinstance(exc, AuthError):
            take_back(api, created)
        raise


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON on stdout (with "
                                          "--follow: the finished job).")] = False,
) -> None:
    """Submit a training job: create the model and dataset from files if needed, then queue it."""
    job_config = build_config(config_file, sets or [])  # usage errors before anything is uploaded
    check_sources(model, dataset)
    api = client()
    job = create_job(api, model, dataset, job_config, name)
    if not follow_job:
        print_json(job) if as_json else out.print(f"Job {job.get('id')} {job.get('status')}")
        return
    if not as_json:
        out.print(f"Job {job.get('id')} {job.get('status')}")
    final = follow.follow_to_end(api, int(job["id"]))
    code = follow.report(final)
    if as_json:
        print_json(final)
    raise typer.Exit(code)
