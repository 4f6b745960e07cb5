"""Other systems publish over HTTP: ``POST /api/v1/events`` (CloudEvents HTTP binding:
binary, structured and batched mode) and ``POST /api/v1/cap`` (CAP 1.2 XML).

Both answer once the broker holds the event (on ``gridhub.intake``, structured
mode, key = ``partitionkey`` or the source; a batch goes to the broker in one
record batch per partition); the case follows asynchronously. A system token
publishes only as its own source (its scope, see
:func:`schemas.policy.source_allowed`), only the event types its principal was
given, and CAP only under its own ``<sender>``s, referencing only messages of
those senders (:func:`schemas.policy.publish_refusal`); anything else is a 403.
Natural keys are namespaced by the source in the worker, so even a message that
got through could not touch another source's case.

A batch is answered per event, in batch order: ``[{id, status, error?}]`` with
``status`` 202 (accepted), 400/413/422 (refused, ``error`` names the attribute),
403 (not this token's source) or 503 (the broker did not take it). The HTTP
status is **200 when every event was accepted, 207 when at least one was not**;
a body that is not a batch at all is 400, a batch over the event limit 413.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.auth import System
from gateway.cloudevents_http import (
    EventProblem,
    Place,
    check_cap_event,
    check_event,
    check_placed,
    check_whole_event,
    event_size,
    has_binary_headers,
    media_type,
    parse_batch,
    parse_binary,
    parse_structured,
    parse_structured_doc,
    partition_key,
)
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut, invalid_fields
from gateway.intake import bus_unavailable, intake_record, publish_batch, publish_event
from gateway.ports import TokenInfo
from gateway.publisher import PublishError
from gateway.routes.common import AUTH_ERRORS, INVALID
from schemas.cap import CAP_CONTENT_TYPES, MAX_CAP_BYTES, CapRefused, accept_cap
from schemas.envelope import (
    BATCH_CONTENT_TYPE,
    CAP_ALERT,
    INBOUND_TYPES,
    STRUCTURED_CONTENT_TYPE,
    Envelope,
)
from schemas.policy import ADMIN, publish_refusal, source_allowed
from schemas.sources import CapAlert

router = APIRouter(prefix="/api/v1", tags=["systems"])
log = logging.getLogger(__name__)

CAP_CONTENT_TYPE = "application/cap+xml"
UNAVAILABLE = "the event bus is unavailable, so the event was not accepted; retry later"


class EventAccepted(BaseModel):
    id: str
    source: str
    type: str
    status: Literal["accepted"] = "accepted"


class EventResult(BaseModel):
    """One event of a batch: 202 accepted, or why not."""

    id: str | None = Field(description="the event's id (null when it has none)")
    status: int = Field(description="202, or 400/403/413/422/503 like a single event")
    error: str | None = Field(default=None, description="the reason, naming the attribute")


class CapAccepted(BaseModel):
    id: str = Field(description="the CAP identifier, the CloudEvent id")
    source: str
    msg_type: str
    references: list[str] = Field(description="sender,identifier,sent of the messages it follows")
    status: Literal["accepted"] = "accepted"


_ENVELOPE_SCHEMA = Envelope.model_json_schema()
_ENVELOPE_SCHEMA.pop("title", None)
_ENVELOPE_SCHEMA["required"] = ["specversion", "id", "source", "type"]
_ENVELOPE_SCHEMA["properties"]["type"] = {
    "type": "string",
    "enum": list(INBOUND_TYPES),
    "description": "one of the inbound types of DESIGN.md §5",
}

_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "body, event or batch over its limit"}
}
_UNSUPPORTED: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorOut, "description": "a content type no mode accepts"}
}
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the event bus did not take the event"}
}
_BAD: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not a CloudEvent (invalid JSON...)"}
}

EVENTS_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "Structured mode: one event as JSON (`application/cloudevents+json`). Batched mode: "
        "a JSON array of events (`application/cloudevents-batch+json`). Binary mode: the "
        "attributes in `ce-` headers (percent-encoded), `Content-Type` = `datacontenttype`, "
        "the data alone in the body (JSON, or CAP XML for `org.gridhub.cap.alert`)."
    ),
    "content": {
        STRUCTURED_CONTENT_TYPE: {"schema": _ENVELOPE_SCHEMA},
        BATCH_CONTENT_TYPE: {"schema": {"type": "array", "items": _ENVELOPE_SCHEMA}},
        "application/json": {"schema": {"type": "object", "description": "binary-mode data"}},
        CAP_CONTENT_TYPE: {"schema": {"type": "string", "description": "binary-mode CAP XML"}},
    },
}
CAP_BODY: dict[str, Any] = {
    "required": True,
    "description": "An OASIS CAP 1.2 `<alert>` (UTF-8, no DOCTYPE).",
    "content": {kind: {"schema": {"type": "string"}} for kind in CAP_CONTENT_TYPES},
}


def _refuse(problem: EventProblem) -> HTTPException | RequestValidationError:
    if problem.status == 422:
        return invalid_fields([((name,), message, None) for name, message in problem.errors])
    return HTTPException(status_code=problem.status, detail=problem.reason)


def _source_scope(token: TokenInfo) -> str | None:
    """The sources a token may publish as: None = any (admin)."""
    if token.role == ADMIN:
        return None
    if not token.scope:
        raise HTTPException(
            status_code=403, detail="this system token has no source scope, so it may not publish"
        )
    return token.scope


def _check_source(envelope: Envelope, scope: str | None) -> None:
    if scope is not None and not source_allowed(envelope.source, scope):
        raise EventProblem(
            403, [("source", f"{envelope.source[:200]!r} is not this token's source ({scope})")]
        )


def _check_publisher(envelope: Envelope, token: TokenInfo) -> None:
    """403 for an event type, CAP sender or CAP reference this token may not use."""
    if token.role == ADMIN:
        return
    alert: CapAlert | None = None
    if envelope.type == CAP_ALERT and envelope.type in token.event_types:
        alert = check_cap_event(envelope)
    refused = _cap_refusal(envelope.type, token, alert)
    if refused is not None:
        name, _, reason = refused.partition(": ")
        raise EventProblem(403, [(name, reason)])


def _cap_refusal(event_type: str, token: TokenInfo, alert: CapAlert | None) -> str | None:
    return publish_refusal(
        event_type,
        token.event_types,
        cap_sender=alert.sender if alert is not None else None,
        referenced_senders=[ref.sender for ref in alert.references] if alert else (),
        cap_senders=token.cap_senders,
    )


async def _publish(deps: GatewayDeps, envelope: Envelope, token: TokenInfo) -> None:
    await publish_event(deps, envelope, str(token.principal_id), partition_key(envelope))


@router.post(
    "/events",
    status_code=202,
    response_model=EventAccepted,
    summary="Publish CloudEvents (HTTP binding: binary, structured or batch)",
    description=__doc__,
    openapi_extra={"requestBody": EVENTS_BODY},
    responses={
        200: {"model": list[EventResult], "description": "batch: every event accepted"},
        207: {"model": list[EventResult], "description": "batch: some event was not accepted"},
        **_BAD,
        **AUTH_ERRORS,
        **_TOO_LARGE,
        **_UNSUPPORTED,
        **INVALID,
        **_UNAVAILABLE,
    },
)
async def publish_events(
    request: Request,
    deps: Deps,
    token: System,
    ce_specversion: Annotated[
        str | None, Header(alias="ce-specversion", description="binary mode: 1.0")
    ] = None,
    ce_id: Annotated[str | None, Header(alias="ce-id", description="binary mode")] = None,
    ce_source: Annotated[str | None, Header(alias="ce-source", description="binary mode")] = None,
    ce_type: Annotated[str | None, Header(alias="ce-type", description="binary mode")] = None,
) -> Any:
    scope = _source_scope(token)
    kind = media_type(request.headers.get("content-type"))
    body = await request.body()
    if kind == BATCH_CONTENT_TYPE:
        return await _batch(deps, token, scope, body)
    try:
        if kind == STRUCTURED_CONTENT_TYPE:
            envelope = parse_structured(body)
        elif has_binary_headers(request.headers.keys()):
            envelope = parse_binary(dict(request.headers), body)
        else:
            raise EventProblem(
                415,
                [
                    (
                        "content-type",
                        f"{kind or '(none)'!r}: send {STRUCTURED_CONTENT_TYPE}, "
                        f"{BATCH_CONTENT_TYPE}, or binary mode with ce- headers",
                    )
                ],
            )
        _check_source(envelope, scope)
        check_whole_event(envelope, deps.district)
        _check_publisher(envelope, token)
    except EventProblem as problem:
        raise _refuse(problem) from problem
    try:
        await _publish(deps, envelope, token)
    except PublishError as exc:
        raise bus_unavailable(exc, UNAVAILABLE) from exc
    return EventAccepted(id=envelope.id, source=envelope.source, type=envelope.type)


async def _batch(
    deps: GatewayDeps, token: TokenInfo, scope: str | None, body: bytes
) -> JSONResponse:
    try:
        docs = parse_batch(body)
    except EventProblem as problem:
        raise _refuse(problem) from problem
    if len(docs) > deps.max_batch_events:
        raise HTTPException(
            status_code=413,
            detail=f"a batch of {len(docs)} events; at most {deps.max_batch_events} per batch",
        )
    results: list[dict[str, Any]] = []
    checked: list[tuple[int, Envelope]] = []
    pending: list[tuple[int, Envelope, Place]] = []
    for index, doc in enumerate(docs):
        event_id = doc.get("id") if isinstance(doc, dict) else None
        results.append({"id": str(event_id)[:256] if event_id is not None else None, "status": 202})
        try:
            if event_size(doc) > deps.max_event_bytes:
                raise EventProblem(413, [("event", f"larger than {deps.max_event_bytes} bytes")])
            envelope = parse_structured_doc(doc)
            _check_source(envelope, scope)
            place = check_event(envelope, deps.district)
            _check_publisher(envelope, token)
        except EventProblem as problem:
            _refused(results[index], problem)
            continue
        if place is None:
            checked.append((index, envelope))
        else:
            pending.append((index, envelope, place))
    # Every place of the batch in one point-in-polygon query.
    placements = deps.district.place_many([place.key for _, _, place in pending])
    for (index, envelope, _), placed in zip(pending, placements, strict=True):
        try:
            check_placed(placed)
        except EventProblem as problem:
            _refused(results[index], problem)
        else:
            checked.append((index, envelope))
    outcomes = await publish_batch(
        deps,
        [
            intake_record(deps, envelope, str(token.principal_id), partition_key(envelope))
            for _, envelope in checked
        ],
    )
    for (index, _), outcome in zip(checked, outcomes, strict=True):
        if outcome is not None:
            log.warning("batch event not published: %s", outcome)
            results[index].update(status=503, error=UNAVAILABLE)
    for result in results:
        result.setdefault("error", None)
    status = 200 if all(r["status"] == 202 for r in results) else 207
    return JSONResponse(results, status_code=status)


def _refused(result: dict[str, Any], problem: EventProblem) -> None:
    result.update(status=problem.status, error=problem.reason)


@router.post(
    "/cap",
    status_code=202,
    response_model=CapAccepted,
    summary="Publish a CAP 1.2 alert (Alert, Update or Cancel)",
    description=(
        "The `<alert>` becomes an `org.gridhub.cap.alert` CloudEvent: id = its `identifier`, "
        "source = the token's source scope (an admin token: the CAP `sender`). The `<sender>` "
        "must be one of the token's CAP senders and `<references>` may name only messages of "
        "those senders (else 403). An Alert opens a case; an Update or Cancel follows its "
        "`<references>` among the alerts of the same source (a Cancel rejects the case with "
        "the `<note>` as the reason). DOCTYPEs, entities and external references are "
        "refused (400)."
    ),
    openapi_extra={"requestBody": CAP_BODY},
    responses={
        400: {"model": ErrorOut, "description": "not CAP 1.2 XML, or unsafe XML refused"},
        **AUTH_ERRORS,
        **_TOO_LARGE,
        **_UNSUPPORTED,
        **INVALID,
        **_UNAVAILABLE,
    },
)
async def publish_cap(
    request: Request,
    deps: Deps,
    token: System,
) -> CapAccepted:
    scope = _source_scope(token)
    kind = media_type(request.headers.get("content-type"))
    if kind not in CAP_CONTENT_TYPES:
        raise HTTPException(
            status_code=415,
            detail=f"{kind or '(none)'!r}: send CAP 1.2 XML as {', '.join(CAP_CONTENT_TYPES)}",
        )
    body = await request.body()
    if len(body) > MAX_CAP_BYTES:
        raise HTTPException(status_code=413, detail=f"CAP message over {MAX_CAP_BYTES} bytes")
    try:
        xml = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(status_code=400, detail=f"xml: not UTF-8 ({exc.reason})") from exc
    try:
        alert = accept_cap(kind, xml)
    except CapRefused as exc:
        if exc.field == "data":  # not CAP 1.2 XML, or unsafe XML
            raise HTTPException(status_code=400, detail=exc.reason) from exc
        # The body is the CAP document itself: its fields are named without "data.".
        field = exc.field.removeprefix("data.")
        raise invalid_fields([((field,), exc.reason, None)]) from exc
    if token.role != ADMIN:
        refused = _cap_refusal(CAP_ALERT, token, alert)
        if refused is not None:
            raise HTTPException(status_code=403, detail=refused)
    envelope = _cap_event(alert, xml, scope)
    try:
        await _publish(deps, envelope, token)
    except PublishError as exc:
        raise bus_unavailable(exc, UNAVAILABLE) from exc
    return CapAccepted(
        id=envelope.id,
        source=envelope.source,
        msg_type=alert.msg_type,
        references=[f"{r.sender},{r.identifier},{r.sent}" for r in alert.references],
    )


def _cap_event(alert: CapAlert, xml: str, scope: str | None) -> Envelope:
    return Envelope.model_validate(
        {
            "id": alert.identifier,
            "source": scope or alert.sender,
            "type": CAP_ALERT,
            "subject": alert.identifier,
            "time": alert.sent,
            "datacontenttype": CAP_CONTENT_TYPE,
            "data": xml,
        }
    )
