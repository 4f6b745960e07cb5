"""How every GridHub Kafka client authenticates and encrypts: one block, built
from the settings (``GRIDHUB_KAFKA_SECURITY_PROTOCOL``, ``_SASL_*``,
``_SSL_*``) by the composition root and handed to each client — the Faust app,
the gateway's aiokafka producer and consumers, kafka-python's admin and
consumers — in the spirit of quix-streams' ``ConnectionConfig``.

Protocols: ``PLAINTEXT`` (the local broker), ``SSL`` (TLS; mTLS with a client
certificate and key), ``SASL_PLAINTEXT`` or ``SASL_SSL`` (SCRAM-SHA-512 by
default, the mechanism the deployment's KafkaUsers use). The SSL context is
built when a client asks for its settings, never at import.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None  # mTLS: the client's certificate...
    ssl_keyfile: Path | None = None  # ...and its key

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        if self.sasl and not (self.sasl_username and self.sasl_password.get_secret_value()):
            raise ValueError(f"Kafka {self.protocol} needs a SASL username and password")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("a Kafka client certificate needs its key, and the other way round")
        return self

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def authenticated(self) -> bool:
        """Whether the broker learns who the client is (SASL, or a client certificate)."""
        return self.sasl or (self.tls and self.ssl_certfile is not None)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (the CA file, or the system's CAs; the client certificate
        for mTLS), or None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        if self.ssl_certfile is not None and self.ssl_keyfile is not None:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        return context

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``."""
        config: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        if self.tls:
            config["ssl_context"] = self.ssl_context()
        return config

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's ``KafkaAdminClient``/``KafkaConsumer``/
        ``KafkaProducer``."""
        config: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        if self.tls:
            config["ssl_check_hostname"] = True
            if self.ssl_cafile is not None:
                config["ssl_cafile"] = str(self.ssl_cafile)
            if self.ssl_certfile is not None:
                config["ssl_certfile"] = str(self.ssl_certfile)
                config["ssl_keyfile"] = str(self.ssl_keyfile)
        return config
