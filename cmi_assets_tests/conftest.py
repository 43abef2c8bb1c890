"""Shared fixtures: every test gets its own data folder and Dagster home, so tests
never touch a user's `data/` and can run in any order."""

from __future__ import annotations

import pytest


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
