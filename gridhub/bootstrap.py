"""Build every dependency from the one settings object and hand it down
(cosmicpython's bootstrap). Called only from entrypoints; nothing connects at import."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING

from gridhub.settings import Settings
from routing.district import District
from schemas.policy import scope_problem
from sinks.db import make_engine, upgrade
from sinks.queries import BriefQueries, CaseQueries
from sinks.secretbox import SecretBox
from sinks.tokens import CachedTokens, Revocations, ScopeCheck, TokenStore
from sinks.urls import UrlPolicy
from sinks.writer import CaseProjectionWriter
from streams.config import StreamConfig, StreamDeps

if TYPE_CHECKING:
    import faust
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from gateway.open311.config import Open311Config
    from gridhub.district_sync import DistrictSync
    from streams.config import ChannelPorts


def load_district(settings: Settings) -> District:
    return District.load(settings.rules_dir, sla_scale=settings.sla_scale)


def engine(settings: Settings) -> Engine:
    return make_engine(settings.db_url)


def migrate(settings: Settings) -> None:
    """Migrations to head, as the schema owner (``GRIDHUB_MIGRATION_DATABASE_URL``)
    when it is set. The apps connect as an app role that cannot change the
    schema: for them this is a check that the schema is at head."""
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.migration_url)


def create_hub_topics(settings: Settings) -> list[str]:
    """Every GridHub topic. The public case-event feed is kept forever: the
    database is its projection and ``gridhub replay`` rebuilds from it."""
    from gridhub.topics import create_topics

    names = settings.topics
    return create_topics(
        settings.bootstrap,
        names.all(),
        settings.topic_partitions,
        settings.topic_replication,
        configs={
            names.case_events: {"retention.ms": "-1"},
            # The broker stamps each inbound record: SLA clocks and merge windows
            # run on the hub's time, whatever a producer puts in its records.
            names.intake: {"message.timestamp.type": "LogAppendTime"},
            # Every revocation, forever; a gateway reads them all when it starts.
            names.token_revocations: {"cleanup.policy": "compact", "retention.ms": "-1"},
        },
        client_config=settings.kafka_security.kafka_python(),
    )


def changelog_topics(app: faust.App) -> dict[str, tuple[int, dict[str, str]]]:
    """Every table changelog of ``app`` with its partitions and settings, as
    Faust itself would declare them."""
    found: dict[str, tuple[int, dict[str, str]]] = {}
    for table in app.tables.values():
        topic = table.changelog_topic
        flags = [f for f, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on]
        config = {"cleanup.policy": ",".join(flags)} if flags else {}
        if topic.retention:
            config["retention.ms"] = str(int(topic.retention * 1000))
        partitions = int(topic.partitions or table.partitions or app.conf.topic_partitions)
        found[topic.get_topic_name()] = (partitions, config)
    return found


def create_changelog_topics(settings: Settings, app: faust.App) -> list[str]:
    """Create the table changelogs before the worker starts: a worker that
    creates them itself can join its group before their partitions show in its
    metadata, and every table write then fails (and Faust skips the event) until
    the next metadata refresh."""
    from gridhub.topics import create_topics

    created: list[str] = []
    for name, (partitions, config) in changelog_topics(app).items():
        created += create_topics(
            settings.bootstrap,
            [name],
            partitions,
            settings.topic_replication,
            configs={name: config},
            client_config=settings.kafka_security.kafka_python(),
        )
    return created


def scope_check(settings: Settings) -> ScopeCheck:
    """The check of a new principal's scope against the district (schemas.policy):
    the district's files with the grids and rules imported since (``gridhub grids
    import``), read when the first scope is checked."""
    district: list[District] = []

    def current() -> District:
        if not district:
            loaded = load_district(settings)
            try:
                district_sync(settings, engine(settings), loaded).apply_new()
            except Exception as exc:  # no database (yet): the files alone
                logging.getLogger(__name__).warning("imported district data not read: %s", exc)
            district.append(loaded)
        return district[0]

    def check(role: str, scope: str | None) -> None:
        now = current()
        problem = scope_problem(
            role,
            scope,
            grids=now.grids.codes(),
            departments=frozenset(now.departments),
            dev=settings.env == "dev",
        )
        if problem is not None:
            raise ValueError(problem)

    return check


def token_store(settings: Settings) -> TokenStore:
    return TokenStore(
        engine(settings),
        settings.token_secret.get_secret_value(),
        person_ttl=timedelta(days=settings.token_ttl_days),
        scope_check=scope_check(settings),
    )


def rate_limit_share(settings: Settings) -> int:
    """How many gateway processes count limits apart: with the per-process
    ``memory://`` storage, each enforces this share of every limit, so the host as
    a whole never lets more through (a shared storage counts exactly: 1)."""
    if settings.rate_limit_storage != "memory://":
        return settings.rate_limit_share
    return max(settings.rate_limit_share, gateway_processes(settings))


def url_policy(settings: Settings) -> UrlPolicy:
    """Where webhooks, group robots and the SMS provider may be sent to: anywhere in
    dev; https to public addresses otherwise."""
    return UrlPolicy(
        dev=settings.env == "dev", allowed_hosts=frozenset(settings.webhook_allowed_hosts)
    )


def secret_box(settings: Settings) -> SecretBox | None:
    key = settings.webhook_secret.get_secret_value()
    return SecretBox(key) if key else None


def stream_config(settings: Settings, index: int = 0) -> StreamConfig:
    """The worker's configuration; ``index`` tells the processes of one
    ``gridhub worker --processes N`` apart (each its own runtime directory)."""
    return StreamConfig(
        app_id=settings.app_id,
        bootstrap=settings.bootstrap,
        topics=settings.topics,
        datadir=settings.home / ("worker" if index == 0 else f"worker-{index}"),
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        web_port=settings.worker_web_port,
        web_enabled=settings.worker_web_bind != "off",
        web_bind=settings.worker_web_bind if settings.worker_web_bind != "off" else "127.0.0.1",
        metrics_port=settings.worker_metrics_port,
        metrics_host=settings.worker_metrics_host,
        kafka=settings.kafka_security,
        db_batch=settings.db_batch_size,
        db_batch_seconds=settings.db_batch_seconds,
        closed_retention=timedelta(seconds=settings.closed_retention_seconds),
        supervision_seconds=settings.supervision_seconds,
        calendar_check_seconds=settings.calendar_check_seconds,
    )


def worker_app(settings: Settings, index: int = 0) -> faust.App:
    """The worker with every stage; the webhook and brief stages get their ports
    on the database here (``streams`` never builds an engine). Applies the
    worker's garbage-collector policy to this process (``streams.gcpolicy``):
    call it from the worker's entry point only."""
    from sinks.outbox import Outbox
    from sinks.subscriptions import DbSubscriptions
    from sinks.webhooks import WebhookConfig
    from streams import gcpolicy
    from streams.agents.brief_agent import DatabaseBriefs, brief_names
    from streams.app import build_app, register_agents
    from streams.config import NotificationPorts
    from streams.logic.feedback import FeedbackLinks
    from streams.metrics import StreamMetrics, process_registry

    config = stream_config(settings, index)
    db = engine(settings)
    district = load_district(settings)
    settings.require("worker")
    webhooks = WebhookConfig(
        subscriptions=dict(settings.webhook_subscriptions),
        secret=settings.webhook_secret.get_secret_value(),
        policy=url_policy(settings),
        max_attempts=settings.webhook_max_attempts,
        base_delay=settings.webhook_base_delay,
        timeout=settings.webhook_timeout,
    )
    metrics = StreamMetrics.create(process_registry())  # on :worker_metrics_port/metrics
    projection = CaseProjectionWriter(db)
    deps = StreamDeps(
        district=district,
        sink=projection,
        archive=projection,  # closed cases leave the worker's memory, found here again
        metrics=metrics,
        notifications=NotificationPorts(
            outbox=Outbox(db),
            webhooks=webhooks,
            # the admin's subscriptions, from the database, beside the settings'
            subscriptions=DbSubscriptions(
                db, box=secret_box(settings), reload_seconds=settings.webhook_reload_seconds
            ),
            channels=channel_ports(settings, db),
        ),
        briefs=DatabaseBriefs(
            db,
            out_dir=settings.briefs_dir or settings.home / "briefs",
            names=brief_names(district),
            tz=settings.brief_tz,
        ),
        feedback=FeedbackLinks(
            secret=settings.feedback_secret.get_secret_value(),
            ttl=timedelta(days=settings.feedback_link_days),
            base_url=settings.public_url,
        ),
    )
    app = build_app(config)
    register_agents(app, config, deps)
    follow_district_data(app, district_sync(settings, db, district))
    gcpolicy.install(app, gcpolicy.GcPolicy(), metrics.registry)
    return app


