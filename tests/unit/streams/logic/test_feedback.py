"""Feedback decisions: a link for every report that leaves a phone, once; a
回访不满意 item for the duty office when a reporter rates low."""

from __future__ import annotations

from datetime import timedelta

from schemas.cases import CaseEventType, CaseState
from schemas.feedback import read_token
from streams.logic.feedback import FeedbackLinks, feedback_notifications
from tests.support.cases import CaseStory, make_report

LINKS = FeedbackLinks(secret="s3cret", ttl=timedelta(days=7), base_url="https://hub.example/")


def test_a_report_with_a_phone_gets_its_link_when_it_opens_a_case() -> None:
    story = CaseStory.open("990101001001-c1")
    (link,) = feedback_notifications(story.events[0], LINKS)
    assert link.id == "feedback_link:r-990101001001-c1"
    assert link.recipient == "contact:r-990101001001-c1" and link.channel == "sms"
    assert "13800138000" not in link.model_dump_json()  # the channel looks the phone up
    url = link.data["link"]
    assert url.startswith("https://hub.example/f/") and url in link.body
    claim = read_token("s3cret", url.rsplit("/", 1)[1], story.events[0].time)
    assert claim.report_id == "r-990101001001-c1"
    assert claim.expires_at == story.events[0].time + timedelta(days=7)
    assert feedback_notifications(story.events[0], LINKS) == [link]  # a replay: the same


def test_a_joining_report_gets_its_own_link_and_one_without_a_phone_none() -> None:
    story = CaseStory.open("990101001001-c2")
    joined = story.attach(make_report("r-b", name="李四", phone="13900000000"))
    (link,) = feedback_notifications(joined, LINKS)
    assert link.recipient == "contact:r-b"
    anonymous = story.attach(make_report("r-c", name=None, phone=None))
    assert feedback_notifications(anonymous, LINKS) == []
    assert feedback_notifications(story.dispatch(), LINKS) == []
    assert feedback_notifications(story.events[0], None) == []  # no secret configured


def test_a_low_rating_by_the_reporter_reaches_the_duty_office() -> None:
    story = CaseStory.open("990101001001-c3")
    story.dispatch()
    story.resolve()
    low = story.step(
        CaseEventType.RATED,
        actor="reporter:r-990101001001-c3",
        data={"score": 2, "note": "还是坏的"},
        satisfaction=2,
    )
    (item,) = feedback_notifications(low, LINKS)
    assert item.recipient == "duty_office" and item.channel == "app"
    assert item.id == f"feedback_unsatisfied:990101001001-c3:{low.version}"
    assert item.subject.startswith("回访不满意") and "还是坏的" in item.body
    assert item.data["suggested_action"] == "reopen"
    assert item.data["state"] == CaseState.RESOLVED.value


def test_good_ratings_and_operators_ratings_raise_nothing() -> None:
    story = CaseStory.open("990101001001-c4")
    good = story.step(CaseEventType.RATED, actor="reporter:r-x", data={"score": 4})
    by_operator = story.step(CaseEventType.RATED, actor="operator:ops", data={"score": 1})
    assert feedback_notifications(good, LINKS) == []
    assert feedback_notifications(by_operator, LINKS) == []
