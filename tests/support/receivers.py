"""Local receivers that speak the protocols of the notification channels, for
tests: an SMTP server (aiosmtpd) and HTTP servers that check a group robot's
JSON format and an SMS provider's request, answering as the real ones do."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from gridhub.local.processes import free_port


@dataclass
class Mailbox:
    """What an SMTP server on 127.0.0.1 received; ``refuse`` answers a code instead."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None  # e.g. "550 no such user", "451 try later"
    refuse_times: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse and self.refuse_times != 0:
            self.refuse_times -= 1
            return self.refuse
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class JsonReceiver:
    """An HTTP server that records JSON bodies and answers from ``answers`` (in
    order, the last one repeated); ``check`` raises on a malformed request."""

    answers: list[tuple[int, dict[str, Any]]]
    check: Any
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/send?key=test"


@contextmanager
def json_receiver(answers: list[tuple[int, dict[str, Any]]], check: Any) -> Iterator[JsonReceiver]:
    receiver = JsonReceiver(answers=list(answers), check=check)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                try:
                    doc = json.loads(body)
                    receiver.check(doc, dict(self.headers))
                except Exception as exc:  # a malformed request: say so, answer 400
                    receiver.problems.append(f"{type(exc).__name__}: {exc}")
                    status, answer = 400, {"errcode": 40001, "errmsg": "invalid"}
                else:
                    receiver.received.append(doc)
                    receiver.headers.append(dict(self.headers))
                    status, answer = (
                        receiver.answers.pop(0)
                        if len(receiver.answers) > 1
                        else receiver.answers[0]
                    )
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def check_robot(doc: dict[str, Any], _headers: dict[str, str]) -> None:
    """The group-robot format: msgtype text or markdown, with its body."""
    kind = doc["msgtype"]
    assert kind in ("text", "markdown"), kind
    if kind == "text":
        assert isinstance(doc["text"]["content"], str) and doc["text"]["content"]
    elif "content" in doc["markdown"]:  # WeCom
        assert isinstance(doc["markdown"]["content"], str) and doc["markdown"]["content"]
        assert set(doc["markdown"]) == {"content"}
    else:  # DingTalk
        assert set(doc["markdown"]) == {"title", "text"}
        assert doc["markdown"]["title"] and doc["markdown"]["text"]


def check_sms(doc: dict[str, Any], headers: dict[str, str]) -> None:
    """The HTTP SMS provider's request (sinks/sms.py documents it)."""
    assert headers.get("Authorization") == "Bearer sms-key", headers
    assert set(doc) == {"phone", "sign", "text", "request_id"}, doc
    assert doc["phone"].isdigit() and len(doc["phone"]) == 11
    assert 0 < len(doc["text"]) <= 300 and doc["sign"]
