"""What the pages (issue 5) need to know besides cases: who is signed in, and the
department directory (codes with their names) for pickers and scorecards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from gateway.auth import require_roles
from gateway.deps import GatewayDeps, get_deps
from gateway.ports import TokenInfo
from gateway.routes.common import AUTH_ERRORS

router = APIRouter(prefix="/api/v1", tags=["reference"])

SignedIn = Annotated[TokenInfo, Depends(require_roles())]


class Profile(BaseModel):
    name: str
    role: str
    scope: str | None


class DepartmentOut(BaseModel):
    code: str
    name_zh: str
    name_en: str


@router.get(
    "/me/profile",
    response_model=Profile,
    summary="The signed-in token's name, role and scope (what the pages show and offer)",
    responses={**AUTH_ERRORS},
)
def profile(token: SignedIn) -> Profile:
    return Profile(name=token.name, role=token.role, scope=token.scope)


@router.get(
    "/departments",
    response_model=list[DepartmentOut],
    summary="The departments cases are dispatched to: code, Chinese and English names",
    responses={**AUTH_ERRORS},
)
def departments(
    deps: Annotated[GatewayDeps, Depends(get_deps)], token: SignedIn
) -> list[DepartmentOut]:
    return [
        DepartmentOut(
            code=code,
            name_zh=str(getattr(d, "name_zh", code)),
            name_en=str(getattr(d, "name_en", code)),
        )
        for code, d in deps.district.departments.items()
    ]
