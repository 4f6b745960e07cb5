"""Create (and, for tests, delete) GridHub's Kafka topics with kafka-python's admin client.

Topic names come from :class:`schemas.topics.TopicNames`. Both functions are idempotent:
topics that already exist (or are already gone) are fine.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class TopicError(RuntimeError):
    """The cluster refused to create or delete a topic, or it did not show up in time."""


def _unique(names: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(names))
    for name in out:
        if not _TOPIC_RE.match(name) or name in (".", ".."):
            raise ValueError(f"invalid Kafka topic name: {name!r}")
    return out


def _admin(bootstrap: str, timeout: float, client_config: Mapping[str, Any] | None) -> Any:
    from kafka.admin import KafkaAdminClient

    ms = max(1000, int(timeout * 1000))
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "gridhub-topics",
        "request_timeout_ms": ms,
        "bootstrap_timeout_ms": ms,
    }
    config.update(client_config or {})
    return KafkaAdminClient(**config)


def _remaining_ms(deadline: float) -> int:
    return max(1000, int((deadline - time.monotonic()) * 1000))


def create_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    replication: int,
    timeout: float = 30.0,
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    client_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet and wait until all ``names`` are usable.

    ``configs`` maps a topic name to topic-level settings (e.g. ``{"retention.ms": "-1"}``),
    applied only when the topic is created. ``client_config`` is passed to
    ``KafkaAdminClient`` (SASL/TLS settings for an external cluster).

    Returns the names created by this call, in the order given. Existing topics are left
    alone; a partition count different from ``partitions`` is logged as a warning.
    """
    import kafka.errors as errors
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    if partitions < 1 or replication < 1:
        raise ValueError("partitions and replication must be >= 1")
    wanted = _unique(names)
    if not wanted:
        return []
    deadline = time.monotonic() + timeout
    configs = configs or {}
    admin = _admin(bootstrap, timeout, client_config)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        created: list[str] = []
        if missing:
            response = admin.create_topics(
                {
                    name: {
                        "num_partitions": partitions,
                        "replication_factor": replication,
                        "configs": dict(configs.get(name, {})),
                    }
                    for name in missing
                },
                timeout_ms=_remaining_ms(deadline),
                raise_errors=False,
            )
            ok = {t["name"] for t in response["topics"] if t["error_code"] == 0}
            for topic in response["topics"]:
                code = topic["error_code"]
                if code in (0, errors.TopicAlreadyExistsError.errno):
                    continue  # created, or created concurrently by someone else
                raise TopicError(
                    f"creating topic {topic['name']!r} failed: "
                    f"{errors.for_code(code).__name__}: {topic.get('error_message') or ''}"
                )
            created = [n for n in missing if n in ok]
        try:
            admin.wait_for_topics(wanted, timeout_ms=_remaining_ms(deadline))
        except errors.KafkaTimeoutError as exc:
            raise TopicError(str(exc)) from exc
        described = admin.describe_topics(wanted)
        # Metadata can name a leader before that broker serves the partition (KRaft
        # propagates asynchronously): a ListOffsets answered by every new partition's leader
        # means producers will not start with NOT_LEADER_OR_FOLLOWER retries.
        specs = {
            TopicPartition(t["name"], p["partition_index"]): OffsetSpec.LATEST
            for t in described
            if t["name"] in created
            for p in t.get("partitions") or []
        }
        if specs:
            try:
                admin.list_partition_offsets(specs, timeout_ms=_remaining_ms(deadline))
            except errors.KafkaError as exc:
                raise TopicError(f"new topics not served by their leaders: {exc}") from exc
        for topic in described:
            count = len(topic.get("partitions") or [])
            if count != partitions:
                log.warning(
                    "topic %s has %d partitions, not %d (left as it is)",
                    topic["name"],
                    count,
                    partitions,
                )
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()


def delete_topics(
    bootstrap: str,
    names: list[str],
    timeout: float = 30.0,
    *,
    client_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Delete those of ``names`` that exist and wait until they are gone from the metadata.

    Returns the names deleted by this call."""
    import kafka.errors as errors

    wanted = _unique(names)
    if not wanted:
        return []
    deadline = time.monotonic() + timeout
    admin = _admin(bootstrap, timeout, client_config)
    try:
        present = [n for n in wanted if n in set(admin.list_topics())]
        if not present:
            return []
        response = admin.delete_topics(
            present, timeout_ms=_remaining_ms(deadline), raise_errors=False
        )
        deleted: list[str] = []
        for topic in response["topics"]:
            code = topic["error_code"]
            if code == 0:
                deleted.append(topic["name"])
            elif code != errors.UnknownTopicOrPartitionError.errno:
                raise TopicError(
                    f"deleting topic {topic['name']!r} failed: {errors.for_code(code).__name__}"
                )
        while set(present) & set(admin.list_topics()):
            if time.monotonic() >= deadline:
                raise TopicError(f"topics still listed after {timeout:.0f}s: {present}")
            time.sleep(0.1)
        return [n for n in present if n in deleted]
    finally:
        admin.close()
