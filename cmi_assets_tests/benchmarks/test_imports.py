"""The benchmarks and scripts import project names inside functions (so they start fast);
a rename in the package must not leave one of them broken until somebody runs it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = sorted([*REPO.glob("benchmarks/*.py"), *REPO.glob("scripts/*.py")])


def project_imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) of every `from cmi_assets... import name`, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.module, alias.name, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cmi_assets"
        for alias in node.names
    ]


def test_there_are_benchmarks_and_scripts_to_check():
    assert len(FILES) >= 8
    assert any(project_imports(path) for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_project_name_they_import_exists(path):
    missing = []
    for module, name, line in project_imports(path):
        imported = importlib.import_module(module)
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")  # a submodule
            except ModuleNotFoundError:
                missing.append(f"{path.name}:{line}: {module}.{name}")
    assert missing == []
