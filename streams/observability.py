"""The worker's health and metrics on Faust's web server (``worker_web_port``):

- ``GET /healthz``: 200 while the worker runs (503 once it has crashed);
- ``GET /readyz``: 200 once the consumer holds an active assignment of one of
  the hub's topics, 503 before (and while a worker waits for partitions);
- ``GET /metrics``: the :class:`~streams.metrics.StreamMetrics` registry in the
  Prometheus text format (or OpenMetrics, if the scraper asks for it).

Two timers keep the gauges fresh: consumer lag per actively assigned partition
(highwater minus committed offset) and the census of the cases the case agent
holds. Both run on every worker, each reporting only its active partitions, so
sums across workers are totals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from schemas.cases import CaseSnapshot
from sinks.webhooks import Attempt, Outcome, WebhookSender
from streams.config import StreamConfig, StreamDeps
from streams.metrics import StreamMetrics, case_census
from streams.topics import StageTopics

if TYPE_CHECKING:
    from sinks.outbox import Delivery

log = logging.getLogger(__name__)

METRICS_SECONDS = 15.0
_POSITION_TIMEOUT = 2.0


def consumed_topics(topics: StageTopics) -> frozenset[str]:
    """The topics the stages consume (not changelogs, the DLQ or command results)."""
    return frozenset(
        t.get_topic_name()
        for t in (
            topics.intake,
            topics.reports,
            topics.case_commands,
            topics.case_events,
            topics.alerts,
            topics.notifications,
        )
    )


def active_partitions(app: faust.App, names: frozenset[str]) -> set[TP]:
    try:
        actives: set[TP] = app.assignor.assigned_actives()
    except Exception:  # no assignment yet
        return set()
    return {tp for tp in actives if tp.topic in names}


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    *,
    cases: Callable[[], Iterable[CaseSnapshot]] | None = None,
    interval: float = METRICS_SECONDS,
) -> None:
    """Health pages always; with ``deps.metrics`` the metrics page and its timers
    (the case census from ``cases``: the cases the case agent holds)."""
    names = consumed_topics(topics)
    _health_pages(app, names)
    metrics = deps.metrics
    if metrics is None:
        return
    _metrics_page(app, metrics.registry)

    async def lag() -> None:
        try:
            await update_lag(app, metrics, names)
        except Exception as exc:  # metrics must never take the worker down
            log.debug("consumer lag not updated: %s", exc)

    async def census() -> None:
        if cases is not None:
            metrics.set_case_census(case_census(cases(), deps.clock()))

    app.timer(interval, name="gridhub.metrics.lag")(lag)
    app.timer(interval, name="gridhub.metrics.cases")(census)


async def update_lag(app: faust.App, metrics: StreamMetrics, names: frozenset[str]) -> None:
    """Set ``consumer_lag`` for every active partition and drop the partitions
    this worker no longer holds."""
    assigned = active_partitions(app, names)
    consumer = app.consumer
    committed = app.monitor.tp_committed_offsets or {}
    per_topic: dict[str, int] = dict.fromkeys(names, 0)
    for tp in assigned:
        per_topic[tp.topic] += 1
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        offset = committed.get(tp)
        if offset is None:  # nothing committed here since the assignment
            offset = await asyncio.wait_for(consumer.position(tp), _POSITION_TIMEOUT)
        if offset is not None:
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(highwater - offset, 0))
    held = {(tp.topic, str(tp.partition)) for tp in assigned}
    for labels in _label_sets(metrics.consumer_lag):
        if labels not in held:
            metrics.consumer_lag.remove(*labels)
    for topic, count in per_topic.items():
        metrics.assigned_partitions.labels(topic).set(count)


def _label_sets(gauge: Any) -> list[tuple[str, str]]:
    return [
        (s.labels["topic"], s.labels["partition"])
        for family in gauge.collect()
        for s in family.samples
    ]


def _health_pages(app: faust.App, names: frozenset[str]) -> None:
    @app.page("/healthz")
    async def healthz(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        if app.crashed:
            return view.json({"status": "crashed"}, status=503)
        return view.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        assigned = active_partitions(app, names)
        body = {
            "status": "ready" if assigned else "waiting for partitions",
            "partitions": len(assigned),
        }
        return view.json(body, status=200 if assigned else 503)


def _metrics_page(app: faust.App, registry: CollectorRegistry) -> None:
    @app.page("/metrics")
    async def metrics(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return view.bytes(encoder(registry), headers={"Content-Type": content_type})


@dataclass
class MeteredWebhookSender(WebhookSender):
    """:class:`~sinks.webhooks.WebhookSender` that counts outcomes and failed
    attempts (sinks never import streams, so the counting lives here)."""

    metrics: StreamMetrics | None = None

    async def deliver(self, delivery: Delivery) -> Outcome:
        outcome = await super().deliver(delivery)
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(outcome.value).inc()
        return outcome

    async def attempt(self, delivery: Delivery) -> Attempt:
        result = await super().attempt(delivery)
        if self.metrics is not None and result.outcome is not Outcome.DELIVERED:
            self.metrics.webhook_failures.labels(result.outcome.value).inc()
        return result
