"""``gridhub grids import FILE.geojson`` and ``gridhub rules import KIND FILE``: load
the district's own data while the hub runs (:mod:`gridhub.district_sync`). A
refused file prints every problem, each with its feature and reason, and exits 1;
a loaded one prints its version, which ``GET /api/v1/meta`` then shows."""

from __future__ import annotations

from pathlib import Path

import click

from gridhub import bootstrap
from gridhub.settings import Settings

FileArg = click.Path(exists=True, dir_okay=False, path_type=Path)


def _import(kind: str, path: Path, overlap_tolerance: float | None = None) -> None:
    from gridhub.district_sync import DistrictSync, ImportRefused, import_file

    settings = Settings()
    bootstrap.migrate(settings)
    db = bootstrap.engine(settings)
    district = bootstrap.load_district(settings)
    DistrictSync(db, district).apply_new()  # check against what is in force now
    try:
        record = import_file(db, district, kind, path, settings.rules_dir, overlap_tolerance)
    except ImportRefused as refused:
        for problem in refused.problems:
            click.echo(f"refused: {problem}", err=True)
        raise SystemExit(1) from None
    summary = ", ".join(f"{k} {v}" for k, v in record.summary.items())
    click.echo(f"{kind} version {record.version} loaded from {record.filename} ({summary})")
    click.echo("workers and gateways take it within a few seconds, without a restart")


@click.group()
def grids() -> None:
    """The district's grid polygons."""


@grids.command("import")
@click.argument("path", type=FileArg)
@click.option(
    "--overlap-tolerance",
    type=float,
    default=None,
    help="largest overlap of two grids, as a share of the smaller one (default 0.01)",
)
def grids_import(path: Path, overlap_tolerance: float | None) -> None:
    """Check a GeoJSON FeatureCollection of grids and load it as the next version."""
    _import("grids", path, overlap_tolerance)


@click.group()
def rules() -> None:
    """The district's routing rules and categories."""


@rules.command("import")
@click.argument("kind", type=click.Choice(["routing", "taxonomy"]))
@click.argument("path", type=FileArg)
def rules_import(kind: str, path: Path) -> None:
    """Check routing.yaml or taxonomy.yaml against the district and load it."""
    _import(kind, path)
