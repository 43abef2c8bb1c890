"""The demo's printed instructions: the variables `dg dev` needs, and no more."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmi_assets.demo import CFSR_YEAR_VARIABLES, DemoReport, format_report


@pytest.fixture(autouse=True)
def no_cfsr_year_variables(monkeypatch):
    for name in CFSR_YEAR_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def report(tmp_path: Path, key_file: Path | None) -> DemoReport:
    return DemoReport(data_dir=tmp_path, dagster_home=tmp_path / ".dagster_home", world_summary=None,
                      pseudonym_key_file=key_file)


def test_a_key_in_the_data_dir_needs_no_variable_of_its_own(tmp_path):
    demo = report(tmp_path, tmp_path / ".pseudonym_key")
    assert demo.ui_environment() == {"DAGSTER_HOME": str(tmp_path / ".dagster_home"), "CMI_DATA_DIR": str(tmp_path)}
    assert f"secret in {tmp_path / '.pseudonym_key'}" in format_report(demo)


def test_a_key_elsewhere_is_named_for_dg_dev(tmp_path):
    elsewhere = tmp_path / "secrets" / "key"
    demo = report(tmp_path, elsewhere)
    assert demo.ui_environment()["CMI_PSEUDONYM_KEY_FILE"] == str(elsewhere)
    assert f"CMI_PSEUDONYM_KEY_FILE={elsewhere} dg dev" in format_report(demo)


def test_no_key_note_when_the_secret_comes_from_the_environment(tmp_path):
    demo = report(tmp_path, None)
    assert "CMI_PSEUDONYM_KEY_FILE" not in demo.ui_environment()
    assert "HMAC" not in format_report(demo)
