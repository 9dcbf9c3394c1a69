"""Python client for the Torchyard HTTP API: `from client import Client`."""

from client.client import Client, api_base
from client.errors import (
                           ApiError,
                           AuthError,
                           BadRequest,
                           Conflict,
                           Forbidden,
                           NotFound,
                           NotTorchyard,
                           ServerError,
                           TorchyardError,
                           Unreachable,
                           ValidationFailed,
)
from client.schemas import TERMINAL_STATUSES, Checkpoint, Dataset, Event, Job, Model, Page, Series, User
from client.sse import EventStream, SSEParser

__all__ = [
    "TERMINAL_STATUSES", "ApiError", "AuthError", "BadRequest", "Checkpoint", "Client", "Conflict",
    "Dataset", "Event", "EventStream", "Forbidden", "Job", "Model", "NotFound", "NotTorchyard", "Page",
    "SSEParser", "Series", "ServerError", "TorchyardError", "Unreachable", "User", "ValidationFailed",
    "api_base",
]
