"""What the worker needs to know and the collaborators it is given, built by the
composition root (``gridhub.bootstrap``) from settings; nothing here connects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from routing.district import District
from schemas.alerts import Alert
from schemas.kafka_security import KafkaSecurity
from schemas.periods import Period
from schemas.topics import TopicNames
from sinks.ports import CaseArchive, CaseSink
from streams.logic.feedback import FeedbackLinks

if TYPE_CHECKING:
    from sinks.channels import ChannelOutbox, ChannelSender
    from sinks.outbox import Outbox
    from sinks.subscriptions import DbSubscriptions
    from sinks.webhooks import WebhookConfig
    from streams.metrics import StreamMetrics


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StreamConfig:
    app_id: str
    bootstrap: str
    topics: TopicNames
    datadir: Path
    partitions: int = 4
    replication: int = 1
    # Faust's own web server (its /table/... views show table data): loopback only
    # by default, and its table and router views off.
    web_port: int = 6066
    web_enabled: bool = True
    web_bind: str = "127.0.0.1"
    # /healthz, /readyz and /metrics on their own port (None: not served).
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - counts and health only; NetworkPolicies restrict it
    kafka: KafkaSecurity = field(default_factory=KafkaSecurity)
    # Batches of the stages that batch by count and time alone: intake and the
    # webhooks (the case agent and the feed's database writer have their own).
    # The windows are short: under load a batch fills while the one before it is
    # handled (the records wait in the stream's buffer), and at a few hundred
    # reports a second a long window would only add to every report's latency.
    stage_batch: int = 1000
    stage_batch_seconds: float = 0.01
    case_batch: int = 1000
    case_batch_seconds: float = 0.01
    db_batch: int = 500
    db_batch_seconds: float = 0.2
    # A database fed from gridhub.case-events by its own agent, besides the
    # projection the case agent writes (streams.agents.writer_agent).
    projection_from_feed: bool = False
    commit_every_seconds: float = 1.0
    session_timeout_seconds: float = 10.0
    producer_linger_seconds: float = 0.002
    merge_window: timedelta = timedelta(hours=48)
    # A closed case leaves the case agent's memory this long after it closed
    # (with an archive to find it again: StreamDeps.archive).
    closed_retention: timedelta = timedelta(hours=1)
    supervision_seconds: float = 30.0
    calendar_check_seconds: float = 3600.0


@dataclass(frozen=True)
class NotificationPorts:
    """The webhook stage's collaborators: the outbox in the database (inbox rows and
    webhook deliveries), the webhook settings and, beside the settings'
    subscriptions, the admin's from the database; and the other channels."""

    outbox: Outbox
    webhooks: WebhookConfig
    subscriptions: DbSubscriptions | None = None
    channels: ChannelPorts | None = None  # e-mail, group robots, SMS (None: none)


@dataclass(frozen=True)
class ChannelPorts:
    """The notification channels beside webhooks: their outbox table and their
    sender; who gets what is the district's notify rules (``district.notify``)."""

    outbox: ChannelOutbox
    sender: ChannelSender
    sweep_seconds: float = 60.0
    stale_after: float = 300.0


class BriefWriter(Protocol):
    """Writes the daily brief of one day: the case figures from the projection
    plus the hotspot alerts given (None: the alerts could not be read)."""

    @property
    def tz(self) -> str:
        """The zone of the brief's day and of its 07:00 schedule."""
        ...

    def write(self, day: date, hotspots: Sequence[Alert] | None, now: datetime) -> list[Path]: ...

    def write_period(
        self, period: Period, hotspots: Sequence[Alert] | None, now: datetime
    ) -> list[Path]:
        """The weekly or monthly brief."""
        ...


@dataclass(frozen=True)
class StreamDeps:
    """Injected collaborators: district rules, the case sink, a clock and, when
    the worker exports metrics, the metrics bundle (stages record only when set).

    ``notifications`` and ``briefs`` are the ports of the webhook stage and the
    daily brief, which write to the database: without them (unit tests of the
    other stages) those two stages are not attached. ``archive`` reads closed
    cases back from the projection: without it they stay in the case agent's
    memory."""

    district: District
    sink: CaseSink
    archive: CaseArchive | None = None
    clock: Callable[[], datetime] = field(default=utc_now)
    metrics: StreamMetrics | None = None
    notifications: NotificationPorts | None = None
    briefs: BriefWriter | None = None
    feedback: FeedbackLinks | None = None  # reporters' feedback links (None: none issued)
