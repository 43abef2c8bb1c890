"""The PRM group through Dagster on cohort tables written straight into the analysis zone:
synthetic children whose findings depend on two Box 1 variables, so the stepwise model has
something to find. Checks that the model, scores, study tables and report appear, that the
model validates better than chance, that the oracle's AUC (from a hand-built truth and
spine) sits beside the model's on the same children, that the report says what changed
between two models, and that tiny cohorts end with a clear note, not a failure."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import polars as pl
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from cmi_assets.cohorts import FEATURE_CATEGORIES, RISK_MARKERS
from cmi_assets.defs.prm import assets as prm_assets
from cmi_assets.defs.prm.checks import PRM_CHECKS
from cmi_assets.defs.prm.oracle import prm_oracle_risk
from cmi_assets.defs.prm.study import prm_study_models
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.metadata import number
from cmi_assets.prm.study_tables import figure5_table
from cmi_assets.storage import IDENTIFIED, WAREHOUSE

ALL_PRM_ASSETS = [prm_oracle_risk, *prm_assets.PRM_ASSETS, prm_study_models]
YEARS = (2009, 2010, 2011, 2012)


def _cohorts(n_per_year: int, seed: int = 5) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Features, outcomes and the truth's children (true risk by true_person_id): a child has
    a first finding with probability expit(risk), at an age uniform on 1..7, so its true
    probability of a finding by age k is expit(risk) * k / 7."""
    rng = np.random.default_rng(seed)
    features, outcomes, truth = [], [], []
    for year in YEARS:
        cols = {name: rng.choice(levels, size=n_per_year) for name, levels in FEATURE_CATEGORIES.items()}
        risk = (
            -3.5
            + 2.0 * (cols["caregiver_time_on_benefit_5y"] == "80-100%")
            + 1.5 * (cols["parent_cp_history_as_child"] == "yes")
        )
        age_of_first = np.where(rng.random(n_per_year) < expit(risk), rng.integers(1, 8, n_per_year), 99)
        truth.append(
            pl.DataFrame(
                {
                    "true_person_id": np.arange(n_per_year) + 100_000 * (year - 2000),
                    "birth_year": year,
                    "p_finding_by_age_2": expit(risk) * 2 / 7,
                    "p_finding_by_age_5": expit(risk) * 5 / 7,
                    "person_key": [f"k{year}_{i:05d}" for i in range(n_per_year)],
                }
            )
        )
        keys = [f"k{year}_{i:05d}" for i in range(n_per_year)]
        frame = pl.DataFrame(
            {
                "person_key": keys,
                "birth_year": [year] * n_per_year,
                "linkage_level": "conservative",
                **cols,
                "registered_by_3_months": rng.random(n_per_year) < 0.9,
                "on_benefit_by_3_months": rng.random(n_per_year) < 0.2,
                "high_deprivation": rng.random(n_per_year) < 0.3,
                "ethnicity_white": rng.random(n_per_year) < 0.5,
                **{m: rng.random(n_per_year) < 0.2 for m in RISK_MARKERS},
            }
        )
        features.append(pl.concat([frame, frame.with_columns(pl.lit("less_conservative").alias("linkage_level"))]))
        out = pl.DataFrame(
            {
                "person_key": keys,
                "birth_year": [year] * n_per_year,
                "linkage_level": "conservative",
                **{f"finding_by_age_{a}": age_of_first <= a for a in range(1, 6)},
                "n_finding_events_by_age_5": (age_of_first <= 5).astype(np.int64),
            }
        )
        outcomes.append(pl.concat([out, out.with_columns(pl.lit("less_conservative").alias("linkage_level"))]))
    return pl.concat(features), pl.concat(outcomes), pl.concat(truth)


def _write(con, table: str, frame: pl.DataFrame) -> None:
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("f", frame.to_arrow())
    con.execute(f"create or replace table {table} as select * from f")
    con.unregister("f")


def _load(storage, n_per_year: int, with_truth: bool = False) -> pl.DataFrame:
    features, outcomes, truth = _cohorts(n_per_year)
    with storage.connect(WAREHOUSE) as con:
        _write(con, "cohorts.features", features)
        _write(con, "cohorts.outcomes", outcomes)
    if with_truth:  # each child's registration slot is one record; the spine gives it its key at both levels
        unique_id = np.arange(truth.height)
        records = pl.DataFrame(
            {
                "unique_id": unique_id,
                "agency": "births",
                "record_type": "registrations",
                "record_key": [f"R{i}" for i in unique_id],
                "slot": "child",
            }
        )
        spine = pl.concat(
            [
                pl.DataFrame(
                    {
                        "unique_id": unique_id,
                        "record_ref": "",
                        "level": level,
                        "cluster_id": unique_id,
                        "person_key": truth["person_key"],
                    }
                )
                for level in ("conservative", "less_conservative")
            ]
        )
        with storage.connect(IDENTIFIED) as con:
            _write(con, "linkage.person_records", records)
            _write(con, "linkage.person_spine", spine)
        storage.truth_dir.mkdir(parents=True, exist_ok=True)
        truth.drop("person_key").write_parquet(storage.truth_dir / "children.parquet")
        records.drop("unique_id").with_columns(true_person_id=truth["true_person_id"]).write_parquet(
            storage.truth_dir / "record_persons.parquet"
        )
    return truth


