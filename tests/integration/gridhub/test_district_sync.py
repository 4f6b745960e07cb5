"""District data loaded live, on SQLite and PostgreSQL: an import is checked
against the district in force and stored as the next version; a running
process's :class:`DistrictSync` takes it in place (the same ``District`` object
everyone holds) — the categories, the routing rules and the grids alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gridhub.district_sync import DistrictSync, ImportRefused, import_file
from routing.district import District, default_data_dir
from sinks.db import make_engine, upgrade
from sinks.district_loads import DistrictLoads


@pytest.fixture
def engine(db_url: str):
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _taxonomy(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((default_data_dir() / "taxonomy.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_categories_imported_are_taken_in_place_by_a_running_process(engine, tmp_path):
    running = District.load()  # what a worker or gateway holds
    sync = DistrictSync(engine, running)
    assert sync.apply_new() == [] and sync.versions()["taxonomy"] == {"version": 0}

    def add_bicycles(data):
        data["categories"].append(
            {
                "code": "shared_bikes",
                "name_zh": "共享单车乱停放",
                "name_en": "Shared bikes parked badly",
                "kind": "event",
                "default_priority": "P4",
                "public": True,
            }
        )

    record = import_file(
        engine, District.load(), "taxonomy", _taxonomy(tmp_path, add_bicycles), None
    )
    assert record.version == 1 and record.summary["categories"] == 14
    assert running.taxonomy.get("shared_bikes") is None
    assert sync.apply_new() == ["taxonomy"]
    assert running.taxonomy.get("shared_bikes") is not None  # the same object, new data
    assert sync.versions()["taxonomy"]["version"] == 1
    assert sync.apply_new() == []  # nothing newer

    # Importing the same file again is not a new version.
    again = import_file(
        engine, District.load(), "taxonomy", _taxonomy(tmp_path, add_bicycles), None
    )
    assert again.version == 1


def test_an_import_the_district_cannot_take_is_refused_with_the_reason(engine, tmp_path):
    def drop_garbage(data):
        data["categories"] = [c for c in data["categories"] if c["code"] != "garbage"]

    with pytest.raises(ImportRefused) as refused:
        import_file(engine, District.load(), "taxonomy", _taxonomy(tmp_path, drop_garbage), None)
    (problem,) = refused.value.problems
    assert "unknown category 'garbage'" in problem.reason  # a routing rule still names it
    assert DistrictLoads(engine).versions() == {}


def test_routing_rules_imported_route_the_next_case(engine, tmp_path):
    running = District.load()
    before = running.route("garbage", "990101001", "990101001001")
    data = yaml.safe_load((default_data_dir() / "routing.yaml").read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["category"] == "garbage":
            rule["lead"] = "huanbao"
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    import_file(engine, District.load(), "routing", path, None)
    DistrictSync(engine, running).apply_new()
    after = running.route("garbage", "990101001", "990101001001")
    assert before is not None and after is not None
    assert (before.lead, after.lead) == ("chengguan", "huanbao")
