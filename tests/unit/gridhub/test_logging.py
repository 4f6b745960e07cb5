"""Structured logs: text or JSON lines carrying the trace / report / case context."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from gridhub.logging import ContextFilter, JsonFormatter, log_config
from gridhub.settings import Settings
from schemas import trace


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    trace.clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(formatter: logging.Formatter, message: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("gridhub.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_the_bound_context() -> None:
    trace.bind(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", report_id="r-1", case_id="c-1")
    doc = json.loads(emit(JsonFormatter("gridhub-worker"), "井盖 %s", "缺失"))
    assert doc["message"] == "井盖 缺失"
    assert doc["level"] == "WARNING"
    assert doc["service"] == "gridhub-worker"
    assert (doc["trace_id"], doc["report_id"], doc["case_id"]) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "r-1",
        "c-1",
    )
    assert doc["time"].endswith("+00:00")


def test_json_leaves_out_unknown_context_and_keeps_tracebacks() -> None:
    trace.clear()
    try:
        raise ValueError("boom")
    except ValueError:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(ContextFilter())
        logger = logging.getLogger("gridhub.test.exc")
        logger.addHandler(handler)
        logger.propagate = False
        logger.exception("failed")
        logger.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert "trace_id" not in doc
    assert "ValueError: boom" in doc["exception"]


def test_text_lines_append_the_context() -> None:
    trace.bind(case_id="c-9")
    line = emit(logging.Formatter("%(message)s%(context)s"), "dispatched")
    assert line.strip() == "dispatched case_id=c-9"
    trace.clear()
    assert emit(logging.Formatter("%(message)s%(context)s"), "plain").strip() == "plain"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_dict_config_installs_and_routes_uvicorn_to_the_root(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(log_format=fmt)  # type: ignore[arg-type]
    logging.config.dictConfig(log_config(settings, "gateway"))
    trace.bind(trace_id="0af7651916cd43dd8448eb211c80319c")
    logging.getLogger("uvicorn.error").info("started")
    err = capsys.readouterr().err.strip()
    if fmt == "json":
        doc = json.loads(err)
        assert doc["service"] == "gridhub-gateway"
        assert doc["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    else:
        assert err.endswith("uvicorn.error: started trace_id=0af7651916cd43dd8448eb211c80319c")


def test_log_format_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("GRIDHUB_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
