"""User commands: login, whoami, datasets, models, submit, jobs, follow, metrics, checkpoints, download."""

from typing import Annotated

import httpx
import typer

from cli import artifacts, config, datasets, follow, jobs, models, submit
from cli.session import client, err, handles_errors, out, print_json
from client import Client, NotFound, NotTorchyard, api_base


def check_url(url: str) -> str:
    """An http(s) URL with a host; a usage error otherwise (httpx would call it unreachable)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise typer.BadParameter(f"{url!r} is not a URL: {exc}", param_hint="URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise typer.BadParameter(f"{url!r}: expected http:// or https:// and a host, "
                                 "e.g. http://localhost:8000", param_hint="URL")
    return url


@handles_errors
def login(
    url: Annotated[str, typer.Argument(help="Server URL, e.g. http://localhost:8000")],
    token: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Your API token.")],
) -> None:
    """Check the token against the server, then save URL and token in a 0600 config file."""
    with Client(check_url(url), token) as api:
        try:
            me = api.me()
        except NotFound as exc:  # a web server, but no Torchyard API under this URL
            raise NotTorchyard(f"no Torchyard server at {url} (GET {api_base(url)}/me answered 404)") from exc
    if not isinstance(me, dict) or "name" not in me:
        raise NotTorchyard(f"no Torchyard server at {url} (its /me answer is not a Torchyard user)")
    path = config.save(url, token)
    err.print(f"Logged in to {url} as {me.get('name')}; saved to {path}")


@handles_errors
def whoami(as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    """Show the user the configured token belongs to."""
    api = client()
    me = api.me()
    if as_json:
        print_json(me)
    else:
        out.print(f"{me.get('name')} (id {me.get('id')}{', admin' if me.get('admin') else ''}) at {api.url}")


def register(app: typer.Typer) -> None:
    """Add the user commands to the root app."""
    app.command()(login)
    app.command()(whoami)
    app.add_typer(datasets.app, name="datasets")
    app.add_typer(models.app, name="models")
    app.command("submit")(submit.submit)
    app.add_typer(jobs.app, name="jobs")
    app.command("follow")(follow.follow)
    app.command("metrics")(artifacts.metrics)
    app.command("checkpoints")(artifacts.checkpoints)
    app.command("download")(artifacts.download)
