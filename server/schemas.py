"""Request and response bodies of the v1 contract. Routes return these, never ORM objects."""

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")


def _utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Time = Annotated[datetime, AfterValidator(_utc)]
# Ids are Postgres INTEGERs: anything bigger is a 422, not a database overflow.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00]*$")]  # Postgres text cannot hold NUL
UserName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                            pattern=r"^[A-Za-z0-9_.@-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int


class Health(BaseModel):
    status: str
    database: str
    broker: str


class UserCreate(Strict):
    name: UserName
    admin: bool = False


class UserCreated(BaseModel):
    id: int
    name: str
    token: str


class Me(BaseModel):
    id: int
    name: str
    admin: bool


class BuiltinCreate(Strict):
    name: Annotated[str, StringConstraints(max_length=50)]


class DatasetPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    format: str
    num_samples: int
    input_shape: list[int]
    target: dict[str, Any]
    size_bytes: int
    sha256: str
    created_at: Time


class ModelCreate(Strict):
    name: Name
    spec: dict[str, Any]


class ModelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    spec: dict[str, Any] | None = None
    created_at: Time


class JobCreate(Strict):
    model_id: Id
    dataset_id: Id
    config: dict[str, Any] = Field(default_factory=dict)
    name: Name | None = None


class Progress(BaseModel):
    epoch: int | None = 0
    step: int | None = 0
    total_steps: int | None = None


class JobPublic(BaseModel):
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
    created_at: Time | None
    started_at: Time | None
    finished_at: Time | None


class ModelInfo(BaseModel):
    summary: list[dict[str, Any]]
    graph: dict[str, Any]
    parameters: int


class MetricNames(BaseModel):
    names: list[str]


class Series(BaseModel):
    name: str
    steps: list[int]
    values: list[float | None]  # a non-finite value (NaN/inf) is sent as null
    times: list[float]
    total_points: int
    downsampled: bool
    last_event_id: str


class CheckpointPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    step: int
    epoch: int
    metrics: dict[str, Any]
    size_bytes: int
    created_at: Time
