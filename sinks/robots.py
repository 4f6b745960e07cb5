"""The group-robot channel: a notification posted to a WeCom (企业微信) or
DingTalk (钉钉) group robot's webhook as JSON ``{"msgtype": "markdown", ...}``.

- WeCom: ``{"msgtype": "markdown", "markdown": {"content": "..."}}``;
- DingTalk: ``{"msgtype": "markdown", "markdown": {"title": "...", "text": "..."}}``.

Both answer ``{"errcode": 0, "errmsg": "ok"}`` when the message is posted. A
frequency-limit code (WeCom 45009, DingTalk 130101), HTTP 429 or 5xx, a timeout
or a dropped connection is retried; any other error code is dead at once (a
wrong key stays wrong).

A robot's URL comes from the notify rules, so it passes the same check against
server-side request forgery as a webhook's (:class:`sinks.urls.UrlPolicy`): https
and a public address outside dev, resolved at send time and connected to at the
address checked. A refused URL is dead at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from sinks.channels import ChannelDelivery
from sinks.urls import UrlPolicy, UrlRefused
from sinks.webhooks import Attempt, Outcome, pinned

RATE_LIMITED_CODES = frozenset({45009, 130101})


def robot_body(delivery: ChannelDelivery) -> dict[str, Any]:
    """The JSON a group robot takes for this delivery (its ``format``)."""
    n = delivery.notification
    lines = [f"**{n.subject}**", "", n.body]
    if n.case_id:
        lines += ["", f"> 案件 {n.case_id} · {n.event_type}"]
    text = "\n".join(lines)
    if delivery.format == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": n.subject, "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text}}


@dataclass
class RobotChannel:
    timeout: float = 5.0
    client: httpx.AsyncClient | None = None
    name: str = field(default="robot")
    policy: UrlPolicy = field(default_factory=UrlPolicy)

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self.client

    async def send(self, delivery: ChannelDelivery) -> Attempt:
        try:
            addresses = await asyncio.to_thread(self.policy.resolve, delivery.target)
        except UrlRefused as exc:
            return Attempt(Outcome.REFUSED, f"URL refused: {exc}")
        target, host, extensions = (
            pinned(delivery.target, addresses[0]) if addresses else (delivery.target, {}, {})
        )
        try:
            answer = await self._client().post(
                target, json=robot_body(delivery), headers=host, extensions=extensions
            )
        except httpx.TimeoutException:
            return Attempt(Outcome.RETRY, f"timeout after {self.timeout}s")
        except httpx.TransportError as exc:
            return Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        if answer.status_code == 429 or answer.status_code >= 500:
            return Attempt(Outcome.RETRY, f"HTTP {answer.status_code}")
        if answer.status_code >= 300:
            return Attempt(Outcome.REFUSED, f"HTTP {answer.status_code}: {answer.text[:200]}")
        try:
            code = int(answer.json().get("errcode", -1))
        except (ValueError, AttributeError):
            return Attempt(Outcome.REFUSED, f"not a robot answer: {answer.text[:200]}")
        if code == 0:
            return Attempt(Outcome.DELIVERED)
        outcome = Outcome.RETRY if code in RATE_LIMITED_CODES else Outcome.REFUSED
        return Attempt(outcome, f"errcode {code}: {answer.text[:200]}")

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
