"""One frozen settings object, read from ``GRIDHUB_*`` environment variables in entrypoints
and passed down. Nothing here connects to anything."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import TopicNames

DEV_SECRET = "dev-only-insecure-secret"  # noqa: S105 - refused outside dev mode


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDHUB_", frozen=True, extra="ignore")

    env: str = Field(default="dev", description="dev or prod; unsafe defaults refuse prod")
    home: Path = Field(default=Path(".gridhub"), description="runtime state directory")

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

    app_id: str = Field(default="gridhub", description="Faust app id = consumer group")
    worker_web_port: int = Field(default=6066, description="worker web/metrics port")

    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in home")
    db_batch_size: int = Field(default=500, ge=1, description="events per DB write batch")
    db_batch_seconds: float = Field(default=0.2, gt=0, description="max wait to fill a batch")

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    token_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="pepper for token hashes"
    )
    webhook_subscriptions: dict[str, str] = Field(
        default_factory=dict,
        description='recipient pattern -> URL, e.g. {"duty_office": "https://..."}',
    )
    webhook_secret: SecretStr = Field(default=SecretStr(""), description="HMAC key for webhooks")
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_base_delay: float = Field(default=0.5, ge=0, description="first retry delay, seconds")
    webhook_timeout: float = Field(default=5.0, gt=0)
    briefs_dir: Path | None = Field(default=None, description="daily briefs; default home/briefs")
    brief_tz: str = Field(default="Asia/Shanghai", description="the district's day boundaries")
    rules_dir: Path | None = Field(
        default=None, description="district data (taxonomy, grids, routing); default: demo"
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env != "dev" and self.token_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("GRIDHUB_TOKEN_SECRET must be set outside dev mode")
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
