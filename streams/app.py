"""Build the Faust app and attach the stages. Called by the composition root."""

from __future__ import annotations

from typing import Any

import faust

from schemas.kafka_security import KafkaSecurity
from streams import observability
from streams.agents import (
    brief_agent,
    calendar_agent,
    case_agent,
    intake_agent,
    webhook_agent,
    writer_agent,
)
from streams.config import StreamConfig, StreamDeps
from streams.delivery import STALL_SECONDS, GuardedApp, rewind_stalled
from streams.topics import StageTopics, stage_topics


def credentials(security: KafkaSecurity) -> Any:
    """Faust's broker credentials for the settings' Kafka security block."""
    if security.sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context(),
        )
    if security.tls:
        return faust.SSLCredentials(security.ssl_context())
    return None


def build_app(config: StreamConfig) -> faust.App:
    brokers = ";".join(f"kafka://{host}" for host in config.bootstrap.split(","))
    # Faust on a consumer that never commits over a dropped record and a
    # producer that really flushes (see streams.delivery).
    return GuardedApp(
        config.app_id,
        broker=brokers,
        store="memory://",
        autodiscover=False,
        datadir=str(config.datadir),
        broker_credentials=credentials(config.kafka),
        web_enabled=config.web_enabled,
        web_host="127.0.0.1",
        web_bind=config.web_bind,
        web_port=config.web_port,
        # Nothing here routes requests between workers or serves tables: their
        # views would hand table data to anyone who reaches the port.
        web_tables_enabled=False,
        web_router_enabled=False,
        topic_partitions=config.partitions,
        topic_replication_factor=config.replication,
        broker_commit_interval=config.commit_every_seconds,
        # Commits come from the timer alone: Faust's count trigger (10,000 acks)
        # commits inside the drain loop, which then hands over no record until
        # the producer has flushed; and each commit writes the case agent's
        # coalesced state (fewer commits, fewer changelog records).
        broker_commit_every=1_000_000_000,
        # A killed worker's partitions move once its session times out.
        broker_session_timeout=config.session_timeout_seconds,
        broker_heartbeat_interval=config.session_timeout_seconds / 4,
        producer_acks=-1,
        # Every stage sends many small records (outputs and changelogs): let the
        # producer batch them instead of one request per record.
        producer_linger=config.producer_linger_seconds,
        producer_max_batch_size=256 * 1024,
        consumer_auto_offset_reset="earliest",
        # Faust's repaired Cython fast paths: a stream takes values already in its
        # queue without awaiting the channel (the whole suite runs with them).
        cython_optimizations=True,
        # The in-memory store recovers a partition from its changelog's start
        # whenever it is assigned, standby copy or not: a standby replica only
        # costs every other worker a consumer of this one's changelogs.
        table_standby_replicas=0,
    )


def register_agents(app: faust.App, config: StreamConfig, deps: StreamDeps) -> StageTopics:
    """Attach every stage of the loop to ``app``, in the order of the loop:

    collect (intake) → aggregate, analyse, assign, resolve and report (the case
    agent, which also writes the database projection, counts hotspots and sends
    the alerts and notifications its events raise) → feedback (webhooks) → the
    daily brief. The last two write to the database through ports the
    composition root builds (``deps.notifications``, ``deps.briefs``); without
    them they are left out. With ``config.projection_from_feed`` a DB writer also
    projects ``gridhub.case-events`` through ``deps.sink``. Plus the worker's
    health and metrics pages and the timer that re-reads partitions whose head
    was dropped (``streams.delivery``)."""
    topics = stage_topics(app, config)
    cases = case_agent.CaseTables(app, config)
    # Intake places a CAP Update/Cancel with no area where the case agent's global
    # reference index says its alert is (streams.logic.intake.cap).
    intake_agent.register(app, topics, config, deps, references=cases.reference_place)
    case_agent.register(app, topics, config, deps, tables=cases)
    if config.projection_from_feed:
        writer_agent.register(app, topics, config, deps)
    if deps.notifications is not None:
        webhook_agent.register(app, topics, config, deps)
    if deps.briefs is not None:
        brief_agent.register(app, topics, config, deps)
    # The duty office hears when the SLA calendar runs on a provisional year.
    calendar_agent.register(app, topics, config, deps)
    # /healthz, /readyz and (with deps.metrics) /metrics on the worker's metrics port.
    observability.register(app, topics, config, deps, cases=cases.memory.cases)

    async def rewind_dropped_records() -> None:
        await rewind_stalled(app)

    app.timer(STALL_SECONDS / 2, name="gridhub.rewind-stalled")(rewind_dropped_records)
    return topics
