"""Shared fixtures: every test gets its own data folder and Dagster home, so tests
never touch a user's `data/` and can run in any order."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_module(relative_path: str):
    """A Python file of the repository by path: scripts/ is not a package, and test modules
    are not importable by name under --import-mode=importlib."""
    module_name = "cmi_loaded_" + relative_path.removesuffix(".py").replace("/", "_")
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, PROJECT_ROOT / relative_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "walkthrough: the scripted new-user walk-through (cmi demo, dg dev, a landed extract; ~4 min)"
    )


@pytest.fixture(scope="session")
def repo_module():
    """load_module, for tests that share another test module's helpers."""
    return load_module


@pytest.fixture(scope="session")
def walkthrough():
    """scripts/walkthrough.py: its server helpers (free_port, GraphQL, DevServer) serve the UI tests too."""
    return load_module("scripts/walkthrough.py")


@pytest.fixture
def storage_env(tmp_path, monkeypatch):
    """Point CMI_* at a fresh folder; returns the Storage built from it."""
    from cmi_assets.storage import Storage

    data = tmp_path / "data"
    monkeypatch.setenv("CMI_DATA_DIR", str(data))
    monkeypatch.setenv("CMI_LANDING_DIR", str(data / "world" / "landing"))
    monkeypatch.delenv("CMI_QUARANTINE_DIR", raising=False)
    monkeypatch.delenv("CMI_TRUTH_DIR", raising=False)
    monkeypatch.setenv("CMI_PSEUDONYM_KEY", "test-only-key-not-secret")
    return Storage.from_env()
