"""``/api/v1/admin/webhooks``: outbound webhook subscriptions, configured by an admin.

A subscription POSTs the notifications addressed to ``recipient`` (a name or an
``fnmatch`` pattern: ``duty_office``, ``department:shizheng``, ``department:*``,
``system:<source>``...) to ``url``, signed to the Standard Webhooks convention
with the subscription's own secret and retried (``sinks.webhooks``). The secret
is in the answer of the create and of ``POST .../{id}/secret`` (rotation: the old
secret stays valid beside the new one for 24 hours) and never again. Outside dev
the URL must be https and may not point at an internal address. Every change is
audit-logged. The worker reads the active subscriptions from the
database every few seconds, beside those in its settings; an exact recipient
beats a pattern. One subscription per recipient pattern: to change one, delete
it and create it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Admin
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut
from gateway.ports import SubscriptionAdmin, SubscriptionInfo, TokenInfo
from gateway.routes.common import AUTH_ERRORS, INVALID
from sinks.audit import SUBSCRIPTION_CREATE, SUBSCRIPTION_DELETE, SUBSCRIPTION_ROTATE
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
        description="where to POST (https; plain http in dev only)",
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
    rotating_until: datetime | None = Field(
        default=None, description="until when the previous secret still signs too"
    )


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(
        description="the Standard Webhooks signing secret (whsec_...): shown this once"
    )


def _out(record: SubscriptionInfo) -> SubscriptionOut:
    return SubscriptionOut(
        id=record.id,
        recipient=record.recipient,
        url=record.url,
        active=record.active,
        description=record.description,
        created_by=record.created_by,
        created_at=record.created_at,
        rotating_until=record.rotating_until,
    )


def _with_secret(record: SubscriptionInfo) -> SubscriptionWithSecret:
    return SubscriptionWithSecret(**_out(record).model_dump(), secret=record.secret or "")


def _audit(deps: GatewayDeps, token: TokenInfo, action: str, target: str, **detail: str) -> None:
    if deps.audit is not None:
        deps.audit.record(
            f"{token.role}:{token.principal_id}",
            action,
            target,
            actor_role=token.role,
            detail=detail,
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
    response_model=SubscriptionWithSecret,
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
) -> SubscriptionWithSecret:
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
            created_by=f"{token.role}:{token.principal_id}",
            active=body.active,
            description=body.description,
        )
    except DuplicateSubscription as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except ValueError as exc:  # the URL policy refused the URL
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    _audit(deps, token, SUBSCRIPTION_CREATE, record.id, recipient=record.recipient, url=record.url)
    return _with_secret(record)


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
    _audit(deps, token, SUBSCRIPTION_DELETE, subscription_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{subscription_id}/secret",
    response_model=SubscriptionWithSecret,
    summary="Rotate a subscription's signing secret (admin); the old one signs too for 24 h",
    responses={
        **AUTH_ERRORS,
        404: {"model": ErrorOut, "description": NOT_FOUND},
        **INVALID,
        **_UNCONFIGURED,
    },
)
async def rotate_webhook_secret(
    subscription_id: SubscriptionId,
    deps: Deps,
    token: Admin,
) -> SubscriptionWithSecret:
    store = _store(deps)
    if not deps.webhook_signing:
        raise HTTPException(status_code=409, detail="no webhook key: set GRIDHUB_WEBHOOK_SECRET")
    record = await run_in_threadpool(store.rotate, subscription_id)
    if record is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    await run_in_threadpool(_audit, deps, token, SUBSCRIPTION_ROTATE, subscription_id)
    return _with_secret(record)
