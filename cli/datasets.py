"""`torchyard datasets upload|builtin|ls|rm`."""

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from cli.render import datasets_table
from cli.session import JsonOpt, LimitOpt, OffsetOpt, client, emit, emit_page, err, handles_errors
from client import Client, Dataset

app = typer.Typer(help="Upload and manage datasets.", no_args_is_help=True, rich_markup_mode=None)



def transfer_progress(label: str) -> Progress:
    """A byte progress bar on stderr."""
    return Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    console=err, transient=True)


def upload(api: Client, path: Path, name: str | None, target: str | None) -> Dataset:
    """Stream a file to the server with a progress bar; the file is read in chunks, never whole."""
    with transfer_progress(f"Uploading {path.name}") as progress:
        task = progress.add_task("upload", total=path.stat().st_size)
        dataset = api.upload_dataset(path, name=name, target=target,
                                     on_progress=lambda done, _total: progress.update(task, completed=done))
    err.print(f"Dataset {dataset.get('id')} '{dataset.get('name')}': {dataset.get('num_samples')} samples, "
              f"input {dataset.get('input_shape')}, target {dataset.get('target')}")
    return dataset


def _show(dataset: Dataset, as_json: bool) -> None:
    emit(dataset, as_json, lambda: datasets_table([dataset], 1))


@app.command("upload")
@handles_errors
def upload_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help=".csv, .npz or .zip of images")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file name).")] = None,
    target: Annotated[str | None, typer.Option(help="CSV target column (default: the last).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a dataset file (streamed)."""
    _show(upload(client(), file, name, target), as_json)


@app.command("builtin")
@handles_errors
def builtin_cmd(
    name: Annotated[str, typer.Argument(help="digits, iris, wine, breast_cancer or diabetes")],
    as_json: JsonOpt = False,
) -> None:
    """Create a dataset from one of scikit-learn's bundled ones."""
    _show(client().builtin_dataset(name), as_json)


@app.command("ls")
@handles_errors
def ls_cmd(
    limit: LimitOpt = 100,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """List your datasets."""
    page = client().list_datasets(limit=limit, offset=offset)
    emit_page(page, offset, as_json, lambda: datasets_table(page.data, page.count))  # type: ignore[arg-type]


@app.command("rm")
@handles_errors
def rm_cmd(dataset_id: Annotated[int, typer.Argument(help="Dataset id")]) -> None:
    """Delete a dataset (refused while a queued or running job uses it)."""
    client().delete_dataset(dataset_id)
    err.print(f"Deleted dataset {dataset_id}.")
