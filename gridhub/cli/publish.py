"""``gridhub publish``: send CloudEvents to the intake topic from a shell (the
:mod:`gridhub.client` API), and print where each one landed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from gridhub.client import Publisher, PublishError, PublishFailed, derived_id, make_event
from gridhub.settings import Settings
from schemas.envelope import CAP_ALERT, INBOUND_TYPES, EnvelopeError


def _read_data(data: str | None, is_xml: bool) -> list[Any]:
    """The data of each event: ``--data`` (JSON text or ``@file``), else stdin
    with one JSON document per line (blank lines skipped)."""
    if data is not None:
        text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
        return [text if is_xml else _json(text, data)]
    if is_xml:
        raise click.UsageError("CAP XML is read from a file: --data @alert.xml")
    return [_json(line, f"stdin line {n}") for n, line in enumerate(sys.stdin, 1) if line.strip()]


def _json(text: str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"{where}: not JSON ({exc})", param_hint="--data") from None


@click.command("publish")
@click.option(
    "--type", "type_", required=True, type=click.Choice(INBOUND_TYPES), help="CloudEvents type"
)
@click.option("--source", required=True, help="CloudEvents source: your system's URI")
@click.option(
    "--data",
    default=None,
    help="JSON text or @FILE (CAP: @alert.xml); default: one JSON document per stdin line",
)
@click.option("--mode", type=click.Choice(["structured", "binary"]), default="structured")
@click.option(
    "--id",
    "event_id",
    default=None,
    help="event id (one event only); default: derived from type, source and data, "
    "so publishing the same data again is recognised as the same event",
)
@click.option("--subject", default=None)
@click.option("--partition-key", default=None, help="Kafka key (default: the source)")
@click.option(
    "--bootstrap", default=None, help="host:port[,...] (default: GRIDHUB_KAFKA_BOOTSTRAP)"
)
@click.option("--topic", default=None, help="default: the hub's intake topic")
@click.option("--linger-ms", default=5, show_default=True, type=click.IntRange(min=0))
@click.option("--batch-size", default=64 * 1024, show_default=True, type=click.IntRange(min=1))
def publish(
    type_: str,
    source: str,
    data: str | None,
    mode: str,
    event_id: str | None,
    subject: str | None,
    partition_key: str | None,
    bootstrap: str | None,
    topic: str | None,
    linger_ms: int,
    batch_size: int,
) -> None:
    """Publish CloudEvents to GridHub and print each delivery (topic, partition, offset)."""
    is_xml = type_ == CAP_ALERT
    payloads = _read_data(data, is_xml)
    if event_id is not None and len(payloads) != 1:
        raise click.UsageError("--id names one event; stdin gave several")
    extensions: dict[str, Any] = {"partitionkey": partition_key} if partition_key else {}
    try:
        events = [
            make_event(
                type_,
                source,
                payload,
                id=event_id or derived_id(type_, source, payload),
                subject=subject,
                **extensions,
            )
            for payload in payloads
        ]
    except EnvelopeError as exc:
        raise click.UsageError(f"invalid event: {exc.reason}") from exc
    settings = Settings()
    try:
        with Publisher(
            bootstrap or settings.bootstrap,
            topic=topic or settings.topics.intake,
            mode="binary" if mode == "binary" else "structured",
            linger_ms=linger_ms,
            batch_size=batch_size,
        ) as publisher:
            delivered = publisher.publish_many(events)
    except PublishFailed as exc:
        for event, result in zip(events, exc.results, strict=True):
            click.echo(_line(event.id, result))
        raise click.ClickException(str(exc)) from exc
    except PublishError as exc:
        raise click.ClickException(str(exc)) from exc
    for event, metadata in zip(events, delivered, strict=True):
        click.echo(_line(event.id, metadata))
    click.echo(f"published {len(events)} event(s) ({mode} mode)")


def _line(event_id: str, result: Any) -> str:
    if isinstance(result, BaseException):
        return f"{event_id}\tFAILED\t{result}"
    return f"{event_id}\t{result.topic}\t{result.partition}\t{result.offset}"
