"""GET /me: who the token belongs to."""

from fastapi import APIRouter

from server.api.deps import CurrentUser
from server.schemas import Me

router = APIRouter(tags=["users"])


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(id=user.id, name=user.name, admin=user.admin)
