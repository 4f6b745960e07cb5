"""Where a report comes from and when the hub got it — the two rules every door
and the intake stage share (DESIGN.md §8, Sources), so no source can touch
another's cases and no sender's clock runs the hub's:

- :func:`natural_key`: every natural key a source sends (a CAP sender and
  identifier, a 数字城管 case number, a sensor's device id) is namespaced by the
  source that sent it. Fold keys, CAP references and derived report ids are
  built with it, so one source's key can never name another source's case.
- :func:`hub_times`: the sender's event time is clamped to the time the hub
  received the event (a little skew allowed): a time in the future becomes the
  time received; a time much older than that is kept as the occurrence but
  flagged as a late arrival. The report's ``received_at`` — what SLA clocks and
  merge windows run on — is always the hub's time.

Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# How far ahead of the hub's clock a sender's clock may be.
FUTURE_SKEW = timedelta(minutes=5)
# An event older than this when it arrives is a late arrival.
LATE_AFTER = timedelta(hours=24)

LATE_ARRIVAL = "late_arrival"  # Report.attributes: the event arrived late
CLAIMED_TIME = "claimed_time"  # Report.attributes: the sender's own time, when not used
TIME_CLAMPED = "time_clamped"  # Report.attributes: the sender's time was in the future

CAP = "cap"
CITYMGMT = "citymgmt"
SENSOR = "sensor"
_SEPARATOR = "\x1f"  # never in a URI or an identifier a source can send


def natural_key(kind: str, source: str, *parts: str) -> str:
    """``kind:<source>␟part␟...`` — the key of a source's own identifier."""
    return f"{kind}:{source}{_SEPARATOR}{_SEPARATOR.join(parts)}"


def key_source(key: str) -> str | None:
    """The source a :func:`natural_key` belongs to (None for another key)."""
    kind, sep, rest = key.partition(":")
    if not sep or _SEPARATOR not in rest:
        return None
    return rest.split(_SEPARATOR, 1)[0]


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HubTimes:
    """``occurred_at`` (the sender's, clamped), ``received_at`` (the hub's) and
    the attributes that record what was changed or flagged."""

    occurred_at: datetime
    received_at: datetime
    flags: dict[str, Any]


def hub_times(
    claimed: datetime | None,
    received: datetime,
    *,
    skew: timedelta = FUTURE_SKEW,
    late_after: timedelta = LATE_AFTER,
) -> HubTimes:
    """The times of an event the hub ``received`` (its clock), whose sender says
    it happened at ``claimed`` (None: it does not say)."""
    received = aware(received)
    if claimed is None:
        return HubTimes(received, received, {})
    claimed = aware(claimed)
    if claimed > received + skew:
        return HubTimes(received, received, {TIME_CLAMPED: True, CLAIMED_TIME: claimed.isoformat()})
    if claimed < received - late_after:
        return HubTimes(claimed, received, {LATE_ARRIVAL: True})
    return HubTimes(min(claimed, received), received, {})
