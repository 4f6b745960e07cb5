"""``/api/v1/admin/webhooks``: outbound webhook subscriptions, configured by an admin.

A subscription POSTs the notifications addressed to ``recipient`` (a name or an
``fnmatch`` pattern: ``duty_office``, ``department:shizheng``, ``department:*``,
``system:<source>``...) to ``url``, signed with HMAC-SHA256 and retried
(``sinks.webhooks``). The worker reads the active subscriptions from the
database every few seconds, beside those in its settings; an exact recipient
beats a pattern. One subscription per recipient pattern: to change one, delete
it and create it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Admin
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut
from gateway.ports import SubscriptionAdmin, SubscriptionInfo
from gateway.routes.common import AUTH_ERRORS, INVALID
from sinks.subscriptions import (
    MAX_DESCRIPTION,
    MAX_URL,
    RECIPIENT_PATTERN,
    DuplicateSubscription,
)

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

NOT_FOUND = "no such webhook subscription"
SubscriptionId = Annotated[str, Path(min_length=1, max_length=32)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    recipient: str = Field(
        pattern=RECIPIENT_PATTERN,
        description="recipient or fnmatch pattern: department:shizheng, system:<source>, ...",
        examples=["department:shizheng"],
    )
    url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=MAX_URL,
        description="where to POST (http or https)",
        examples=["https://receiver.example/gridhub"],
    )
    active: bool = True
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class SubscriptionOut(BaseModel):
    id: str
    recipient: str
    url: str
    active: bool
    description: str | None
    created_by: str
    created_at: datetime


def _out(record: SubscriptionInfo) -> SubscriptionOut:
    return SubscriptionOut(
        id=record.id,
        recipient=record.recipient,
        url=record.url,
        active=record.active,
        description=record.description,
        created_by=record.created_by,
        created_at=record.created_at,
    )


def _store(deps: GatewayDeps) -> SubscriptionAdmin:
    if deps.subscriptions is None:
        raise HTTPException(status_code=503, detail="webhook subscriptions are not configured")
    return deps.subscriptions


_UNCONFIGURED: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "no subscription store configured"}
}


@router.post(
    "/webhooks",
    status_code=201,
    response_model=SubscriptionOut,
    summary="Subscribe a URL to a recipient's notifications (admin)",
    description=__doc__,
    responses={
        **AUTH_ERRORS,
        409: {
            "model": ErrorOut,
            "description": "the recipient has a subscription, or webhooks cannot be signed",
        },
        **INVALID,
        **_UNCONFIGURED,
    },
)
def create_webhook(
    body: SubscriptionIn,
    deps: Deps,
    token: Admin,
) -> SubscriptionOut:
    store = _store(deps)
    if not deps.webhook_signing:
        raise HTTPException(
            status_code=409,
            detail="webhooks cannot be signed: set GRIDHUB_WEBHOOK_SECRET for the worker first",
        )
    try:
        record = store.create(
            body.recipient,
            body.url,
            created_by=token.name,
            active=body.active,
            description=body.description,
        )
    except DuplicateSubscription as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _out(record)


@router.get(
    "/webhooks",
    response_model=list[SubscriptionOut],
    summary="Every webhook subscription (admin)",
    responses={**AUTH_ERRORS, **_UNCONFIGURED},
)
def list_webhooks(deps: Deps, token: Admin) -> list[SubscriptionOut]:
    return [_out(record) for record in _store(deps).list()]


@router.get(
    "/webhooks/{subscription_id}",
    response_model=SubscriptionOut,
    summary="One webhook subscription (admin)",
    responses={
        **AUTH_ERRORS,
        404: {"model": ErrorOut, "description": NOT_FOUND},
        **INVALID,
        **_UNCONFIGURED,
    },
)
def get_webhook(
    subscription_id: SubscriptionId,
    deps: Deps,
    token: Admin,
) -> SubscriptionOut:
    record = _store(deps).get(subscription_id)
    if record is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return _out(record)


@router.delete(
    "/webhooks/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook subscription (admin)",
    responses={
        **AUTH_ERRORS,
        404: {"model": ErrorOut, "description": NOT_FOUND},
        **INVALID,
        **_UNCONFIGURED,
    },
)
def delete_webhook(
    subscription_id: SubscriptionId,
    deps: Deps,
    token: Admin,
) -> Response:
    if not _store(deps).delete(subscription_id):
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return Response(status_code=204)
