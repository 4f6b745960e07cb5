"""Dead letters keep the original record where they can, and always say where
it is: an oversized one is cut, so it cannot stall its partition."""

from __future__ import annotations

from types import SimpleNamespace

from streams.codecs import DLQ_MAX_VALUE, dead_letter_record


def message(value: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        value=value, headers=[("ce_id", b"e-1")], topic="gridhub.intake", partition=2, offset=41
    )


def test_a_dead_letter_keeps_the_record_and_says_where_it_came_from() -> None:
    value, headers = dead_letter_record(message(b'{"bad": true}'), "schema: no category", "intake")
    assert value == b'{"bad": true}'
    found = dict(headers)
    assert found["ce_id"] == b"e-1"
    assert found["gridhub-original-topic"] == b"gridhub.intake"
    assert found["gridhub-original-partition"] == b"2"
    assert found["gridhub-original-offset"] == b"41"
    assert "gridhub-value-truncated" not in found


def test_an_oversized_record_is_cut_and_the_cut_is_recorded() -> None:
    """A ~1 MB record plus headers is over the producer's limit: sending it whole
    failed, the agent restarted on it forever and its partition stalled."""
    big = b"x" * 1_000_000
    value, headers = dead_letter_record(message(big), "too large", "intake")
    assert value == big[:DLQ_MAX_VALUE]
    found = dict(headers)
    assert found["gridhub-original-size"] == b"1000000"
    assert found["gridhub-value-truncated"] == b"true"
    assert found["gridhub-original-offset"] == b"41"
