"""``gridhub report``: writes the three brief files for the given day."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gridhub.cli.report import report


def test_report_writes_markdown_html_and_json(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        report, ["--date", "2026-11-25", "--out", str(out), "--no-hotspots"]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["brief-2026-11-25.html", "brief-2026-11-25.json", "brief-2026-11-25.md"]
    assert result.output.splitlines() == [str(out / n) for n in (names[2], names[0], names[1])]
    doc = json.loads((out / "brief-2026-11-25.json").read_text(encoding="utf-8"))
    assert doc["day"] == "2026-11-25"
    assert doc["tz"] == "Asia/Shanghai"
    assert doc["hotspots"] is None


def test_report_refuses_a_malformed_date(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(report, ["--date", "25/11/2026", "--no-hotspots"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output or "%Y-%m-%d" in result.output
