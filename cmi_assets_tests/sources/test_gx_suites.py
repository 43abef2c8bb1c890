"""GX suites kept as data: every suite names real columns of its staged model, and the
results carry counts, never a value."""

from __future__ import annotations

import duckdb
import pandas as pd

from cmi_assets.sources import all_specs, ensure_raw_tables
from cmi_assets.sources.gx_suites import SUITES_DIR, load_suite, run_suite, suite_columns
from cmi_assets.sqlmodels import discover_models, model_columns, run_model


def test_every_suite_matches_a_model_and_its_columns(tmp_path):
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    for spec in all_specs().values():
        ensure_raw_tables(con, spec)
    models = {m.name: m for m in discover_models()}
    suites = sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))
    assert suites, "no suites"
    for name in suites:
        assert name in models, f"suite {name}.yaml has no staged model"
        run_model(con, models[name])
        columns = {c for c, _ in model_columns(con, models[name])}
        missing = set(suite_columns(load_suite(name))) - columns
        assert not missing, f"{name}: suite names unknown columns {missing}"


def test_suite_counts_failures_without_values():
    suite = load_suite("stg_benefits_spells")
    frame = pd.DataFrame(
        {
            "spell_id": ["S1", "S2", "S2"],
            "client_id": ["111111111", None, "333333333"],
            "spell_start": pd.to_datetime(["2019-01-01", "2019-01-01", "2020-01-01"]),
            "spell_end": pd.to_datetime(["2020-01-01", None, "2019-01-01"]),
            "incapacity_code": ["SUB", "Jane Doe 1985-04-04", None],
        }
    )
    outcome = run_suite(frame, suite, "stg_benefits_spells")
    by_type = {(o.expectation, o.columns): o for o in outcome.outcomes}
    assert not outcome.success and outcome.evaluated == 4 and outcome.successful == 0
    assert by_type[("expect_column_values_to_be_unique", "spell_id")].unexpected_count == 2
    assert by_type[("expect_column_values_to_not_be_null", "client_id")].unexpected_count == 1
    assert (
        by_type[("expect_column_pair_values_a_to_be_greater_than_b", "spell_end vs spell_start")].unexpected_count == 1
    )
    assert by_type[("expect_column_values_to_be_in_set", "incapacity_code")].unexpected_count == 1
    assert "Jane Doe" not in repr(outcome) and "1985-04-04" not in repr(outcome)

    good = frame.iloc[[0]]
    assert run_suite(good, suite, "stg_benefits_spells").success
