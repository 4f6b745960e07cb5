"""``POST /api/v1/cases/{id}/actions``: a command to the case agent, and its answer.

The gateway checks who may do what (role and scope), sends a ``CaseCommand`` to
``gridhub.case-commands`` keyed by the case's community, and waits briefly for the
agent's ``CommandResult``: 200 with the new state when applied, 409 with the rule
when refused, 202 with a status URL when the answer is late. The same
``Idempotency-Key`` (per token and case) is the same command: the agent applies
it once and answers a retry again."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.auth import CaseWorker, own_department, sees_personal_data
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut, invalid_fields
from gateway.ports import TokenInfo
from gateway.publisher import PublishError
from gateway.results import CommandResults
from gateway.routes.cases import visible, with_actions
from gateway.routes.common import AUTH_ERRORS, INVALID
from gateway.routes.media import check_media_ids
from schemas.cases import Action, CaseAction, CaseCommand, CommandResult
from schemas.envelope import now_utc
from schemas.policy import (
    CaseFacts,
    body_refusal,
    role_refusal,
)

router = APIRouter(prefix="/api/v1", tags=["cases"])
log = logging.getLogger(__name__)

CASE_NOT_FOUND = "case not found"
MAX_IDEMPOTENCY_KEY = 128

CaseId = Annotated[str, Path(min_length=1, max_length=64)]
MIN_CASE_ID = 13  # CaseCommand: a case id starts with its 12-digit community code


class ActionApplied(BaseModel):
    result: CommandResult
    case: dict[str, Any] | None


class ActionRefused(BaseModel):
    detail: str
    rule: str
    result: CommandResult


class ActionPending(BaseModel):
    status: Literal["pending"] = "pending"
    command_id: str
    status_url: str
    detail: str


_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": ActionPending, "description": "sent; the case agent has not answered yet"},
    404: {"model": ErrorOut, "description": "no such case, or not one this token can see"},
    409: {"model": ActionRefused, "description": "refused by a rule of the case lifecycle"},
    503: {"model": ErrorOut, "description": "the event bus did not take the command"},
}


# The field of the body each of the case policy's body rules reads.
_BODY_FIELDS = {"merge": "into", "reprioritise": "priority"}


def _results(deps: GatewayDeps) -> CommandResults:
    if deps.command_results is None:
        raise HTTPException(status_code=503, detail="case actions are not available here")
    return deps.command_results


async def _visible_case(deps: GatewayDeps, token: TokenInfo, case_id: str) -> dict[str, Any]:
    own_department(token)
    if len(case_id) < MIN_CASE_ID:
        raise HTTPException(status_code=404, detail=CASE_NOT_FOUND)
    case = await run_in_threadpool(deps.queries.get_case_brief, case_id)
    if case is None or not visible(token, case):
        raise HTTPException(status_code=404, detail=CASE_NOT_FOUND)
    return case


def _command_id(token: TokenInfo, case_id: str, key: str | None, deps: GatewayDeps) -> str:
    if key is None:
        return str(uuid.uuid4())
    who = token.principal_id
    return str(uuid.uuid5(deps.idempotency_namespace, f"action:{who}:{case_id}:{key}"))


async def _check_body(deps: GatewayDeps, case: dict[str, Any], action: CaseAction) -> None:
    """422 naming the field for a body the case can never take: a merge into
    itself (the case policy's rule), an unknown department or merge target."""
    refused = body_refusal(str(case["id"]), action.action, CaseFacts.of(case), into=action.into)
    if refused is not None:
        field = _BODY_FIELDS.get(refused.rule, "action")
        raise invalid_fields([(("body", field), refused.reason, getattr(action, field, None))])
    department = action.department
    if (
        action.action is Action.DISPATCH
        and department is not None
        and department not in deps.district.departments
    ):
        raise invalid_fields(
            [(("body", "department"), f"unknown department {department!r}", department)]
        )
    if (
        action.action is Action.MERGE
        and action.into is not None
        and await run_in_threadpool(deps.queries.get_case_brief, action.into) is None
    ):
        raise invalid_fields([(("body", "into"), "no such case", action.into)])


async def _answer(
    deps: GatewayDeps, token: TokenInfo, case_id: str, result: CommandResult
) -> JSONResponse:
    if not result.accepted and result.rule == "exists":
        raise HTTPException(status_code=404, detail=CASE_NOT_FOUND)
    if not result.accepted:
        refused = ActionRefused(
            detail=result.reason or result.rule, rule=result.rule, result=result
        )
        return JSONResponse(status_code=409, content=refused.model_dump(mode="json"))
    case = await run_in_threadpool(
        deps.queries.get_case, case_id, include_personal=sees_personal_data(token)
    )
    if case is not None and not visible(token, case):
        case = None  # e.g. a department that has just returned the case
    applied = ActionApplied(result=result, case=with_actions(token, case) if case else None)
    return JSONResponse(status_code=200, content=applied.model_dump(mode="json"))


def _pending(case_id: str, command_id: str, detail: str) -> JSONResponse:
    pending = ActionPending(
        command_id=command_id,
        status_url=f"/api/v1/cases/{case_id}/commands/{command_id}",
        detail=detail,
    )
    return JSONResponse(status_code=202, content=pending.model_dump(mode="json"))


@router.post(
    "/cases/{case_id}/actions",
    response_model=ActionApplied,
    summary="Act on a case (dispatch, accept, resolve, verify, comment, ...)",
    responses={**AUTH_ERRORS, **INVALID, **_ANSWERS},
)
async def act_on_case(
    case_id: CaseId,
    action: CaseAction,
    deps: Deps,
    token: CaseWorker,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY,
            description="Same key (per token and case) = same command: applied once.",
        ),
    ] = None,
) -> JSONResponse:
    refused = role_refusal(token.role, action.action)
    if refused is not None:  # a role that may never take this action
        raise HTTPException(status_code=403, detail=refused.reason)
    results = _results(deps)
    case = await _visible_case(deps, token, case_id)
    await _check_body(deps, case, action)
    if action.media:
        await run_in_threadpool(check_media_ids, deps, token, list(action.media))
    command_id = _command_id(token, case_id, idempotency_key, deps)
    known = results.recent(command_id)
    if known is not None:  # a retry of a command already answered
        return await _answer(deps, token, case_id, known)

    command = CaseCommand(
        command_id=command_id,
        case_id=case_id,
        actor=f"{token.role}:{token.principal_id}"[:128],
        role=token.role,
        scope=token.scope,
        time=now_utc(),
        body=action,
    )
    future = results.expect(command_id)
    try:
        try:
            await deps.publisher.publish(
                deps.topics.case_commands,
                command.partition_key,
                command.model_dump_json().encode(),
                [],
            )
        except PublishError as exc:
            log.warning("command %s not published: %s", command_id, exc)
            raise HTTPException(
                status_code=503,
                detail="the event bus is unavailable; retry with the same Idempotency-Key",
                headers={"Retry-After": "5"},
            ) from exc
        try:
            result = await asyncio.wait_for(future, timeout=deps.action_timeout)
        except TimeoutError:
            return _pending(
                case_id,
                command_id,
                f"no answer from the case agent within {deps.action_timeout:g}s; "
                "poll the status URL (or retry with the same Idempotency-Key)",
            )
    finally:
        results.discard(command_id, future)
    return await _answer(deps, token, case_id, result)


@router.get(
    "/cases/{case_id}/commands/{command_id}",
    response_model=ActionApplied,
    summary="The answer to an action that was late (202)",
    responses={**AUTH_ERRORS, **INVALID, **_ANSWERS},
)
async def command_status(
    case_id: CaseId,
    command_id: Annotated[str, Path(min_length=1, max_length=128)],
    deps: Deps,
    token: CaseWorker,
) -> JSONResponse:
    results = _results(deps)
    await _visible_case(deps, token, case_id)
    result = results.recent(command_id)
    if result is None:
        return _pending(
            case_id,
            command_id,
            "no answer seen yet by this gateway (answers are kept for a limited time)",
        )
    if result.case_id != case_id:
        raise HTTPException(status_code=404, detail="no such command on this case")
    return await _answer(deps, token, case_id, result)
