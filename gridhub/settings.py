"""One frozen settings object, read from ``GRIDHUB_*`` environment variables in entrypoints
and passed down. Nothing here connects to anything."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.defaults import (
    ACTION_TIMEOUT,
    EVENTS_MAX_BATCH,
    EVENTS_MAX_EVENT_BYTES,
    MEDIA_MAX_BYTES,
    OPEN311_CONTACT,
    PUBLIC_CACHE_SECONDS,
    SSE_BUFFER,
    SSE_HEARTBEAT,
)
from schemas.topics import TopicNames
from sinks.briefs import DEFAULT_TZ
from streams.config import StreamConfig

DEV_SECRET = "dev-only-insecure-secret"  # noqa: S105 - refused outside dev mode


class Settings(BaseSettings):
    """Every ``GRIDHUB_*`` setting, grouped by the component that reads it; the
    defaults a component also needs on its own are defined beside it and read here."""

    model_config = SettingsConfigDict(env_prefix="GRIDHUB_", frozen=True, extra="ignore")

    # -- the hub ----------------------------------------------------------------------
    env: str = Field(default="dev", description="dev or prod; unsafe defaults refuse prod")
    home: Path = Field(default=Path(".gridhub"), description="runtime state directory")
    rules_dir: Path | None = Field(
        default=None, description="district data (taxonomy, grids, routing); default: demo"
    )
    district_poll_seconds: float = Field(
        default=5.0, gt=0, description="how often worker and gateway look for newly imported data"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="worker and gateway logs: text, or json (one object a line)"
    )
    sla_scale: float = Field(
        default=1.0,
        gt=0,
        description="multiplies every SLA span (respond, resolve, verify); below 1 for a drill",
    )

    # -- Kafka: an external cluster, or the local broker ---------------------------
    kafka_bootstrap: str = Field(
        default="", description="external cluster; empty means start the local broker"
    )
    kafka_port: int = Field(default=9092, description="local broker port")
    kafka_controller_port: int = Field(default=9093, description="local KRaft controller port")
    kafka_version: str = Field(default="4.0.1", description="local broker version")
    kafka_heap: str = Field(default="512m", description="local broker max heap")
    kafka_cache: Path = Field(
        default=Path.home() / ".cache" / "gridhub",
        description="where broker jars are fetched to (outside the repo)",
    )
    topic_prefix: str = Field(default="", description="prefix for every topic name")
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # -- database ----------------------------------------------------------------------
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in home")

    # -- worker ------------------------------------------------------------------------
    app_id: str = Field(default="gridhub", description="Faust app id = consumer group")
    worker_web_port: int = Field(
        default=StreamConfig.web_port, description="worker web/metrics port"
    )
    db_batch_size: int = Field(
        default=StreamConfig.db_batch, ge=1, description="events per DB write batch"
    )
    db_batch_seconds: float = Field(
        default=StreamConfig.db_batch_seconds, gt=0, description="max wait to fill a batch"
    )
    supervision_seconds: float = Field(
        default=StreamConfig.supervision_seconds,
        gt=0,
        description="how often the supervision timer looks for deadlines due (督办)",
    )
    calendar_check_seconds: float = Field(
        default=StreamConfig.calendar_check_seconds,
        gt=0,
        description="how often the worker checks the SLA calendar for a missing schedule",
    )
    briefs_dir: Path | None = Field(default=None, description="daily briefs; default home/briefs")
    brief_tz: str = Field(default=DEFAULT_TZ, description="the district's day boundaries")

    # -- webhooks (sent by the worker, subscribed to through the gateway) ---------
    webhook_subscriptions: dict[str, str] = Field(
        default_factory=dict,
        description='recipient pattern -> URL, e.g. {"duty_office": "https://..."}',
    )
    webhook_secret: SecretStr = Field(default=SecretStr(""), description="HMAC key for webhooks")
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_base_delay: float = Field(default=0.5, ge=0, description="first retry delay, seconds")
    webhook_timeout: float = Field(default=5.0, gt=0)
    webhook_reload_seconds: float = Field(
        default=10.0, gt=0, description="how often the worker re-reads admin webhook subscriptions"
    )

    # -- notification channels beside webhooks (sent by the worker; who gets what: notify.yaml)
    smtp_host: str = Field(default="", description="SMTP server for e-mail; empty: no e-mail")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = Field(default="gridhub@localhost", description="From: of e-mails")
    smtp_starttls: bool = Field(default=False, description="STARTTLS before sending")
    smtp_username: str = Field(default="", description="SMTP login; empty: none")
    smtp_password: SecretStr = Field(default=SecretStr(""))
    sms_url: str = Field(default="", description="SMS provider endpoint; empty: no SMS")
    sms_api_key: SecretStr = Field(default=SecretStr(""), description="SMS provider key")
    sms_sign: str = Field(default="GridHub", description="SMS signature (签名)")
    channel_rate_per_second: float = Field(
        default=1.0, gt=0, description="sends per second per channel (e-mail, robot, SMS)"
    )
    channel_burst: int = Field(default=5, ge=1, description="sends at once per channel")
    channel_max_attempts: int = Field(default=5, ge=1, description="attempts before dead")

    # -- feedback links for reporters (signed by the worker, read by the gateway) --
    feedback_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="signs reporters' feedback links (/f/{token})"
    )
    feedback_link_days: int = Field(
        default=30, ge=1, le=366, description="how long a feedback link works"
    )
    public_url: str = Field(
        default="", description="the hub's public base URL, for links sent to reporters"
    )

    # -- gateway: HTTP, tokens, limits -----------------------------------------------
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_processes: int = Field(
        default=1,
        ge=0,
        description="gateway server processes sharing the port; 0: one per core",
    )
    gateway_shutdown_grace: int = Field(
        default=5, ge=0, description="seconds open requests (SSE) get to finish on shutdown"
    )
    token_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="pepper for token hashes"
    )
    rate_limit_per_second: float = Field(
        default=1000.0, ge=0, description="requests per second per token; 0 disables limits"
    )
    rate_limit_burst: int = Field(default=2000, ge=1, description="requests at once per token")
    action_timeout: float = Field(
        default=ACTION_TIMEOUT,
        gt=0,
        le=60,
        description="seconds a case action waits for the agent's answer",
    )
    public_cache_seconds: float = Field(
        default=PUBLIC_CACHE_SECONDS,
        gt=0,
        description="anonymous public reads are answered from memory this long",
    )
    media_dir: Path | None = Field(default=None, description="uploaded photos; default home/media")
    media_max_bytes: int = Field(default=MEDIA_MAX_BYTES, ge=1, description="largest upload")
    sse_buffer: int = Field(default=SSE_BUFFER, ge=1, description="case events kept for SSE resume")
    sse_heartbeat: float = Field(
        default=SSE_HEARTBEAT, gt=0, description="seconds between SSE pings"
    )

    # -- gateway: other systems (CloudEvents and CAP over HTTP, Open311) ----------
    events_max_batch: int = Field(
        default=EVENTS_MAX_BATCH,
        ge=1,
        le=10_000,
        description="events per CloudEvents batch request",
    )
    events_max_event_bytes: int = Field(
        default=EVENTS_MAX_EVENT_BYTES,
        ge=1024,
        description="largest single event in a batch (JSON bytes)",
    )
    open311_jurisdiction_id: str = Field(
        default="", description="Open311 jurisdiction_id; empty: one jurisdiction, ignored"
    )
    open311_public_url: str = Field(
        default="", description="base URL announced by discovery; empty: the URL called"
    )
    open311_contact: str = Field(
        default=OPEN311_CONTACT, description="Open311 discovery: who to contact"
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env != "dev" and self.token_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("GRIDHUB_TOKEN_SECRET must be set outside dev mode")
        if self.env != "dev" and self.feedback_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("GRIDHUB_FEEDBACK_SECRET must be set outside dev mode")
        return self

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'gridhub.db'}"

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)
