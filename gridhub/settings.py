"""One frozen settings object, read from ``GRIDHUB_*`` environment variables in entrypoints
and passed down. Nothing here connects to anything.

Outside dev (``GRIDHUB_ENV=prod``) unsafe values refuse to start: always, a
placeholder or short secret (``CHANGE-ME``, ``example``..., fewer than 32
characters), an unset ``GRIDHUB_ENV`` inside a container, and Kafka without
authentication on an external cluster; and for each process what it needs
(:meth:`Settings.require`): the gateway a token pepper and a webhook key, the
worker a webhook key. The migration job needs neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
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
from gateway.ratelimit import (
    DEFAULT_SSE_STREAMS,
    DEFAULT_UPLOAD_BYTES_PER_DAY,
    DEFAULT_UPLOAD_FILES_PER_DAY,
)
from schemas.kafka_security import KafkaSecurity, Mechanism
from schemas.kafka_security import Protocol as KafkaProtocol
from schemas.topics import TopicNames
from sinks.briefs import DEFAULT_TZ
from streams.config import StreamConfig

DEV_SECRET = "dev-only-insecure-secret"  # noqa: S105 - refused outside dev mode
MIN_SECRET_LENGTH = 32
# Words that mark a value copied from an example rather than generated.
PLACEHOLDERS = (
    "change-me",
    "changeme",
    "change_me",
    "placeholder",
    "example",
    "replace",
    "secret",
    "password",
    "dev-only",
    "insecure",
    "xxxx",
    "todo",
    "default",
)
# Files and variables that say "this process runs in a container".
CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")
CONTAINER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "container")

Component = Literal["gateway", "worker", "tokens", "webhooks"]


def in_container() -> bool:
    return any(Path(p).exists() for p in CONTAINER_MARKERS) or any(
        os.environ.get(v) for v in CONTAINER_VARIABLES
    )


def secret_problem(name: str, value: str) -> str | None:
    """Why ``value`` is not a secret one may run a hub on, or None."""
    if not value:
        return f"{name} is empty"
    lowered = value.lower()
    word = next((w for w in PLACEHOLDERS if w in lowered), None)
    if word is not None:
        return f"{name} looks like a placeholder (contains {word!r}); generate one"
    if len(value) < MIN_SECRET_LENGTH:
        return f"{name} is shorter than {MIN_SECRET_LENGTH} characters"
    return None


class Settings(BaseSettings):
    """Every ``GRIDHUB_*`` setting, grouped by the component that reads it; the
    defaults a component also needs on its own are defined beside it and read here."""

    model_config = SettingsConfigDict(env_prefix="GRIDHUB_", frozen=True, extra="ignore")

    # -- the hub ----------------------------------------------------------------------
    env: Literal["dev", "prod"] = Field(
        default="dev",
        description="dev or prod; outside dev unsafe values refuse to start (must be set "
        "explicitly in a container)",
    )
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
    kafka_security_protocol: KafkaProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT (local broker only outside dev), SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: Mechanism = Field(default="SCRAM-SHA-512", description="SASL mechanism")
    kafka_sasl_username: str = Field(default="", description="this process's Kafka user")
    kafka_sasl_password: SecretStr = Field(default=SecretStr(""), description="its password")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA of the brokers' certificates (SSL, SASL_SSL)"
    )
    kafka_ssl_certfile: Path | None = Field(default=None, description="mTLS client certificate")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="mTLS client key")
    topic_prefix: str = Field(default="", description="prefix for every topic name")
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # -- database ----------------------------------------------------------------------
    database_url: str = Field(
        default="", description="SQLAlchemy URL (an app role); default SQLite in home"
    )
    migration_database_url: str = Field(
        default="",
        description="the schema owner's URL, for migrations; empty: GRIDHUB_DATABASE_URL",
    )

    # -- worker ------------------------------------------------------------------------
    app_id: str = Field(default="gridhub", description="Faust app id = consumer group")
    worker_processes: int = Field(
        default=1,
        ge=1,
        description="processes of `gridhub worker` (one core each), sharing the partitions",
    )
    worker_web_port: int = Field(
        default=StreamConfig.web_port, description="port of Faust's web server (table views off)"
    )
    worker_web_bind: str = Field(
        default=StreamConfig.web_bind,
        description="address Faust's web server binds; 'off' turns it off",
    )
    worker_metrics_port: int = Field(
        default=9101, description="port of the worker's /metrics, /healthz and /readyz"
    )
    worker_metrics_host: str = Field(
        default=StreamConfig.metrics_host, description="address the worker's metrics port binds"
    )
    db_batch_size: int = Field(
        default=StreamConfig.db_batch, ge=1, description="events per DB write batch"
    )
    db_batch_seconds: float = Field(
        default=StreamConfig.db_batch_seconds, gt=0, description="max wait to fill a batch"
    )
    closed_retention_seconds: float = Field(
        default=StreamConfig.closed_retention.total_seconds(),
        ge=0,
        description="how long a closed case stays in the worker's memory (then the database's)",
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
    webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="key of the webhook secrets (seals the per-subscription secrets; "
        "the settings' subscriptions' secrets derive from it)",
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "hosts webhooks, group robots and the SMS provider may reach though they "
            "resolve to private addresses"
        ),
    )
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
        default=SecretStr(DEV_SECRET),
        description="key of reporters' feedback links (/f/{token}): the worker signs them, "
        "the gateway checks them",
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
    metrics_port: int = Field(default=9100, description="port of the gateway's /metrics")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="proxies whose X-Forwarded-For names the client (per-address limits)",
    )
    gateway_shutdown_grace: int = Field(
        default=5, ge=0, description="seconds open requests (SSE) get to finish on shutdown"
    )
    token_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="pepper for token hashes"
    )
    token_ttl_days: int = Field(default=90, ge=1, description="lifetime of people's tokens")
    rate_limits_enabled: bool = Field(default=True, description="false: no rate limits at all")
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='limits by role, "anonymous" or "failed_auth" over the defaults, '
        'e.g. {"system": "500/second"}',
    )
    rate_limit_storage: str = Field(
        default="memory://", description="where limits are counted (a limits storage URI)"
    )
    rate_limit_share: int = Field(
        default=1, ge=1, description="gateway processes on this host sharing memory:// limits"
    )
    upload_files_per_day: int = Field(default=DEFAULT_UPLOAD_FILES_PER_DAY, ge=1)
    upload_bytes_per_day: int = Field(default=DEFAULT_UPLOAD_BYTES_PER_DAY, ge=1)
    sse_streams_per_principal: int = Field(default=DEFAULT_SSE_STREAMS, ge=1)
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
    def _refuse_unsafe_values(self) -> Settings:
        if "env" not in self.model_fields_set and in_container():
            raise ValueError("GRIDHUB_ENV must be set (dev or prod) in a container")
        if self.env == "dev":
            return self
        # Every secret given is checked here; one a process needs but was not
        # given is refused by require().
        problems = [
            problem
            for field, secret in (
                ("token_secret", self.token_secret),
                ("webhook_secret", self.webhook_secret),
                ("feedback_secret", self.feedback_secret),
                ("kafka_sasl_password", self.kafka_sasl_password),
            )
            if field in self.model_fields_set
            for problem in [secret_problem(f"GRIDHUB_{field.upper()}", secret.get_secret_value())]
            if problem
        ]
        if problems:
            raise ValueError("refusing unsafe settings outside dev: " + "; ".join(problems))
        return self

    def require(self, *components: Component) -> None:
        """Refuse to run ``components`` without what they need outside dev: the
        gateway and the token commands a token pepper, the gateway and the worker
        a webhook key, the feedback links' key (the worker signs them, the gateway
        checks them) and an authenticated Kafka (SASL, or TLS with a client
        certificate) with its credentials. Raises ``ValueError`` naming each."""
        if self.env == "dev":
            return
        needs: dict[str, SecretStr] = {}
        if {"gateway", "tokens"} & set(components):
            needs["GRIDHUB_TOKEN_SECRET"] = self.token_secret
        if {"gateway", "worker", "webhooks"} & set(components):
            needs["GRIDHUB_WEBHOOK_SECRET"] = self.webhook_secret
        if {"gateway", "worker"} & set(components):
            needs["GRIDHUB_FEEDBACK_SECRET"] = self.feedback_secret
        problems = []
        for name, secret in needs.items():
            value = secret.get_secret_value()
            problem = secret_problem(name, "" if value == DEV_SECRET else value)
            if problem:
                problems.append(problem)
        if {"gateway", "worker"} & set(components):
            problems += self._kafka_problems()
        if problems:
            raise ValueError("refusing to start outside dev: " + "; ".join(problems))

    def _kafka_problems(self) -> list[str]:
        try:
            security = self.kafka_security
        except ValidationError as exc:  # e.g. SASL without a user name or password
            return [str(err["msg"]).removeprefix("Value error, ") for err in exc.errors()]
        if not security.authenticated:
            return [
                "Kafka without authentication: set GRIDHUB_KAFKA_SECURITY_PROTOCOL to SASL_SSL "
                "(or SASL_PLAINTEXT, or SSL with a client certificate) and its credentials"
            ]
        return []

    @property
    def kafka_security(self) -> KafkaSecurity:
        """The Kafka security block every client gets."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
        )

    @property
    def migration_url(self) -> str:
        return self.migration_database_url or self.db_url

    @property
    def open311_url(self) -> str:
        """Announced by Open311 discovery: the setting, or this gateway's own address."""
        return self.open311_public_url or (
            f"http://{self.gateway_host}:{self.gateway_port}/open311/v2"
        )

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'gridhub.db'}"

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)
