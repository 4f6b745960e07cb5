"""The notification outbox on SQLite and PostgreSQL: inbox, deliveries, claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.alerts import Notification
from sinks.outbox import Outbox

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HOOK = "http://127.0.0.1:9/hook"


def note(n: int, recipient: str = "reporter:r-1", **kw) -> Notification:
    return Notification(
        id=f"closed:{recipient}:case-{n}:7",
        recipient=recipient,
        channel=kw.pop("channel", "app"),
        time=T0 + timedelta(minutes=n),
        case_id=f"case-{n}",
        event_type="org.gridhub.case.closed",
        subject=f"您反映的问题已结案 <{n}>",
        body="感谢参与",
        data={"n": n, "名称": "井盖"},
    )


def subscribed(recipient: str) -> str | None:
    return HOOK if recipient.startswith("department:") else None


def test_accept_is_idempotent_and_returns_only_new_work(engine):
    outbox = Outbox(engine)
    batch = [note(1), note(2, "department:zhujian"), note(3, "department:huanbao")]
    first = outbox.accept(batch, subscribed, now=T0)
    assert [d.notification_id for d in first] == [batch[1].id, batch[2].id]
    assert first[0].payload == batch[1].model_dump(mode="json")
    assert first[0].url == HOOK
    assert first[0].attempts == 0
    # a replay, minutes later: nothing to do, nothing duplicated
    assert outbox.accept(batch, subscribed, now=T0 + timedelta(minutes=1)) == []
    # an hour later the still-pending rows count as orphaned and are claimed
    later = outbox.accept(batch, subscribed, now=T0 + timedelta(hours=1), stale_after=300)
    assert [d.notification_id for d in later] == [batch[1].id, batch[2].id]
    inbox = [m["notification_id"] for m in outbox.inbox_for("department:zhujian")]
    assert inbox == [batch[1].id]


def test_outcomes_and_the_stale_sweep(engine):
    outbox = Outbox(engine)
    notes = [note(n, "department:zhujian") for n in range(4)]
    outbox.accept(notes, subscribed, now=T0)
    outbox.mark_delivered(notes[0].id, 1, now=T0)
    outbox.mark_dead(notes[1].id, 5, "HTTP 500: boom", now=T0)
    outbox.record_attempt(notes[2].id, 2, "timeout", now=T0 + timedelta(hours=1))
    # a finished row does not move again
    outbox.mark_delivered(notes[1].id, 6)
    assert outbox.delivery(notes[1].id)["status"] == "dead"
    assert outbox.delivery(notes[1].id)["attempts"] == 5

    swept = outbox.claim_stale(now=T0 + timedelta(hours=1), stale_after=300)
    assert [d.notification_id for d in swept] == [notes[3].id]  # [2] was touched recently
    assert outbox.claim_stale(now=T0 + timedelta(hours=1), stale_after=300) == []
    swept = outbox.claim_stale(now=T0 + timedelta(hours=2), stale_after=300)
    assert sorted(d.notification_id for d in swept) == sorted([notes[2].id, notes[3].id])
    resumed = next(d for d in swept if d.notification_id == notes[2].id)
    assert resumed.attempts == 2  # the retry count carries on
    row = outbox.delivery(notes[2].id)
    assert (row["status"], row["last_error"]) == ("pending", "timeout")
    assert row["updated_at"] == T0 + timedelta(hours=2)


def test_inbox_reads_newest_first_and_marks_read_for_its_owner_only(engine):
    outbox = Outbox(engine)
    outbox.accept([note(1), note(2), note(3, "reporter:r-2"), note(4, channel="sms")], subscribed)
    mine = outbox.inbox_for("reporter:r-1")
    assert [m["case_id"] for m in mine] == ["case-4", "case-2", "case-1"]
    assert mine[-1]["subject"] == "您反映的问题已结案 <1>"
    assert mine[-1]["data"] == {"n": 1, "名称": "井盖"}
    assert mine[-1]["time"] == T0 + timedelta(minutes=1)
    assert mine[0]["channel"] == "sms"
    assert not outbox.mark_read(note(1).id, "reporter:r-2")  # not theirs
    assert outbox.mark_read(note(1).id, "reporter:r-1", now=T0)
    assert not outbox.mark_read(note(1).id, "reporter:r-1")  # already read
    unread = outbox.inbox_for("reporter:r-1", unread_only=True)
    assert [m["case_id"] for m in unread] == ["case-4", "case-2"]
