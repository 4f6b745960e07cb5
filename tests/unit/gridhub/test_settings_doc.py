"""deploy/README.md's settings reference is generated from the settings object."""

from __future__ import annotations

from pathlib import Path

from gridhub import settings_doc
from gridhub.settings import Settings

README = Path(__file__).resolve().parents[3] / "deploy" / "README.md"


def test_the_readme_settings_table_is_up_to_date() -> None:
    embedded = settings_doc.embedded(README.read_text(encoding="utf-8"))
    assert embedded is not None, "deploy/README.md lost its settings block"
    assert embedded == settings_doc.render(), (
        "deploy/README.md is stale: python -m gridhub.settings_doc --write deploy/README.md"
    )


def test_every_setting_has_a_row() -> None:
    table = settings_doc.render()
    for name in Settings.model_fields:
        assert f"| `GRIDHUB_{name.upper()}` |" in table
    assert "dev-only value, refused unless env=dev" in table  # the token secret's default
    assert str(Path.home()) not in table  # machine-independent defaults


def test_update_rewrites_only_the_block(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(f"# ops\n\n{settings_doc.BEGIN}\nold\n{settings_doc.END}\n\nafter\n")
    assert settings_doc.update(doc) is True
    text = doc.read_text()
    assert text.startswith("# ops\n\n") and text.endswith("\n\nafter\n")
    assert settings_doc.embedded(text) == settings_doc.render()
    assert settings_doc.update(doc) is False
