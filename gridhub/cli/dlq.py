"""``gridhub dlq list`` and ``gridhub dlq redrive``: intake's dead letters, and
sending them back to intake fixed or re-routed (:mod:`gridhub.dlq`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gridhub.settings import Settings


@click.group()
def dlq() -> None:
    """Dead letters of gridhub.intake: list them, send them back."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line")
def list_(as_json: bool) -> None:
    """Every record on gridhub.intake.dlq with its reason."""
    from gridhub.dlq import read

    settings = Settings()
    count = 0
    security = settings.kafka_security.kafka_python()
    for letter in read(settings.bootstrap, settings.topics.intake_dlq, security=security):
        count += 1
        row = letter.summary()
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['partition']}/{row['offset']}  {row['reason']}  {row['value']!r}")
    if not as_json:
        click.echo(f"{count} dead letter(s) on {settings.topics.intake_dlq}")


def _position(text: str) -> tuple[int, int]:
    try:
        partition, offset = text.split("/")
        return int(partition), int(offset)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: expected PARTITION/OFFSET") from exc


@dlq.command()
@click.option("--record", "records", multiple=True, help="PARTITION/OFFSET of a dead letter")
@click.option("--reason-contains", default=None, help="every dead letter whose reason has this")
@click.option("--all", "every", is_flag=True, help="every dead letter")
@click.option(
    "--fix",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="send this file's bytes instead of the value (with exactly one --record)",
)
def redrive(
    records: tuple[str, ...], reason_contains: str | None, every: bool, fix: Path | None
) -> None:
    """Send dead letters back to gridhub.intake (idempotent: same event, same report)."""
    from gridhub.dlq import picker
    from gridhub.dlq import redrive as run_redrive

    positions = [_position(r) for r in records]
    if not (positions or reason_contains or every):
        raise click.UsageError("say which: --record P/O, --reason-contains TEXT or --all")
    if fix is not None and len(positions) != 1:
        raise click.UsageError("--fix goes with exactly one --record")
    fixes = {positions[0]: fix.read_bytes()} if fix is not None else None
    settings = Settings()
    result = run_redrive(
        settings.bootstrap,
        settings.topics.intake_dlq,
        settings.topics.intake,
        picker(positions, reason_contains, every),
        fixes=fixes,
        security=settings.kafka_security.kafka_python(),
    )
    for where in result.sent:
        click.echo(f"redriven {where}")
    click.echo(f"{len(result.sent)} dead letter(s) sent back to {settings.topics.intake}")
