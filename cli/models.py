"""`torchyard models create|ls|show`."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cli.render import spec_rows, table
from cli.session import (
    JsonOpt,
    LimitOpt,
    OffsetOpt,
    client,
    emit,
    emit_page,
    err,
    handles_errors,
    out,
    print_json,
)
from client import Client, Model

app = typer.Typer(help="Create and inspect models.", no_args_is_help=True, rich_markup_mode=None)

SPEC_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def read_structured(path: Path, option: str) -> dict[str, Any]:
    """A JSON or YAML file holding one object; a usage error naming the option otherwise."""
    kind = SPEC_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise typer.BadParameter(f"{path}: expected a .json, .yaml or .yml file", param_hint=option)
    try:
        text = path.read_text()
        data = json.loads(text) if kind == "json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"{path}: {parse_problem(exc)}", param_hint=option) from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} must hold an object (mapping)", param_hint=option)
    return data


def parse_problem(exc: Exception) -> str:
    """What is wrong and where, in one line (PyYAML's own message spans several, with a caret)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem or exc.context}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, OSError):
        return f"cannot read it: {exc.strerror or exc}"
    return " ".join(str(exc).split())


def create(api: Client, path: Path, name: str | None, option: str = "FILE") -> Model:
    """A model from a spec file (.json/.yaml) or a Python file (.py)."""
    suffix = path.suffix.lower()
    if suffix == ".py":
        model = api.create_python_model(path, name=name)
    elif suffix in SPEC_SUFFIXES:
        model = api.create_model(name or path.stem, read_structured(path, option))
    else:
        raise typer.BadParameter(f"{path}: expected a .json, .yaml, .yml or .py file", param_hint=option)
    err.print(f"Model {model.get('id')} '{model.get('name')}' ({model.get('kind')})")
    return model


def models_table(models: list[Model], count: int) -> Any:
    rows = ([m.get("id"), m.get("name"), m.get("kind"), len((m.get("spec") or {}).get("layers") or [])
             if m.get("kind") == "spec" else "-", m.get("created_at")] for m in models)
    return table(f"Models ({len(models)} of {count})", ["id", "name", "kind", "layers", "created"], rows)


@app.command("create")
@handles_errors
def create_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help=".json/.yaml spec or .py model file")],
    name: Annotated[str | None, typer.Option(help="Model name (default: the file name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a model from a spec or Python file."""
    model = create(client(), file, name)
    emit(model, as_json, lambda: models_table([model], 1))


@app.command("ls")
@handles_errors
def ls_cmd(
    limit: LimitOpt = 100,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """List your models."""
    page = client().list_models(limit=limit, offset=offset)
    emit_page(page, offset, as_json, lambda: models_table(page.data, page.count))  # type: ignore[arg-type]


@app.command("show")
@handles_errors
def show_cmd(model_id: Annotated[int, typer.Argument(help="Model id")], as_json: JsonOpt = False) -> None:
    """Show a model and its spec's layers (per-layer shapes: `torchyard jobs show JOB`)."""
    model = client().get_model(model_id)
    if as_json:
        print_json(model)
        return
    out.print(models_table([model], 1))
    if model.get("kind") == "spec":
        out.print(table("Layers", ["path", "type", "arguments"], spec_rows(model.get("spec") or {})))
    else:
        out.print("Python model: layers are known once a job builds it (`torchyard jobs show JOB`).")


@app.command("rm")
@handles_errors
def rm_cmd(model_id: Annotated[int, typer.Argument(help="Model id")]) -> None:
    """Delete a model (refused while a queued or running job uses it; finished jobs keep working)."""
    client().delete_model(model_id)
    err.print(f"Deleted model {model_id}.")
