"""Feedback from the people who reported (回访): which notifications a case event
raises for them and for the duty office. Pure decisions on contracts; the
notification stage derives them from ``gridhub.case-events`` as it reads the
feed (``streams.agents.webhook_agent``) and hands them to the outbox with the
notifications each case event reports up (:mod:`streams.logic.reportup`).

- A report that leaves a contact (a phone, whichever door it came through)
  gets its private feedback link once, when it opens or joins a case: a
  notification to ``contact:<report id>`` on the ``sms`` channel, id
  ``feedback_link:<report id>``. The recipient names the report, never the
  phone: the channel that sends it looks the contact up where personal data
  lives (the reports table). ``contact:`` is nobody's inbox, so the link is not
  shown to the grid worker who filed the report.
- A reporter's rating at or below :data:`schemas.feedback.LOW_SCORE` is
  回访不满意: the duty office gets an item (id ``feedback_unsatisfied:<case id>:<version>``)
  that suggests reopening the case.

Everything is derived from the event (its time sets the link's expiry), so a
replay issues the same link and the same item, which the outbox drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.alerts import Notification
from schemas.cases import CaseEvent, CaseEventType
from schemas.envelope import CASE_EVENT_PREFIX
from schemas.feedback import is_unsatisfied, issue_token
from schemas.policy import REPORTER

CONTACT_PREFIX = "contact:"
DUTY_OFFICE = "duty_office"
LINK_EVENT_TYPE = "org.gridhub.feedback.link"
UNSATISFIED_EVENT_TYPE = "org.gridhub.feedback.unsatisfied"
_ISSUING = frozenset({CaseEventType.OPENED.value, CaseEventType.REPORT_ATTACHED.value})


@dataclass(frozen=True)
class FeedbackLinks:
    """How links are made: the signing secret, how long they last, and the public
    base URL they start with (the path alone when it is empty)."""

    secret: str
    ttl: timedelta = timedelta(days=30)
    base_url: str = ""

    def path(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/f/{token}"


def feedback_notifications(event: CaseEvent, links: FeedbackLinks | None) -> list[Notification]:
    """The link for a new report with a contact, and the duty office's item for a
    low rating by a reporter."""
    out: list[Notification] = []
    if links is not None and links.secret:
        out += _link(event, links)
    out += _unsatisfied(event)
    return out


def _link(event: CaseEvent, links: FeedbackLinks) -> list[Notification]:
    report = event.report
    reporter = report.reporter if report is not None else None
    return link_notifications(
        event.type.value,
        event.case_id,
        event.time,
        report.id if report is not None else None,
        reporter.phone if reporter is not None else None,
        links,
    )


def link_notifications(
    event_type: str,
    case_id: str,
    time: datetime,
    report_id: str | None,
    phone: str | None,
    links: FeedbackLinks,
) -> list[Notification]:
    """The link of a report that opened or joined a case and left a phone, from the
    event's plain fields (the notification stage reads them off the feed's JSON
    without decoding every case event)."""
    if event_type not in _ISSUING or report_id is None or not phone:
        return []
    expires_at = time + links.ttl
    url = links.path(issue_token(links.secret, report_id, expires_at))
    return [
        Notification(
            id=f"feedback_link:{report_id}",
            recipient=f"{CONTACT_PREFIX}{report_id}",
            channel="sms",
            time=time,
            case_id=case_id,
            event_type=LINK_EVENT_TYPE,
            subject="您反映的问题已受理",
            body=f"您反映的问题已受理，可在此查看进度并在办结后评价：{url}",
            data={"report_id": report_id, "link": url, "expires_at": expires_at.isoformat()},
        )
    ]


def _unsatisfied(event: CaseEvent) -> list[Notification]:
    if event.type is not CaseEventType.RATED or not event.actor.startswith(f"{REPORTER}:"):
        return []
    score = event.data.get("score")
    if not isinstance(score, int) or not is_unsatisfied(score):
        return []
    case = event.case
    comment = str(event.data.get("note") or "")
    return [
        Notification(
            id=f"feedback_unsatisfied:{case.id}:{event.version}",
            recipient=DUTY_OFFICE,
            channel="app",
            time=event.time,
            case_id=case.id,
            event_type=UNSATISFIED_EVENT_TYPE,
            subject=f"回访不满意：案件 {case.id} 评分 {score}",
            body=(
                f"反映人对案件 {case.id} 的处置评分为 {score} 分"
                + (f"，意见：{comment}" if comment else "")
                + "。请回访核实，必要时重新打开案件（reopen）。"
            ),
            data={
                "case_id": case.id,
                "version": event.version,
                "score": score,
                "state": case.state.value,
                "category": case.category,
                "lead_department": case.lead_department,
                "suggested_action": "reopen",
                "case_event_type": f"{CASE_EVENT_PREFIX}{event.type.value}",
            },
        )
    ]
