"""One submission year's Child File beside the previous year and the stored table
(cfsr/child_file_year.py); staged_year itself runs in the asset tests on a real DuckDB file."""

from __future__ import annotations

import polars as pl

from cmi_assets.cfsr.child_file import extracts_fingerprint
from cmi_assets.cfsr.child_file_year import ChildFileYear


def _frame(files: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "staterr": ["OK", "AK", "OK"],
            "_extract_file": [files["OK"], files["AK"], files["OK"]],
            "_extract_sha256": [f"sha-{files['OK']}", f"sha-{files['AK']}", f"sha-{files['OK']}"],
        }
    )


def test_states_missing_since_last_year_and_an_unchanged_year():
    frame = _frame({"OK": "ok_2020.csv", "AK": "ak_2020.csv"})
    year = ChildFileYear(fy=2020, frame=frame, previous_states=["AK", "OK", "WY"], stored_rows=3)
    assert year.delivered and year.states == ["AK", "OK"] and year.missing_states == ["WY"]
    assert year.fingerprint == extracts_fingerprint(frame)
    assert year.unchanged_since(extracts_fingerprint(frame))
    assert not year.unchanged_since(None)  # never stored with a fingerprint
    changed = extracts_fingerprint(_frame({"OK": "ok_2020_v2.csv", "AK": "ak_2020.csv"}))
    assert changed != year.fingerprint and not year.unchanged_since(changed)
    # same extracts, but the stored rows differ (a partial write): store again
    partial = ChildFileYear(fy=2020, frame=frame, previous_states=[], stored_rows=2)
    assert not partial.unchanged_since(extracts_fingerprint(frame))


def test_an_undelivered_year():
    empty = _frame({"OK": "x", "AK": "y"}).clear()
    year = ChildFileYear(fy=2021, frame=empty, previous_states=["OK"], stored_rows=0)
    assert not year.delivered and year.states == [] and year.missing_states == ["OK"]
