"""The boundaries the design draws, checked on the source: only engine/ talks to
SpiffWorkflow, and the engine never depends on Flask."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for p in ROOT.rglob("*.py")
           if not {".venv", "node_modules", "var"} & set(p.relative_to(ROOT).parts)]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_engine_imports_spiffworkflow(path):
    if path.relative_to(ROOT).parts[0] != "engine":
        assert "SpiffWorkflow" not in imported_modules(path)


def test_engine_does_not_import_flask():
    for path in (ROOT / "engine").rglob("*.py"):
        assert not {"flask", "flask_sqlalchemy", "flask_login", "wtforms"} & imported_modules(path), path