def district_sync(settings: Settings, db: Engine, district: District) -> DistrictSync:
    """The district's imported data, applied now and polled for from then on."""
    from gridhub.district_sync import DistrictSync

    return DistrictSync(db, district, interval=settings.district_poll_seconds)


def follow_district_data(app: faust.App, sync: DistrictSync) -> None:
    """The worker takes newly imported grids, rules and categories without a restart."""
    import asyncio
    import logging

    try:
        sync.apply_new()
    except Exception as exc:  # no database yet: the timer tries again
        logging.getLogger(__name__).warning("district data not read: %s", exc)

    async def poll() -> None:
        try:
            await asyncio.to_thread(sync.apply_new)
        except Exception as exc:
            logging.getLogger(__name__).warning("district data poll failed: %s", exc)

    app.timer(sync.interval, name="gridhub.district-sync")(poll)


def channel_ports(settings: Settings, db: Engine) -> ChannelPorts:
    """E-mail when an SMTP host is set, SMS when a provider is, group robots always
    (their URLs are in the notify rules)."""
    from sinks.channels import Channel, ChannelLimits, ChannelOutbox, ChannelSender
    from sinks.email import SmtpChannel
    from sinks.robots import RobotChannel
    from sinks.sms import HttpSmsProvider, ReportContacts, SmsChannel
    from streams.config import ChannelPorts

    channels: dict[str, Channel] = {"robot": RobotChannel(policy=url_policy(settings))}
    if settings.smtp_host:
        channels["email"] = SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_sender,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
        )
    if settings.sms_url:
        # The provider's URL is checked like a webhook's (https, public) outside dev.
        url_policy(settings).check(settings.sms_url)
        provider = HttpSmsProvider(
            settings.sms_url, settings.sms_api_key.get_secret_value(), sign=settings.sms_sign
        )
        channels["sms"] = SmsChannel(provider, ReportContacts(db))
    limits = ChannelLimits(
        rate_per_second=settings.channel_rate_per_second,
        burst=settings.channel_burst,
        max_attempts=settings.channel_max_attempts,
    )
    outbox = ChannelOutbox(db)
    sender = ChannelSender(channels, outbox, {name: limits for name in channels})
    return ChannelPorts(outbox=outbox, sender=sender)


