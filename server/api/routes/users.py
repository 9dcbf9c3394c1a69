"""POST /users: an admin creates a user and sees its token once."""

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.api.deps import AdminUser, SessionDep
from server.core.security import hash_token, new_token
from server.schemas import UserCreate, UserCreated
from server.store.models import User

router = APIRouter(tags=["users"])


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
def create_user(body: UserCreate, session: SessionDep, _: AdminUser) -> UserCreated:
    if session.scalar(select(User.id).where(User.name == body.name)) is not None:
        raise HTTPException(409, f"user {body.name!r} already exists")
    token = new_token()
    user = User(name=body.name, token_hash=hash_token(token), admin=body.admin)
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent request created the same name first
        raise HTTPException(409, f"user {body.name!r} already exists") from exc
    return UserCreated(id=user.id, name=user.name, token=token)
