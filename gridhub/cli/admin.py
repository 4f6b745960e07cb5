"""``gridhub db upgrade``, ``topics create`` and ``schemas export``: set up a hub's
database and topics, and write the JSON Schemas of its public contracts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gridhub import bootstrap
from gridhub.settings import Settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations up to head."""
    from sqlalchemy.engine import make_url

    settings = Settings()
    bootstrap.migrate(settings)
    shown = make_url(settings.migration_url).render_as_string(hide_password=True)
    click.echo(f"database at head: {shown}")


@click.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create every GridHub topic (existing ones are left as they are)."""
    created = bootstrap.create_hub_topics(Settings())
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@click.group()
def schemas() -> None:
    """JSON Schemas of the public contracts."""


@schemas.command("export")
@click.option("--out", type=click.Path(path_type=Path), default=Path("schemas-export"))
def schemas_export(out: Path) -> None:
    """Write one JSON Schema file per contract into OUT."""
    from schemas.export import json_schemas

    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / f"{name}.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    click.echo(f"wrote {len(json_schemas())} schemas to {out}")
