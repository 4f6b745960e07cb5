"""The import contracts of DESIGN.md §4 (``[tool.importlinter]`` in pyproject.toml):
kept by the tree, and broken by a deliberate violation, so the check can fail."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("schemas", "routing", "sinks", "streams", "gateway", "gridhub")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def synthetic_tree(tmp_path: Path, violation: tuple[str, str]) -> Path:
    """Empty packages under the project's names, with the project's contracts and
    one module that imports what it must not (``violation``: module, import)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    section = config["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines.append("root_packages = " + json.dumps(section["root_packages"]))
    lines.append("include_external_packages = true")
    for contract in section["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        for key, value in contract.items():
            lines.append(f"{key} = " + json.dumps(value, ensure_ascii=False))
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    named = {m for c in section["contracts"] for m in c.get("forbidden_modules", [])}
    named |= {m for c in section["contracts"] for m in c.get("source_modules", [])}
    for name in sorted({*PACKAGES, *named} - {n for n in named if "*" in n}):
        package = tmp_path.joinpath(*name.split("."))
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("", encoding="utf-8")
    module, imported = violation
    path = tmp_path / (module.replace(".", "/") + ".py")
    path.write_text(f"import {imported}\n", encoding="utf-8")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported", "contract"),
    [
        ("schemas.leak", "gateway", "Layers"),
        ("streams.runner", "gateway", "Layers"),
        ("streams.logic.decide", "faust", "The pure half of streams"),
        ("routing.rules", "sqlalchemy", "The decisions (schemas, routing) do no I/O"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(
    tmp_path: Path, module: str, imported: str, contract: str
) -> None:
    tree = synthetic_tree(tmp_path, (module, imported))
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout


def test_lint_imports_is_installed() -> None:
    assert shutil.which(str(LINT_IMPORTS)), "import-linter is a dev dependency"
