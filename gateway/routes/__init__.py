"""The gateway's routes, one module per resource, and :data:`ROUTERS`: every router
``create_app`` includes, in this order; :data:`BODY_MODELS`: the request bodies
routes read themselves, which ``create_app`` adds to the OpenAPI components."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.open311 import routes as open311
from gateway.routes import (
    actions,
    audit,
    cases,
    deliveries,
    duty,
    events,
    exports,
    feedback,
    me,
    media,
    meta,
    pages,
    public,
    reference,
    reports,
    search,
    stats,
    stream,
    webhooks,
)
from schemas.reports import ReportSubmission

ROUTERS: tuple[APIRouter, ...] = (
    reports.router,  # phones: POST /api/v1/reports, GET /api/v1/reports/{id}
    media.router,  # photos: /api/v1/media
    cases.router,  # /api/v1/cases, /api/v1/cases/{id}
    actions.router,  # /api/v1/cases/{id}/actions and their late answers, /api/v1/cases/actions
    search.router,  # /api/v1/search
    duty.router,  # /api/v1/orders, /api/v1/extensions
    stream.router,  # SSE: /api/v1/stream/cases
    me.router,  # /api/v1/me/profile, tasks, inbox
    reference.router,  # /api/v1/categories, grids, departments
    stats.router,  # /api/v1/stats/...
    public.router,  # /api/v1/public/... (no token)
    feedback.api,  # /api/v1/feedback/{token} (the link is the credential)
    feedback.router,  # /f/{token}
    exports.router,  # /api/v1/exports/cases.csv, /api/v1/briefs/{day}
    events.router,  # other systems: /api/v1/events (CloudEvents), /api/v1/cap
    open311.router,  # /open311/v2/...
    webhooks.router,  # /api/v1/admin/webhooks
    deliveries.router,  # /api/v1/admin/deliveries (dead ones, re-sent)
    audit.router,  # /api/v1/audit
    meta.router,  # /healthz, /readyz, /schemas/, /api/v1/meta
    pages.router,  # /m/, /console/, /d/, /reports/, /public/
)

BODY_MODELS: tuple[type[BaseModel], ...] = (
    ReportSubmission,  # POST /api/v1/reports reads it itself (the hot path)
)
