"""The SMS channel: a notification to the phone a reporter left, through an SMS
provider adapter. The notification names the report (``contact:<report id>``);
the phone is read here, from the reports table, at send time — it never travels
on Kafka or sits in the outbox.

Adapters implement :class:`SmsProvider`. :class:`HttpSmsProvider` speaks a
plain JSON-over-HTTPS gateway, the shape most Chinese SMS platforms take:

    POST <url>   Authorization: Bearer <api key>   Content-Type: application/json
    {"phone": "13900000000", "sign": "<签名>", "text": "...", "request_id": "<delivery id>"}
    -> 200 {"code": "OK", "message_id": "..."}            sent
    -> 200 {"code": "RATE_LIMITED" | "BUSY", ...}, 429, 5xx   retried
    -> 200 {"code": <anything else>, "message": "..."}, 4xx   dead

``request_id`` is the delivery id, the same on every attempt, so a provider that
deduplicates sends each message once. A provider with another API is a new
adapter behind the same protocol; the channel, its rate limit, retries and
dead letters stay as they are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from sqlalchemy import Engine, select

from sinks.channels import ChannelDelivery
from sinks.models import reports
from sinks.webhooks import Attempt, Outcome

MAX_TEXT = 300
RETRY_CODES = frozenset({"RATE_LIMITED", "BUSY"})


class SmsProvider(Protocol):
    async def send(self, phone: str, text: str, request_id: str) -> Attempt: ...


class ContactBook(Protocol):
    def phone_of(self, report_id: str) -> str | None: ...


class ReportContacts:
    """The phone a report's reporter left (``reports.reporter``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def phone_of(self, report_id: str) -> str | None:
        with self.engine.connect() as conn:
            reporter = conn.scalar(select(reports.c.reporter).where(reports.c.id == report_id))
        phone = (reporter or {}).get("phone") if isinstance(reporter, dict) else None
        return str(phone) if phone else None


@dataclass
class HttpSmsProvider:
    url: str
    api_key: str
    sign: str = "GridHub"
    timeout: float = 5.0
    client: httpx.AsyncClient | None = None

    async def send(self, phone: str, text: str, request_id: str) -> Attempt:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        body = {"phone": phone, "sign": self.sign, "text": text, "request_id": request_id}
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            answer = await self.client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            return Attempt(Outcome.RETRY, f"timeout after {self.timeout}s")
        except httpx.TransportError as exc:
            return Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        if answer.status_code == 429 or answer.status_code >= 500:
            return Attempt(Outcome.RETRY, f"HTTP {answer.status_code}")
        if answer.status_code >= 300:
            return Attempt(Outcome.REFUSED, f"HTTP {answer.status_code}: {answer.text[:200]}")
        try:
            code = str(answer.json().get("code"))
        except (ValueError, AttributeError):
            return Attempt(Outcome.REFUSED, f"not a provider answer: {answer.text[:200]}")
        if code == "OK":
            return Attempt(Outcome.DELIVERED)
        outcome = Outcome.RETRY if code in RETRY_CODES else Outcome.REFUSED
        return Attempt(outcome, f"provider code {code}: {answer.text[:200]}")


@dataclass
class SmsChannel:
    provider: SmsProvider
    contacts: ContactBook
    name: str = field(default="sms")

    async def send(self, delivery: ChannelDelivery) -> Attempt:
        phone = await asyncio.to_thread(self.contacts.phone_of, delivery.target)
        if not phone:
            return Attempt(Outcome.REFUSED, "the report left no phone number")
        n = delivery.notification
        text = n.body if n.body.startswith(n.subject) else f"{n.subject}：{n.body}"
        return await self.provider.send(phone, text[:MAX_TEXT], delivery.id)
