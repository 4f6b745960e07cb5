"""Feedback from the people who reported (回访): which notifications a case event
raises for them and for the duty office. Pure decisions on contracts; the
report-up agent sends them to ``gridhub.notifications``.

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
from datetime import timedelta

from schemas.alerts import Notification
from schemas.cases import CaseEvent, CaseEventType
from schemas.envelope import CASE_EVENT_PREFIX
from schemas.feedback import is_unsatisfied, issue_token
from schemas.policy import REPORTER

CONTACT_PREFIX = "contact:"
DUTY_OFFICE = "duty_office"
LINK_EVENT_TYPE = "org.gridhub.feedback.link"
UNSATISFIED_EVENT_TYPE = "org.gridhub.feedback.unsatisfied"
_ISSUING = frozenset({CaseEventType.OPENED, CaseEventType.REPORT_ATTACHED})


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
    if event.type not in _ISSUING or report is None or report.reporter is None:
        return []
    if not report.reporter.phone:
        return []
    expires_at = event.time + links.ttl
    url = links.path(issue_token(links.secret, report.id, expires_at))
    return [
        Notification(
            id=f"feedback_link:{report.id}",
            recipient=f"{CONTACT_PREFIX}{report.id}",
            channel="sms",
            time=event.time,
            case_id=event.case_id,
            event_type=LINK_EVENT_TYPE,
            subject="您反映的问题已受理",
            body=f"您反映的问题已受理，可在此查看进度并在办结后评价：{url}",
            data={"report_id": report.id, "link": url, "expires_at": expires_at.isoformat()},
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
