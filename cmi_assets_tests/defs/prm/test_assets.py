"""The PRM group through Dagster on cohort tables written straight into the analysis zone:
synthetic children whose findings depend on two Box 1 variables, so the stepwise model has
something to find. Checks that the model, scores, study tables and report appear, that the
model validates better than chance, and that tiny cohorts end with a clear note, not a failure."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl

from cmi_assets.cohorts import FEATURE_CATEGORIES, RISK_MARKERS
from cmi_assets.defs.prm import assets as prm_assets
from cmi_assets.defs.prm.checks import PRM_CHECKS
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.storage import WAREHOUSE

YEARS = (2009, 2010, 2011, 2012)


def _cohorts(n_per_year: int, seed: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    features, outcomes = [], []
    for year in YEARS:
        cols = {name: rng.choice(levels, size=n_per_year) for name, levels in FEATURE_CATEGORIES.items()}
        risk = -3.5 + 2.0 * (cols["caregiver_time_on_benefit_5y"] == "80-100%") + 1.5 * (cols["parent_cp_history_as_child"] == "yes")
        age_of_first = np.where(rng.random(n_per_year) < 1 / (1 + np.exp(-risk)), rng.integers(1, 8, n_per_year), 99)
        keys = [f"k{year}_{i:05d}" for i in range(n_per_year)]
        frame = pl.DataFrame({"person_key": keys, "birth_year": [year] * n_per_year, "linkage_level": "conservative", **cols,
                              "registered_by_3_months": rng.random(n_per_year) < 0.9, "on_benefit_by_3_months": rng.random(n_per_year) < 0.2,
                              "high_deprivation": rng.random(n_per_year) < 0.3, "ethnicity_white": rng.random(n_per_year) < 0.5,
                              **{m: rng.random(n_per_year) < 0.2 for m in RISK_MARKERS}})
        features.append(pl.concat([frame, frame.with_columns(pl.lit("less_conservative").alias("linkage_level"))]))
        out = pl.DataFrame({"person_key": keys, "birth_year": [year] * n_per_year, "linkage_level": "conservative",
                            **{f"finding_by_age_{a}": age_of_first <= a for a in range(1, 6)},
                            "n_finding_events_by_age_5": (age_of_first <= 5).astype(np.int64)})
        outcomes.append(pl.concat([out, out.with_columns(pl.lit("less_conservative").alias("linkage_level"))]))
    return pl.concat(features), pl.concat(outcomes)


def _load(storage, n_per_year: int) -> None:
    features, outcomes = _cohorts(n_per_year)
    with storage.connect(WAREHOUSE) as con:
        con.execute("create schema if not exists cohorts")
        for name, frame in (("features", features), ("outcomes", outcomes)):
            con.register("f", frame.to_arrow())
            con.execute(f"create or replace table cohorts.{name} as select * from f")
            con.unregister("f")


def _materialize(instance):
    result = dg.materialize([*prm_assets.PRM_ASSETS, *PRM_CHECKS], instance=instance, resources={"storage": StorageResource()})
    assert result.success
    return result


def test_assets_carry_group_pool_and_automation():
    for asset in prm_assets.PRM_ASSETS:
        spec = next(iter(asset.specs))
        assert spec.group_name == "prm" and spec.owners and spec.kinds and spec.description
        assert spec.automation_condition is not None
        assert DUCKDB_WRITE_POOL in {n.pool for n in asset.node_def.iterate_node_defs()}


def test_model_scores_tables_and_report(storage_env):
    _load(storage_env, 1500)
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize(instance)
    meta = result.asset_materializations_for_node("prm_model")[0].metadata
    assert meta["status"].value == "new model"
    assert meta["training_birth_years"].value == [2012]
    assert meta["validation_auc"].value > 0.6
    assert "caregiver_time_on_benefit_5y" in meta["selected_variables"].value
    sha = meta["sha256"].value
    assert (storage_env.data_dir / "prm" / "models" / f"{sha[:12]}.json").exists()
    scores_meta = result.asset_materializations_for_node("prm_scores")[0].metadata
    assert scores_meta["scored_birth_year"].value == 2011  # older than the training cohort
    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        assert con.execute("select count(*) from prm.scores").fetchone()[0] == 2 * 1500
        assert con.execute("select count(*) from prm.table2 where linkage_level = 'conservative'").fetchone()[0] == 21
        assert con.execute("select count(distinct linkage_level) from prm.table6").fetchone()[0] == 2
        auc = con.execute("select auc from prm.table6 where linkage_level = 'conservative'").fetchone()[0]
    assert auc > 0.6
    report = storage_env.data_dir / "reports" / "prm" / f"feasibility_{sha[:12]}.html"
    assert report.exists() and "Table 2" in report.read_text()
    evaluations = [e for e in result.get_asset_check_evaluations()]
    assert len(evaluations) == 2 and all(e.passed for e in evaluations)
    # a second refresh on the same data: the same model, and the drift checks compare and pass
    result = _materialize(instance)
    assert result.asset_materializations_for_node("prm_model")[0].metadata["sha256"].value == sha
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_too_few_positives_is_a_note_not_a_failure(storage_env):
    _load(storage_env, 15)
    result = _materialize(dg.DagsterInstance.ephemeral())
    meta = result.asset_materializations_for_node("prm_model")[0].metadata
    assert meta["status"].value == "no new model"
    assert "too few positives" in meta["notes"].value
    assert result.asset_materializations_for_node("prm_scores")[0].metadata["status"].value == "no model"
    assert (storage_env.data_dir / "reports" / "prm" / "feasibility_no_model.md").exists()
