"""The worker's health and metrics on its own small HTTP server
(:class:`MetricsServer`, ``GRIDHUB_WORKER_METRICS_PORT``), apart from Faust's
web server, which serves table data and stays on the loopback interface (or
off) with its table and router views disabled:

- ``GET /healthz``: 200 while the worker runs (503 once it has crashed);
- ``GET /readyz``: 200 once the consumer holds an active assignment of one of
  the hub's topics, 503 before (and while a worker waits for partitions);
- ``GET /metrics``: the :class:`~streams.metrics.StreamMetrics` registry in the
  Prometheus text format (or OpenMetrics, if the scraper asks for it).

Two timers keep the gauges fresh: consumer lag per actively assigned partition
(highwater minus committed offset) and the case census from the case agent's
table. Both run on every worker, each reporting only its active partitions, so
sums across workers are totals.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import faust
import mode
from aiohttp import web
from faust.types import TP
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from sinks.webhooks import Attempt, Outcome, WebhookSender
from streams.config import StreamConfig, StreamDeps
from streams.metrics import StreamMetrics, case_census
from streams.topics import StageTopics

if TYPE_CHECKING:
    from sinks.outbox import Delivery

log = logging.getLogger(__name__)

CASES_TABLE = "cases"  # the case agent's table of CaseRecord values
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
    interval: float = METRICS_SECONDS,
) -> None:
    names = consumed_topics(topics)
    metrics = deps.metrics
    if config.metrics_port is not None:
        server = MetricsServer(
            app,
            names,
            metrics.registry if metrics is not None else None,
            host=config.metrics_host,
            port=config.metrics_port,
        )
        app.add_dependency(server)
    if metrics is None:
        return
    reports_topic = topics.reports.get_topic_name()

    async def lag() -> None:
        try:
            await update_lag(app, metrics, names)
        except Exception as exc:  # metrics must never take the worker down
            log.debug("consumer lag not updated: %s", exc)

    async def census() -> None:
        table: Any = app.tables.get(CASES_TABLE)
        if table is None:
            return
        assigned = active_partitions(app, frozenset({reports_topic}))
        partitions = _partition_count(app, reports_topic) or config.partitions
        metrics.set_case_census(
            case_census(
                list(table.items()),
                deps.clock(),
                active={tp.partition for tp in assigned},
                partitions=partitions,
            )
        )

    app.timer(interval, name="gridhub.metrics.lag")(lag)
    app.timer(interval, name="gridhub.metrics.cases")(census)


def _partition_count(app: faust.App, topic: str) -> int | None:
    try:
        count = app.consumer.topic_partitions(topic)
    except Exception:  # the consumer has no metadata yet
        return None
    return count if isinstance(count, int) and count > 0 else None


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


def health(app: faust.App, names: frozenset[str]) -> tuple[int, dict[str, Any]]:
    """``/healthz``: 200 while the worker runs, 503 once it has crashed."""
    if app.crashed:
        return 503, {"status": "crashed"}
    return 200, {"status": "ok"}


def readiness(app: faust.App, names: frozenset[str]) -> tuple[int, dict[str, Any]]:
    """``/readyz``: 200 once the worker holds a partition of a hub topic."""
    assigned = active_partitions(app, names)
    body = {
        "status": "ready" if assigned else "waiting for partitions",
        "partitions": len(assigned),
    }
    return (200 if assigned else 503), body


class MetricsServer(mode.Service):
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``host:port`` (aiohttp, in the
    worker's loop), started with the app — before table recovery, so probes see a
    live worker while it recovers."""

    def __init__(
        self,
        app: faust.App,
        names: frozenset[str],
        registry: CollectorRegistry | None,
        *,
        host: str,
        port: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.faust_app, self.names, self.registry = app, names, registry
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    def routes(self) -> web.Application:
        application = web.Application()

        async def healthz(request: web.Request) -> web.Response:
            status, body = health(self.faust_app, self.names)
            return web.json_response(body, status=status)

        async def readyz(request: web.Request) -> web.Response:
            status, body = readiness(self.faust_app, self.names)
            return web.json_response(body, status=status)

        async def metrics(request: web.Request) -> web.Response:
            if self.registry is None:
                return web.Response(status=404, text="no metrics in this worker")
            encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
            return web.Response(body=encoder(self.registry), headers={"Content-Type": content_type})

        application.router.add_get("/healthz", healthz)
        application.router.add_get("/readyz", readyz)
        application.router.add_get("/metrics", metrics)
        return application

    async def on_start(self) -> None:
        self._runner = web.AppRunner(self.routes(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("worker health and metrics on http://%s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


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
