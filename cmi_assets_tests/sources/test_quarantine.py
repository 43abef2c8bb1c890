from __future__ import annotations

import hashlib

import pytest

from cmi_assets.sources.quarantine import quarantine_extract, quarantined_copies, reason_path
from cmi_assets.sources.spec import load_spec
from cmi_assets.sources.validate import ExtractError, read_extract

FILE = "births_registrations_2011.csv"


def _bad_file(tmp_path, valid_rows, write_extract, bad_dob: str):
    rows = valid_rows[("births", "registrations")]
    rows[1]["child_dob"] = bad_dob
    path = write_extract(tmp_path / "landing" / "births" / FILE, rows)
    with pytest.raises(ExtractError) as caught:
        read_extract(path, load_spec("births").record_types["registrations"])
    return path, caught.value


def test_quarantine_moves_the_file_and_writes_the_reason_without_values(tmp_path, valid_rows, write_extract):
    path, error = _bad_file(tmp_path, valid_rows, write_extract, "1999-99-99")
    content = path.read_bytes()

    target = quarantine_extract(path, tmp_path / "quarantine", "births", error)

    assert not path.exists()
    assert target == tmp_path / "quarantine" / "births" / FILE
    assert target.read_bytes() == content
    reason = reason_path(target).read_text()
    assert f"file: {FILE}" in reason
    assert f"sha256: {hashlib.sha256(content).hexdigest()}" in reason
    assert "line 3\tfield child_dob\trule date\tnot a date in format %Y-%m-%d" in reason
    assert "1999-99-99" not in reason and "Tom" not in reason and "Brown" not in reason


def test_a_second_bad_delivery_never_overwrites_the_first(tmp_path, valid_rows, write_extract):
    first_path, first_error = _bad_file(tmp_path, valid_rows, write_extract, "1999-99-99")
    first_content = first_path.read_bytes()
    first = quarantine_extract(first_path, tmp_path / "quarantine", "births", first_error)
    second_path, second_error = _bad_file(tmp_path, valid_rows, write_extract, "2000-99-99")
    second = quarantine_extract(second_path, tmp_path / "quarantine", "births", second_error)

    assert second != first
    assert second.name == "births_registrations_2011~2.csv"
    assert first.read_bytes() == first_content
    assert reason_path(first).exists() and reason_path(second).exists()
    assert quarantined_copies(tmp_path / "quarantine", "births", FILE) == [first, second]
    assert quarantined_copies(tmp_path / "quarantine", "births", "other.csv") == []
