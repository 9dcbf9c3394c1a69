"""The user's CLI config (server URL and token) in a 0600 JSON file; TORCHYARD_URL/TORCHYARD_TOKEN win."""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Credentials:
    url: str | None
    token: str | None


def config_path() -> Path:
    """$TORCHYARD_CONFIG, else $XDG_CONFIG_HOME/torchyard/config.json, else ~/.config/torchyard/..."""
    explicit = os.environ.get("TORCHYARD_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "torchyard" / "config.json"


def load_file(path: Path | None = None) -> dict[str, str]:
    """The saved settings, or {} when there is no file yet."""
    path = path or config_path()
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); run `torchyard login` again") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path} should hold a JSON object; run `torchyard login` again")
    return {str(k): str(v) for k, v in raw.items() if v is not None}


def save(url: str, token: str, path: Path | None = None) -> Path:
    """Write the file atomically, readable by its owner only: it holds a bearer token."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"url": url, "token": token}, out, indent=2)
            out.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resolve(path: Path | None = None) -> Credentials:
    """Environment first, then the file."""
    env_url, env_token = os.environ.get("TORCHYARD_URL"), os.environ.get("TORCHYARD_TOKEN")
    saved = {} if env_url and env_token else load_file(path)
    return Credentials(url=env_url or saved.get("url"), token=env_token or saved.get("token"))