def gateway_processes(settings: Settings, given: int | None = None) -> int:
    """How many gateway server processes to run: ``given``, else the setting; 0 means
    one per core."""
    count = settings.gateway_processes if given is None else given
    return count or os.cpu_count() or 1


def gateway_server() -> FastAPI:
    """The app of one gateway server process, from the ``GRIDHUB_*`` environment
    (each of several server processes builds its own: uvicorn's app factory)."""
    return gateway_app(Settings(), freeze_heap=True)


def gateway_app(settings: Settings, *, freeze_heap: bool = False) -> FastAPI:
    from gateway.app import create_app
    from gateway.deps import GatewayDeps
    from gateway.feed import KafkaCaseFeed
    from gateway.media import MediaStore
    from gateway.publiccache import TtlCache
    from gateway.publisher import KafkaPublisher
    from gateway.ratelimit import LimitPolicy, RateLimits
    from gateway.results import KafkaCommandResults
    from gateway.revocations import DatabaseSweep, KafkaRevocations
    from sinks.audit import AuditLog
    from sinks.feedback import FeedbackStore
    from sinks.media import MediaIndex
    from sinks.open311 import ServiceRequestQueries
    from sinks.outbox import Outbox
    from sinks.public import PublicFigures
    from sinks.redelivery import Redelivery
    from sinks.stats import CaseStats
    from sinks.subscriptions import SubscriptionStore

    settings.require("gateway")
    db = engine(settings)
    kafka = settings.kafka_security.aiokafka()
    store = token_store(settings)
    revocations = Revocations()
    policy = LimitPolicy(
        limits=dict(settings.rate_limits),
        upload_files_per_day=settings.upload_files_per_day,
        upload_bytes_per_day=settings.upload_bytes_per_day,
        sse_streams=settings.sse_streams_per_principal,
    )
    district = load_district(settings)
    deps = GatewayDeps(
        queries=CaseQueries(db),
        # Remembered tokens, kept honest by the revocation followers below.
        tokens=CachedTokens(store, revocations),
        district=district,
        publisher=KafkaPublisher(
            settings.bootstrap, client_id="gridhub-gateway", extra_config=kafka
        ),
        topics=settings.topics,
        command_results=KafkaCommandResults(
            settings.bootstrap, settings.topics.command_results, extra_config=kafka
        ),
        case_feed=KafkaCaseFeed(
            settings.bootstrap,
            settings.topics.case_events,
            buffer=settings.sse_buffer,
            extra_config=kafka,
        ),
        revocation_followers=(
            KafkaRevocations(
                settings.bootstrap,
                settings.topics.token_revocations,
                revocations,
                extra_config=kafka,
            ),
            DatabaseSweep(store, revocations),
        ),
        media=MediaStore(settings.media_dir or settings.home / "media", settings.media_max_bytes),
        media_index=MediaIndex(db),
        stats=CaseStats(db),
        briefs=BriefQueries(db),
        service_requests=ServiceRequestQueries(db),
        subscriptions=SubscriptionStore(db, secret_box(settings), url_policy(settings)),
        public=PublicFigures(db, lambda: [c.code for c in district.taxonomy if c.public]),
        feedback=FeedbackStore(db),
        deliveries=Redelivery(db),
        district_sync=district_sync(settings, db, district),
        inbox_marker=Outbox(db),
        feedback_secret=settings.feedback_secret.get_secret_value(),
        audit=AuditLog(db),
        rate_limits=(
            RateLimits(policy, settings.rate_limit_storage, rate_limit_share(settings))
            if settings.rate_limits_enabled
            else None
        ),
        metrics_address=(settings.gateway_host, settings.metrics_port),
        webhook_signing=bool(settings.webhook_secret.get_secret_value()),
        webhook_policy=url_policy(settings),
        docs=settings.env == "dev",
        open311=open311_config(settings),
        max_batch_events=settings.events_max_batch,
        max_event_bytes=settings.events_max_event_bytes,
        action_timeout=settings.action_timeout,
        sse_heartbeat=settings.sse_heartbeat,
        tz=settings.brief_tz,
        public_cache=TtlCache(settings.public_cache_seconds),
    )
    return create_app(deps, freeze_heap=freeze_heap)


def open311_config(settings: Settings) -> Open311Config:
    """Open311 discovery: its changeset is when the taxonomy (our services) last changed."""
    from datetime import UTC, datetime

    from gateway.open311.config import Open311Config
    from routing.district import TAXONOMY_FILE, default_data_dir

    taxonomy = (settings.rules_dir or default_data_dir()) / TAXONOMY_FILE
    changed = datetime.fromtimestamp(taxonomy.stat().st_mtime, UTC) if taxonomy.exists() else None
    return Open311Config(
        jurisdiction_id=settings.open311_jurisdiction_id,
        contact=settings.open311_contact,
        changeset=changed.isoformat(timespec="seconds").replace("+00:00", "Z")
        if changed
        else Open311Config.changeset,
        endpoint_type="production" if settings.env == "prod" else "test",
        public_url=settings.open311_url,
        tz=settings.brief_tz,
    )
