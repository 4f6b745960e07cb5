"""Build the Faust app and attach the stages. Called by the composition root."""

from __future__ import annotations

import faust

from streams import observability
from streams.agents import (
    case_agent,
    hotspot_agent,
    intake_agent,
    reportup_agent,
    writer_agent,
)
from streams.config import StreamConfig, StreamDeps
from streams.delivery import STALL_SECONDS, GuardedApp, rewind_stalled
from streams.topics import StageTopics, stage_topics


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
        web_enabled=config.web_enabled,
        web_host="127.0.0.1",
        web_port=config.web_port,
        topic_partitions=config.partitions,
        topic_replication_factor=config.replication,
        broker_commit_interval=config.commit_every_seconds,
        # A killed worker's partitions move once its session times out.
        broker_session_timeout=config.session_timeout_seconds,
        broker_heartbeat_interval=config.session_timeout_seconds / 4,
        producer_acks=-1,
        # Every stage sends many small records (outputs and changelogs): let the
        # producer batch them instead of one request per record.
        producer_linger=config.producer_linger_seconds,
        producer_max_batch_size=256 * 1024,
        consumer_auto_offset_reset="earliest",
    )


def register_agents(app: faust.App, config: StreamConfig, deps: StreamDeps) -> StageTopics:
    """Attach the stages of the loop to ``app``: collect → case → projection →
    report-up. Stages that need more than ``deps`` (the webhook sender and the
    daily brief need the database engine) are added by the composition root."""
    topics = stage_topics(app, config)
    intake_agent.register(app, topics, config, deps)
    case_agent.register(app, topics, config, deps)
    hotspot_agent.register(app, topics, config, deps)
    writer_agent.register(app, topics, config, deps)
    reportup_agent.register(app, topics, config, deps)
    # /healthz, /readyz and (with deps.metrics) /metrics on the worker's web port.
    observability.register(app, topics, config, deps)

    async def rewind_dropped_records() -> None:
        await rewind_stalled(app)

    app.timer(STALL_SECONDS / 2, name="gridhub.rewind-stalled")(rewind_dropped_records)
    return topics
