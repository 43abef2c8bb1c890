"""The feasibility report builder: sections in study order, tables rendered the same in
markdown and HTML, text escaped."""

from __future__ import annotations

import polars as pl

from cmi_assets.prm.report import feasibility_sections, frame_markdown, report_html, report_markdown


def test_sections_follow_the_study_order_and_render_both_ways():
    tables = {
        "table2": pl.DataFrame({"threshold": ["Top 1%"], "ppv": [0.5]}),
        "table1": pl.DataFrame({"linkage_level": ["conservative"], "auc_validation": [0.71234]}),
    }
    sections = feasibility_sections(tables, notes=["too few <positives>"], model_card="# Model card\ntext")
    assert [s.title.split(":")[0] for s in sections] == ["Table 1", "Table 2", "Notes", "Model card"]
    md = report_markdown("PRM feasibility", sections)
    assert "| linkage_level | auc_validation |" in md and "0.712" in md
    assert md.index("Table 1") < md.index("Table 2")
    assert "### Model card" in md  # the card's headings sit below the section's
    page = report_html("PRM feasibility", sections)
    assert page.startswith("<!DOCTYPE html>") and "<td>0.712</td>" in page
    assert "&lt;positives&gt;" in page and "<positives>" not in page


def test_frame_markdown_handles_nulls_and_nan():
    frame = pl.DataFrame({"a": [1.0, float("nan"), None]})
    assert frame_markdown(frame).splitlines()[2:] == ["| 1.000 |", "| nan |", "|  |"]
