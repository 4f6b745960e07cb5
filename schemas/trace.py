"""Trace context: the W3C ``traceparent`` the gateway puts on the CloudEvents it
publishes (CloudEvents distributed-tracing extension), and the log context —
trace id, report id, case id — that every stage binds while it handles one
record, so a log line can be followed from the HTTP request to the case.

The log context is one :class:`contextvars.ContextVar`; the logging filter in
``gridhub.logging`` copies it onto each record. Pure standard library: the
gateway and the worker both use it, and neither may import the other.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import NamedTuple

from schemas.reports import Report

TRACEPARENT = "traceparent"
TRACE_ID_ATTRIBUTE = "trace_id"  # key in Report.attributes

_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_PARENT_ID = "0" * 16


def parse_traceparent(value: str | None) -> str | None:
    """The trace id of a valid ``traceparent`` (version 00 or a later one read as
    00, per the W3C rules), else None."""
    if not value:
        return None
    match = _TRACEPARENT_RE.match(value.strip().lower()[:55])
    if match is None:
        return None
    version, trace_id, parent_id, _ = match.groups()
    if version == "ff" or trace_id == _INVALID_TRACE_ID or parent_id == _INVALID_PARENT_ID:
        return None
    return trace_id


def new_traceparent(trace_id: str | None = None) -> str:
    """A sampled ``traceparent`` with a new span id, continuing ``trace_id`` if given."""
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def ensure_traceparent(value: str | None) -> str:
    """The incoming ``traceparent`` continued with a span of our own, or a new trace."""
    return new_traceparent(parse_traceparent(value))


class LogContext(NamedTuple):
    """A tuple, not a dataclass: stages build one per record."""

    trace_id: str | None = None
    report_id: str | None = None
    case_id: str | None = None

    def fields(self) -> dict[str, str]:
        return {k: v for k, v in self._asdict().items() if v}


EMPTY = LogContext()
_current: ContextVar[LogContext] = ContextVar("gridhub_log_context", default=EMPTY)


def current() -> LogContext:
    return _current.get()


def bind(
    *, trace_id: str | None = None, report_id: str | None = None, case_id: str | None = None
) -> None:
    """Set the log context for the record being handled (replacing the last one);
    stages call it once per record and :func:`clear` once per batch."""
    _current.set(LogContext(trace_id, report_id, case_id))


def bind_report(report: Report, case_id: str | None = None) -> None:
    """Bind a report: its trace id (``attributes["trace_id"]``) and its id."""
    trace_id = report.attributes.get(TRACE_ID_ATTRIBUTE)
    _current.set(LogContext(str(trace_id) if trace_id else None, report.id, case_id))


def clear() -> None:
    _current.set(EMPTY)
