"""The e-mail channel: a notification as a plain-text UTF-8 message over SMTP
(stdlib ``smtplib``, in a worker thread), optionally with STARTTLS and login.

A 4xx answer, a timeout or a dropped connection is worth retrying; a 5xx
answer (a refused sender, recipient or message) is not: the delivery is
dead-lettered with the server's words.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from sinks.channels import ChannelDelivery
from sinks.webhooks import Attempt, Outcome


@dataclass(frozen=True)
class SmtpChannel:
    host: str
    port: int = 25
    sender: str = "gridhub@localhost"
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 10.0
    name: str = "email"

    def message(self, delivery: ChannelDelivery) -> EmailMessage:
        n = delivery.notification
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = delivery.target
        msg["Subject"] = n.subject
        # The same id on every attempt: a mail system that got it once drops repeats.
        msg["Message-ID"] = make_msgid(idstring=delivery.id.replace("|", "."), domain="gridhub")
        msg["X-GridHub-Notification"] = n.id
        msg.set_content(f"{n.body}\n\n案件 {n.case_id or '-'} · {n.event_type}\n")
        return msg

    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)

    async def send(self, delivery: ChannelDelivery) -> Attempt:
        try:
            await asyncio.to_thread(self._send, self.message(delivery))
        except smtplib.SMTPResponseException as exc:
            outcome = Outcome.RETRY if 400 <= exc.smtp_code < 500 else Outcome.REFUSED
            return Attempt(outcome, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
        except smtplib.SMTPRecipientsRefused as exc:
            return Attempt(Outcome.REFUSED, f"recipients refused: {exc.recipients}")
        except (OSError, smtplib.SMTPException) as exc:
            return Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        return Attempt(Outcome.DELIVERED)
