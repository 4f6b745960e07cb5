"""Logs of ``gridhub worker`` and ``gridhub gateway``: text lines, or one JSON
object a line with ``GRIDHUB_LOG_FORMAT=json``, for a log shipper.

Every record carries the log context of what the process was handling when it
logged — trace id, report id, case id (:mod:`schemas.trace`): the gateway binds
the request's W3C trace id, the worker's stages bind the record they handle.
:class:`ContextFilter` copies that context onto the record, so the formatters
(and any handler added later) can use ``%(trace_id)s`` and friends.

No secret reaches a log line: :class:`RedactSecrets` masks bearer tokens
(``gh_...``), ``Authorization`` values, ``api_key``/``token``/``secret``/
``password`` parameters and the token of a feedback link (``/f/{token}``,
``/api/v1/feedback/{token}``) in every record before it is formatted — uvicorn's
access log writes each request's path with its query string.

The configuration is a ``logging.config.dictConfig`` dict, because both servers
install their own logging when they start: Faust's worker takes it as
``logging_config`` and uvicorn as ``log_config``.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

from gridhub.settings import Settings
from schemas import trace

CONTEXT_FIELDS = ("trace_id", "report_id", "case_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"


class ContextFilter(logging.Filter):
    """Adds ``trace_id``, ``report_id``, ``case_id`` (empty when unknown) and
    ``context`` (`` trace_id=… case_id=…`` or empty) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.current()
        record.trace_id = ctx.trace_id or ""
        record.report_id = ctx.report_id or ""
        record.case_id = ctx.case_id or ""
        fields = ctx.fields()
        record.context = "".join(f" {k}={v}" for k, v in fields.items()) if fields else ""
        return True


_SECRETS = (
    # our bearer tokens, wherever they appear
    (re.compile(r"gh_[A-Za-z0-9_\-]{8,}"), "gh_[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1[REDACTED]"),
    # query or form parameters that carry a secret
    (
        re.compile(r"(?i)\b(api_key|access_token|token|secret|password|passwd)=([^&\s\"']+)"),
        r"\1=[REDACTED]",
    ),
    # a reporter's feedback link: the path is the credential
    (re.compile(r"(/f/|/api/v1/feedback/)[A-Za-z0-9_.\-]+"), r"\1[REDACTED]"),
    # passwords in URLs (database, broker)
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[REDACTED]@"),
)


def redact(text: str) -> str:
    """``text`` with every secret this module knows the shape of masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in the formatted message (and the exception text) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ms), level, logger, message, service,
    the context fields that are set, and the traceback if any."""

    def __init__(self, service: str = "gridhub") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, "")
            if value:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def log_config(settings: Settings, service: str, level: str = "INFO") -> dict[str, Any]:
    """The ``dictConfig`` for ``service`` (``worker`` or ``gateway``); a new dict each call."""
    formatter: dict[str, Any]
    if settings.log_format == "json":
        formatter = {"()": f"{__name__}.JsonFormatter", "service": f"gridhub-{service}"}
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": f"{__name__}.ContextFilter"},
            "redact": {"()": f"{__name__}.RedactSecrets"},
        },
        "formatters": {"gridhub": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "gridhub",
                "filters": ["redact", "context"],
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        # uvicorn's own loggers carry handlers by default; ours go to the root.
        "loggers": {
            name: {"level": level, "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def setup_logging(settings: Settings, service: str) -> dict[str, Any]:
    """Apply the configuration now (so start-up logs follow it too) and return a
    fresh copy for the server to install again when it starts."""
    logging.config.dictConfig(log_config(settings, service))
    return log_config(settings, service)