# These fixtures hold a few dozen children with findings per cohort: train on one cohort (the
# default pools cohorts until 1,000 such children, which would take every cohort here).
ONE_COHORT = {"min_training_positives": 20}


def _materialize(instance, config: dict | None = None):
    run_config = {"ops": {"prm_model": {"config": {**ONE_COHORT, **(config or {})}}}}
    result = dg.materialize(
        [*ALL_PRM_ASSETS, *PRM_CHECKS],
        instance=instance,
        resources={"storage": StorageResource()},
        run_config=run_config,
    )
    assert result.success
    return result


def test_assets_carry_group_pool_and_automation():
    for asset in ALL_PRM_ASSETS:
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
    assert meta["training_birth_years"].value == "2012"
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
        study = {
            name: con.execute(f"select * from prm.{name}").pl() for name in ("table9", "table10", "table11", "figure3")
        }
        frequencies = con.execute("select * from prm.selection_frequency").pl()
        assert not con.execute("select count(*) from information_schema.tables where table_name = 'oracle'").fetchone()[
            0
        ]
    assert auc > 0.6
    # bootstrap selection frequencies (Austin and Tu 2004): 20 refits, shares in [0, 1], the
    # strongest variable of the simulated cohorts kept in most of them
    assert frequencies["resamples_fitted"][0] + frequencies["resamples_failed"][0] == 20
    assert frequencies["share_selected"].is_between(0, 1).all() and set(frequencies["model_sha12"]) == {sha[:12]}
    benefit = frequencies.filter(pl.col("variable") == "caregiver_time_on_benefit_5y")
    assert benefit["share_selected"][0] >= 0.8
    assert "Bootstrap selection frequencies" in (storage_env.data_dir / "reports" / "prm" / "latest.md").read_text()
    assert study["table9"]["model"].to_list()[0] == "Base model" and study["table9"].height == 4
    assert study["table10"]["target"].to_list() == ["A", "B", "C", "D", "E"]
    # metadata shows four significant digits (cmi_assets.metadata.number)
    assert number(study["table10"].filter(pl.col("target") == "A")["auc_validation"][0]) == meta["validation_auc"].value
    assert (
        study["table11"].filter(pl.col("variant") == "A")["status"][0].startswith("not fitted: moh_")
    )  # no Box 2 here
    # these cohorts carry target A only, no AIAN column and no Box 2: those models say why not
    assert (
        study["table10"].filter(pl.col("target") == "B")["status"][0]
        == "not fitted: notification_by_age_2 is not in cohorts.outcomes"
    )
    assert (
        study["table9"]
        .filter(pl.col("model") == "AIAN child versus not")["status"][0]
        .endswith("not in the cohort features")
    )
    figure3 = {r["variable"]: r for r in study["figure3"].iter_rows(named=True)}
    assert figure3["caregiver_time_on_benefit_5y"]["models_appearing"] >= 2
    assert (
        figure3["on_benefit_by_3_months"]["models_appearing"],
        figure3["on_benefit_by_3_months"]["mean_entry_rank"],
    ) == (2, None)
    study_meta = result.asset_materializations_for_node("prm_study_models")[0].metadata
    # base, two group models for each of two splits, Table 11 C and D
    assert study_meta["models_fitted"].value == study["figure3"]["models_fitted"][0] == 7
    assert "Figure 5 not computed" in study_meta["notes"].value  # no event tables in this warehouse
    report = storage_env.data_dir / "reports" / "prm" / f"feasibility_{sha[:12]}.html"
    text = report.read_text()
    assert all(f"{name}:" in text for name in ("Table 2", "Table 9", "Table 10", "Table 11", "Figure 3"))
    assert "first model" in text and "oracle AUC not computed" in text
    evaluations = [e for e in result.get_asset_check_evaluations()]
    assert len(evaluations) == 2 and all(e.passed for e in evaluations)
    # a second refresh on the same data: the same model, and the drift checks compare and pass
    result = _materialize(instance)
    assert result.asset_materializations_for_node("prm_model")[0].metadata["sha256"].value == sha
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert (
        "is the first model"
        in result.asset_materializations_for_node("feasibility_report")[0].metadata["what_changed"].value
    )  # the same model again is not a new model
    # a refresh with another sampling seed: a new model, and the report opens with what changed
    result = _materialize(instance, {"seed": 7})
    new_sha = result.asset_materializations_for_node("prm_model")[0].metadata["sha256"].value
    assert new_sha != sha
    changed = result.asset_materializations_for_node("feasibility_report")[0].metadata["what_changed"].value
    assert f"Model {new_sha[:12]} replaces model {sha[:12]}." in changed and "Validation AUC" in changed
    markdown = (storage_env.data_dir / "reports" / "prm" / "latest.md").read_text()
    assert markdown.index("What changed since the last model") < markdown.index("Table 1")


