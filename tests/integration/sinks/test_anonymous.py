"""A reporter who asks to stay anonymous is hidden from every reader, operators
included (SQLite and PostgreSQL); the hub keeps the phone for the feedback link
only, where the SMS channel reads it."""

from __future__ import annotations

from schemas.reports import Reporter
from sinks.queries import CaseQueries
from sinks.sms import ReportContacts
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report


def test_an_anonymous_reporter_is_hidden_but_reachable(engine):
    report = make_report("r-anon").model_copy(
        update={"reporter": Reporter(name="王小明", phone="13912345678", anonymous=True)}
    )
    named = make_report("r-named", name="李四", phone="13900000000")
    story = CaseStory.open("990101001001-anon", report=report)
    story.attach(named)
    CaseProjectionWriter(engine).write(story.events)
    queries = CaseQueries(engine)
    case = queries.get_case("990101001001-anon", include_personal=True)
    assert case is not None
    reporters = {r["id"]: r["reporter"] for r in case["reports"]}
    assert reporters == {
        "r-anon": {"anonymous": True},
        "r-named": {"name": "李四", "phone": "13900000000"},
    }
    shown = queries.get_report("r-anon", include_personal=True)
    assert shown is not None and shown["reporter"] == {"anonymous": True}
    assert "13912345678" not in str(case) and "王小明" not in str(case)
    assert ReportContacts(engine).phone_of("r-anon") == "13912345678"
