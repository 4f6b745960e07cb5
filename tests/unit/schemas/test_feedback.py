"""Feedback link tokens: signed, expiring, the same on every replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.feedback import FeedbackTokenError, is_unsatisfied, issue_token, read_token

SECRET = "feedback-secret-for-tests"
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=30)


def test_a_token_names_its_report_until_it_expires() -> None:
    token = issue_token(SECRET, "report-1", EXPIRES)
    assert token == issue_token(SECRET, "report-1", EXPIRES)  # deterministic: replays agree
    claim = read_token(SECRET, token, NOW)
    assert claim.report_id == "report-1" and claim.expires_at == EXPIRES
    with pytest.raises(FeedbackTokenError, match="expired"):
        read_token(SECRET, token, EXPIRES)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: t.replace(".", ""),
        lambda t: t + ".x",
        lambda t: "",
    ],
)
def test_a_changed_token_is_refused(mangle) -> None:
    with pytest.raises(FeedbackTokenError):
        read_token(SECRET, mangle(issue_token(SECRET, "report-1", EXPIRES)), NOW)


def test_another_secret_does_not_read_it() -> None:
    with pytest.raises(FeedbackTokenError, match="forged"):
        read_token("another-secret", issue_token(SECRET, "report-1", EXPIRES), NOW)


def test_a_token_needs_a_secret_and_an_aware_expiry() -> None:
    with pytest.raises(ValueError, match="secret"):
        issue_token("", "report-1", EXPIRES)
    with pytest.raises(ValueError, match="aware"):
        issue_token(SECRET, "report-1", EXPIRES.replace(tzinfo=None))


def test_low_scores_are_unsatisfied() -> None:
    assert [is_unsatisfied(s) for s in range(1, 6)] == [True, True, False, False, False]
