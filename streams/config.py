"""What the worker needs to know, built by the composition root from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from routing.district import District
from schemas.topics import TopicNames
from sinks.ports import CaseSink

if TYPE_CHECKING:
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
    web_port: int = 6066
    web_enabled: bool = True
    intake_batch: int = 1000
    intake_batch_seconds: float = 0.05
    case_batch: int = 500
    case_batch_seconds: float = 0.02
    db_batch: int = 500
    db_batch_seconds: float = 0.2
    commit_every_seconds: float = 1.0
    session_timeout_seconds: float = 10.0
    producer_linger_seconds: float = 0.005
    merge_window: timedelta = timedelta(hours=48)
    supervision_seconds: float = 30.0


@dataclass(frozen=True)
class StreamDeps:
    """Injected collaborators: district rules, the case sink, a clock and, when
    the worker exports metrics, the metrics bundle (stages record only when set)."""

    district: District
    sink: CaseSink
    clock: Callable[[], datetime] = field(default=utc_now)
    metrics: StreamMetrics | None = None
