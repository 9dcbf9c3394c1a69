"""Checkpoint state: plain dicts of tensors and Python scalars, for torch.load(weights_only=True)."""

import io
from typing import Any

import torch

STATE_VERSION = 1


def to_bytes(obj: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def from_bytes(data: bytes, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    obj = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    if not isinstance(obj, dict):
        raise ValueError("a checkpoint must hold a dict")
    return obj


def snapshot(obj: Any) -> Any:
    """A CPU copy of nested state, so training on after a checkpoint cannot change what was saved."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [snapshot(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(snapshot(v) for v in obj)
    return obj


def rng_state(shuffle: torch.Generator) -> dict[str, Any]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return {"torch": torch.get_rng_state(), "cuda": cuda, "shuffle": shuffle.get_state()}


def restore_rng(state: dict[str, Any], shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    shuffle.set_state(state["shuffle"])
