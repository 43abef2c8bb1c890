"""The feasibility report builder: sections in study order, tables rendered the same in
markdown and HTML, text escaped; the commentary on what changed since the last model."""

from __future__ import annotations

import polars as pl

from cmi_assets.prm.report import (
    change_commentary,
    feasibility_sections,
    frame_markdown,
    in_report_order,
    model_summary,
    report_html,
    report_markdown,
    transpose_for_display,
)


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


# --- what changed since the last model ---------------------------------------------------------


def _document(cohort: str, variables: list[str], auc: float, gap: float | None, children: int, positives: int) -> dict:
    metrics = {"auc_validation": auc, "calibration_slope": 0.97}
    if gap is not None:
        metrics["oracle_gap_validation"] = gap
    return {
        "training_cohort": cohort,
        "variables": [{"name": v} for v in variables],
        "validation_metrics": metrics,
        "sample_sizes": {"population": children, "population_positives": positives},
    }


def test_commentary_compares_the_current_model_with_the_previous_one():
    previous = model_summary(
        _document("2011", ["benefit", "sibling_cp", "mother_age"], 0.801, 0.030, 5200, 140),
        "aaa111",
        {
            "scored_birth_year": 2008,
            "share_referred": 0.05,
            "ppv": 0.28,
            "sensitivity": 0.30,
            "top_share_by_group": {"ethnicity_aian": 0.418, "high_deprivation": 0.60, "ethnicity_white": 0.40},
        },
    )
    current = model_summary(
        _document("2012", ["benefit", "sibling_cp", "parent_cp"], 0.812, 0.021, 5400, 151),
        "bbb222",
        {
            "scored_birth_year": 2009,
            "share_referred": 0.05,
            "ppv": 0.301,
            "sensitivity": 0.31,
            "top_share_by_group": {"ethnicity_aian": 0.45, "high_deprivation": 0.59, "ethnicity_white": 0.37},
        },
    )
    lines = change_commentary(current, previous)
    assert lines[0] == "Model bbb222 replaces model aaa111."
    assert lines[1] == "Trained on cohort(s) 2012 (was 2011): 5,400 children, 151 with the outcome (was 5,200 and 140)."
    assert lines[2] == "Variables entered: parent_cp; dropped: mother_age (3 selected now, 3 before)."
    assert lines[3] == (
        "Validation AUC 0.812 (was 0.801, +0.011); gap to the oracle AUC on the same children 0.021 "
        "(was 0.030, -0.009); calibration slope 0.97 (was 0.97, +0.00)."
    )
    assert lines[4] == (
        "At the top 5% of the scored cohort 2009, was cohort 2008: PPV 30.1% (was 28.0%, +2.1 points); "
        "sensitivity 31.0% (was 30.0%, +1.0 points)."
    )
    # largest absolute shifts first: AIAN +3.2, white -3.0, deprivation -1.0
    assert lines[5] == (
        "Largest shifts in group shares of the top-scored children: ethnicity_aian 45.0% (was 41.8%, +3.2 points); "
        "ethnicity_white 37.0% (was 40.0%, -3.0 points); high_deprivation 59.0% (was 60.0%, -1.0 points)."
    )


def test_commentary_for_a_first_model_an_unchanged_model_and_missing_measures():
    first = model_summary(_document("2012", ["benefit"], 0.8, None, 100, 10), "ccc333")
    assert change_commentary(first, None) == ["Model ccc333 is the first model: there is nothing to compare with yet."]
    assert "unchanged" in change_commentary(first, first)[0]
    older = model_summary(_document("2012", ["benefit"], 0.7, None, 100, 10), "ddd444")
    lines = change_commentary(first, older)
    assert "The same 1 variables were selected." in lines
    assert not any("oracle" in line or "top" in line for line in lines)  # nothing measured, nothing said
    sections = feasibility_sections({"table1": pl.DataFrame({"a": [1]})}, commentary=lines)
    assert sections[0].title == "What changed since the last model" and sections[1].title.startswith("Table 1")


def test_study_tables_are_shown_one_column_per_model():
    table = pl.DataFrame(
        {"target": ["A", "B"], "auc_validation": [0.8123, None], "status": ["fitted", "not fitted: few"]}
    )
    shown = transpose_for_display(table, "target")
    assert shown.columns == ["measure", "A", "B"]
    assert shown.rows() == [("auc_validation", "0.812", ""), ("status", "fitted", "not fitted: few")]


def test_tables_are_listed_in_report_order_not_alphabetically():
    names = ["table10", "oracle", "table2", "table11", "figure5", "table1", "scratch", "table9"]
    assert in_report_order(names) == [
        "table1",
        "table2",
        "table9",
        "table10",
        "table11",
        "figure5",
        "oracle",
        "scratch",
    ]
