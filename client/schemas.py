"""Shapes of the contract's JSON objects, for type checkers (the client returns the server's dicts)."""

from dataclasses import dataclass
from typing import Any, TypedDict

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class User(TypedDict, total=False):
    id: int
    name: str
    admin: bool
    token: str  # only in the answer to POST /users


class Dataset(TypedDict, total=False):
    id: int
    name: str
    format: str
    num_samples: int
    input_shape: list[int]
    target: dict[str, Any]
    size_bytes: int
    sha256: str
    created_at: str


class Model(TypedDict, total=False):
    id: int
    name: str
    kind: str
    spec: dict[str, Any]
    created_at: str


class Progress(TypedDict, total=False):
    epoch: int
    step: int
    total_steps: int


class Job(TypedDict, total=False):
    id: int
    name: str
    status: str
    model_id: int
    dataset_id: int
    config: dict[str, Any]
    error: str | None
    progress: Progress
    summary: dict[str, Any]
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None


class Checkpoint(TypedDict, total=False):
    step: int
    epoch: int
    metrics: dict[str, Any]
    size_bytes: int
    created_at: str


class Series(TypedDict, total=False):
    name: str
    steps: list[int]
    values: list[float]
    times: list[float]
    total_points: int
    downsampled: bool
    last_event_id: str


class ModelInfo(TypedDict, total=False):
    summary: list[dict[str, Any]]
    graph: dict[str, Any]
    parameters: int


@dataclass(frozen=True)
class Page:
    """One page of a list route: `data` and the total `count` of matching rows."""

    data: list[dict[str, Any]]
    count: int


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: `event` is metric | status | log, `data` its parsed JSON."""

    id: str | None
    event: str
    data: Any