def test_too_few_positives_is_a_note_not_a_failure(storage_env):
    _load(storage_env, 15)
    result = _materialize(dg.DagsterInstance.ephemeral())
    meta = result.asset_materializations_for_node("prm_model")[0].metadata
    assert meta["status"].value == "no new model"
    assert "too few positives" in meta["notes"].value
    assert result.asset_materializations_for_node("prm_scores")[0].metadata["status"].value == "no model"
    assert (storage_env.data_dir / "reports" / "prm" / "feasibility_no_model.md").exists()


def test_oracle_auc_beside_the_model_on_the_same_children(storage_env):
    truth = _load(storage_env, 1500, with_truth=True)
    result = _materialize(dg.DagsterInstance.ephemeral())
    oracle_meta = result.asset_materializations_for_node("prm_oracle_risk")[0].metadata
    assert (
        oracle_meta["truth"].value is True
        and {r.data["count"]: r.data["children"] for r in oracle_meta["keys_by_level"].value.records}[
            "children_keyed_conservative"
        ]
        == truth.height
    )
    meta = result.asset_materializations_for_node("prm_model")[0].metadata
    assert meta["oracle_auc_validation"].value > meta["validation_auc"].value - 0.05
    assert meta["oracle_gap_validation"].value == pytest.approx(
        meta["oracle_auc_validation"].value - meta["validation_auc"].value, abs=1e-4
    )
    assert 0.5 < meta["calibration_slope"].value < 2.0
    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        # the analysis zone gets keys and risks only
        assert con.execute("select * from prm.oracle_risk limit 0").pl().columns == [
            "person_key",
            "linkage_level",
            "birth_year",
            "p_finding_by_age_2",
            "p_finding_by_age_5",
        ]
        oracle = (
            con.execute(
                "select * from prm.oracle where children_scored = 'cohort 2011' and linkage_level = "
                "'conservative' and outcome = 'finding_by_age_5'"
            )
            .pl()
            .row(0, named=True)
        )
        scored = con.execute(
            "select o.person_key, o.finding_by_age_5, s.score from cohorts.outcomes o join prm.scores s "
            "using (person_key, linkage_level) where linkage_level = 'conservative'"
        ).pl()
        table1 = con.execute("select * from prm.table1").pl().row(0, named=True)
    truth_2011 = scored.join(truth.select("person_key", "p_finding_by_age_5"), on="person_key")
    assert truth_2011.height == oracle["children_with_oracle"] == 1500
    assert oracle["auc_oracle"] == pytest.approx(
        roc_auc_score(truth_2011["finding_by_age_5"], truth_2011["p_finding_by_age_5"]), abs=1e-12
    )
    assert oracle["auc_model"] == pytest.approx(
        roc_auc_score(truth_2011["finding_by_age_5"], truth_2011["score"]), abs=1e-12
    )
    assert number(table1["oracle_auc_validation"]) == meta["oracle_auc_validation"].value
    assert table1["oracle_coverage_validation"] == 1.0
    evaluation = json.loads(
        (storage_env.data_dir / "prm" / "models" / f"{table1['model_sha12']}.evaluation.json").read_text()
    )
    assert evaluation["oracle_auc"] == pytest.approx(oracle["auc_oracle"]) and evaluation["scored_birth_year"] == 2011


def test_oracle_without_truth_is_an_empty_table_and_a_note(storage_env):
    result = dg.materialize(
        [prm_oracle_risk], instance=dg.DagsterInstance.ephemeral(), resources={"storage": StorageResource()}
    )
    meta = result.asset_materializations_for_node("prm_oracle_risk")[0].metadata
    assert meta["dagster/row_count"].value == 0 and "no synthetic truth" in meta["note"].value
    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        assert con.execute("select count(*) from prm.oracle_risk").fetchone()[0] == 0


def test_figure5_reads_the_event_tables(storage_env):
    from cmi_assets_tests.cohorts.conftest import build_world

    with storage_env.connect(WAREHOUSE) as con:
        build_world().load(con)
        curve = figure5_table(con, 2010, "conservative").filter(pl.col("week").is_in([1, 13, 14]))
    # the events world of the cohort tests: 10 children of 2010 seen (test_population.py by hand)
    assert curve["pct_birth_registration"].to_list() == [0.0, 60.0, 70.0]
    assert curve["pct_either"].to_list() == [0.0, 80.0, 100.0]
    assert curve["children"].to_list() == [10, 10, 10] and curve["birth_year"].to_list() == [2010] * 3
