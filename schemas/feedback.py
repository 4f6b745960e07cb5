"""Feedback links (回访, DESIGN.md §5 ``/f/{token}``): the private link a reporter
gets to follow their case and rate it once. Pure: signing and reading a token.

A token is ``<payload>.<signature>``: the payload names the report and when the
link expires (base64url of ``report id|unix seconds``), the signature is a
truncated HMAC-SHA256 of the payload under the hub's feedback secret. So a
token is unguessable without the secret, expires by itself, and is the same on
every replay of the event that issued it (no random part, no table to keep in
step). That it works once for the rating is the rating store's job: one rating
per report.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

LOW_SCORE = 2  # a rating at or below this is 回访不满意: the duty office must handle it
SIGNATURE_BYTES = 18  # 144 bits of the HMAC
MAX_TOKEN = 400


class FeedbackTokenError(ValueError):
    """The token is malformed, forged or expired (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FeedbackClaim:
    report_id: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return _b64(digest[:SIGNATURE_BYTES])


def issue_token(secret: str, report_id: str, expires_at: datetime) -> str:
    """The link token of ``report_id``, valid until ``expires_at`` (aware)."""
    if not secret:
        raise ValueError("feedback links need a secret")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = _b64(f"{report_id}|{int(expires_at.timestamp())}".encode())
    return f"{payload}.{_signature(secret, payload)}"


def read_token(secret: str, token: str, now: datetime) -> FeedbackClaim:
    """The claim of a genuine, unexpired token; :class:`FeedbackTokenError` otherwise."""
    if not secret or not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise FeedbackTokenError("malformed")
    payload, signature = token.split(".")
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise FeedbackTokenError("forged")
    try:
        report_id, _, seconds = _unb64(payload).decode().rpartition("|")
        expires_at = datetime.fromtimestamp(int(seconds), UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise FeedbackTokenError("malformed") from exc
    if not report_id:
        raise FeedbackTokenError("malformed")
    if now >= expires_at:
        raise FeedbackTokenError("expired")
    return FeedbackClaim(report_id=report_id, expires_at=expires_at)


def is_unsatisfied(score: int) -> bool:
    return score <= LOW_SCORE
