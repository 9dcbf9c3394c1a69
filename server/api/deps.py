"""Request dependencies: a database session, the authenticated user, and owned objects (404 once)."""

from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.db import get_sessionmaker
from server.core.security import hash_token, token_matches
from server.store.models import Dataset, Job, ModelRecord, User

MAX_ID = 2**31 - 1
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(401, msg, headers={"WWW-Authenticate": "Bearer"})


def user_for_token(session: Session, token: str | None) -> User:
    if not token:
        raise _unauthorized("missing token: send Authorization: Bearer <token>")
    user = session.scalars(select(User).where(User.token_hash == hash_token(token))).first()
    if user is None or not token_matches(token, user.token_hash):
        raise _unauthorized("invalid token")
    return user


def current_user(session: SessionDep, creds: BearerDep) -> User:
    return user_for_token(session, creds.credentials if creds else None)


def stream_user(session: SessionDep, creds: BearerDep,
                access_token: Annotated[str | None, Query(description="token, for EventSource")] = None
                ) -> User:
    """Event routes also take the token as a query parameter: EventSource cannot send headers."""
    return user_for_token(session, creds.credentials if creds else access_token)


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.admin:
        raise HTTPException(403, "this needs an admin token")
    return user


Owned = TypeVar("Owned", Job, Dataset, ModelRecord)
CurrentUser = Annotated[User, Depends(current_user)]
StreamUser = Annotated[User, Depends(stream_user)]
AdminUser = Annotated[User, Depends(admin_user)]
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
DatasetId = Annotated[int, Path(ge=1, le=MAX_ID)]
ModelId = Annotated[int, Path(ge=1, le=MAX_ID)]


def find_owned(session: Session, user: User, cls: type[Owned], obj_id: int, what: str) -> Owned:
    """The user's object of this id; anyone else's, a missing or a deleted one is the same 404."""
    obj = session.get(cls, obj_id)
    if obj is None or obj.owner_id != user.id or getattr(obj, "deleted", False):
        raise HTTPException(404, f"{what} {obj_id} not found")
    return obj


def find_job(session: Session, user: User, job_id: int) -> Job:
    return find_owned(session, user, Job, job_id, "job")


def find_dataset(session: Session, user: User, dataset_id: int) -> Dataset:
    return find_owned(session, user, Dataset, dataset_id, "dataset")


def find_model(session: Session, user: User, model_id: int) -> ModelRecord:
    return find_owned(session, user, ModelRecord, model_id, "model")


def owned_job(session: SessionDep, user: CurrentUser, job_id: JobId) -> Job:
    return find_job(session, user, job_id)


def stream_job(session: SessionDep, user: StreamUser, job_id: JobId) -> Job:
    return find_job(session, user, job_id)


def owned_dataset(session: SessionDep, user: CurrentUser, dataset_id: DatasetId) -> Dataset:
    return find_dataset(session, user, dataset_id)


def owned_model(session: SessionDep, user: CurrentUser, model_id: ModelId) -> ModelRecord:
    return find_model(session, user, model_id)


OwnedJob = Annotated[Job, Depends(owned_job)]
StreamJob = Annotated[Job, Depends(stream_job)]
OwnedDataset = Annotated[Dataset, Depends(owned_dataset)]
OwnedModel = Annotated[ModelRecord, Depends(owned_model)]


class Paging:
    def __init__(self, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> None:
        self.limit, self.offset = limit, offset


PagingDep = Annotated[Paging, Depends()]
