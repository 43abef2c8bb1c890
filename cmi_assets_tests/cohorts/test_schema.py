"""The declared cohort schemas name exactly the columns, in order and with the types, that
the builders produce when written to DuckDB (the events fixture world, cohort 2010)."""

from __future__ import annotations

import pytest

from cmi_assets.cohorts import cohort_features, cohort_outcomes, cohort_population
from cmi_assets.cohorts.schema import feature_columns, outcome_columns, population_columns
from cmi_assets_tests.cohorts.conftest import CONS


@pytest.mark.parametrize(
    "build, declared",
    [
        (lambda con: cohort_population(con, 2010, CONS), population_columns),
        (lambda con: cohort_features(con, 2010, CONS, include_health=True), feature_columns),
        (lambda con: cohort_outcomes(con, 2010, CONS), outcome_columns),
    ],
)
def test_declared_columns_are_the_written_columns(events_con, build, declared):
    frame = build(events_con)
    if "linkage_level" not in frame.columns:  # the assets add the level when they write
        frame = frame.with_columns(linkage_level=frame["person_key"].cast(str).str.slice(0, 0) + CONS)
    events_con.register("written", frame.to_arrow())
    described = events_con.execute("describe select * from written").fetchall()
    events_con.unregister("written")
    assert [(row[0], row[1]) for row in described] == [(name, kind) for name, kind, _ in declared()]
    assert all(text for _, _, text in declared())
