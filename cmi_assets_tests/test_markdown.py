"""One markdown-table writer for every group's metadata and reports."""

import polars as pl

from cmi_assets.markdown import frame_markdown, markdown_cell, markdown_table


def test_cells_round_floats_and_show_nan_and_missing():
    assert [markdown_cell(v) for v in (0.12345, float("nan"), None, 7, "x")] == ["0.1235", "nan", "", "7", "x"]
    assert markdown_cell(0.12345, digits=2) == "0.12"


def test_tables_from_rows_and_frames():
    assert markdown_table(["a", "b"], [(1, 0.5), (None, "z")]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 0.5000 |",
        "|  | z |",
    ]
    frame = pl.DataFrame({"a": [1, None], "b": [0.5, "z"]}, strict=False)
    assert frame_markdown(frame) == markdown_table(["a", "b"], frame.iter_rows())
    assert frame_markdown(pl.DataFrame()) == "_(empty)_"
