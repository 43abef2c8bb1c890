"""The NZ study's evaluation of the scored cohort, one linkage level at a time: Tables 2, 3,
6, 7 and 8, Figures 1 and 4, calibration, and the oracle's AUC beside the model's on the
same children; plus scoring the cohort with the current artefact (prm_scores)."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.cohorts import RISK_MARKERS, table8_profile
from cmi_assets.prm.artefact import ModelArtefact
from cmi_assets.prm.cohort_data import CohortTables
from cmi_assets.prm.evaluation import (
    calibration_fit,
    calibration_table,
    confusion_at_share,
    delong_auc,
    outcomes_at_share_table,
    referral_order,
    threshold_table,
    top_share_flags,
)
from cmi_assets.prm.oracle import ORACLE_COLUMNS, oracle_comparison
from cmi_assets.prm.oracle_table import read_oracle
from cmi_assets.prm.proportionality import composition_table, marker_count_by_score_band
from cmi_assets.prm.recipe import finite_or_none
from cmi_assets.prm.settings import LEVELS
from cmi_assets.prm.study import NZ_REFERRAL_SHARE as REFERRAL_SHARE
from cmi_assets.prm.study import align_to_training_levels

TABLE3_GROUP = "ethnicity_aian"  # Table 3's group (the study's Maori children; as in Table 9)
SCORES_SCHEMA = {
    "person_key": pl.String,
    "birth_year": pl.Int32,
    "linkage_level": pl.String,
    "score": pl.Float64,
    "score_rank": pl.Int64,
    "model_sha12": pl.String,
}


def score_cohort(artefact: ModelArtefact, frame: pl.DataFrame) -> tuple[pl.DataFrame, dict, int]:
    """One level's cohort scored: (person_key, birth_year, linkage_level, score, score_rank,
    model_sha12), a summary row, and how many values of levels absent from training were
    scored as the reference level. Rank 1 = highest score; ties by person_key."""
    aligned, unseen = align_to_training_levels(frame, artefact.scorer.variables)
    score = artefact.predict_proba(aligned)
    rank = np.empty(len(score), dtype=np.int64)
    rank[referral_order(score, frame["person_key"])] = np.arange(1, len(score) + 1)
    scores = frame.select("person_key", "birth_year", "linkage_level").with_columns(
        pl.Series("score", score),
        pl.Series("score_rank", rank),
        pl.lit(artefact.version).alias("model_sha12"),
    )
    row = {
        "linkage_level": frame["linkage_level"][0],
        "children": frame.height,
        "mean_score": float(np.mean(score)),
        "max_score": float(np.max(score)),
    }
    return scores, row, unseen


def group_columns(frame: pl.DataFrame) -> list[str]:
    """Table 7 groups: ethnic groups, benefit and registration by 3 months, high deprivation."""
    return [c for c in frame.columns if c.startswith("ethnicity_")] + [
        c for c in ("on_benefit_by_3_months", "registered_by_3_months", "high_deprivation") if c in frame.columns
    ]


def evaluate_level(frame: pl.DataFrame, level: str, notes: list[str]) -> dict[str, pl.DataFrame]:
    """Every study table for one linkage level's scored cohort (frame: features, outcomes, score)."""
    tag = pl.lit(level).alias("linkage_level")
    y5 = frame["finding_by_age_5"].cast(pl.Int64)
    y2 = frame["finding_by_age_2"].cast(pl.Int64)
    score, key = frame["score"].to_numpy(), frame["person_key"]
    referred = top_share_flags(score, REFERRAL_SHARE, key)
    out = {
        "table2": threshold_table(y5, score, events=frame["n_finding_events_by_age_5"], tie_key=key),
        "figure1": outcomes_at_share_table(
            {age: frame[f"finding_by_age_{age}"].cast(pl.Int64) for age in range(1, 6)}, score, REFERRAL_SHARE, key
        ).rename({"outcome": "age"}),
        "table7": composition_table(frame, group_columns(frame), "finding_by_age_5", referred),
        "table8": table8_profile(frame, frame, "finding_by_age_2", referred=referred),
        "figure4": marker_count_by_score_band(
            frame.with_columns(pl.col(list(RISK_MARKERS)).fill_null(False)), list(RISK_MARKERS), score, tie_key=key
        ),
        "calibration": calibration_table(y2, score, n_bins=min(10, len(score))),
    }
    if TABLE3_GROUP in frame.columns and frame[TABLE3_GROUP].fill_null(False).any():
        # Table 3: the same thresholds (set on every child) seen from one group's children
        out["table3"] = threshold_table(
            y5,
            score,
            events=frame["n_finding_events_by_age_5"],
            tie_key=key,
            group=frame[TABLE3_GROUP].fill_null(False),
        ).with_columns(pl.lit(TABLE3_GROUP).alias("group"))
    else:
        notes.append(f"{level}: no child of group {TABLE3_GROUP} in the scored cohort: no Table 3")
    counts = confusion_at_share(y5, score, REFERRAL_SHARE, key)
    row = {
        "children": frame.height,
        "prevalence_by_age_5": float(y5.mean()),
        "share_referred": REFERRAL_SHARE,
        "referred": counts.referred,
        **counts.rates(),
        "auc": None,
        "auc_ci_low": None,
        "auc_ci_high": None,
    }
    if 0 < y5.sum() < len(y5):
        auc = delong_auc(y5, score)
        row.update(auc=auc.auc, auc_ci_low=auc.ci_low, auc_ci_high=auc.ci_high)
    else:
        notes.append(f"{level}: findings by age 5 take one value only in the scored cohort: no AUC")
    out["table6"] = pl.DataFrame([{k: finite_or_none(v) for k, v in row.items()}])
    if 0 < y2.sum() < len(y2):
        try:
            fit = calibration_fit(y2, score).to_dict()
            out["calibration"] = out["calibration"].with_columns(
                pl.lit(fit["slope"]).alias("calibration_slope"), pl.lit(fit["intercept"]).alias("calibration_intercept")
            )
        except Exception as error:  # noqa: BLE001 - a tiny cohort can separate perfectly
            notes.append(f"{level}: calibration slope not estimated ({type(error).__name__})")
    return {name: table.with_columns(tag) for name, table in out.items()}


def oracle_rows(con, frame: pl.DataFrame, level: str, year: int) -> list[dict]:
    """The model's and the oracle's AUC on the same scored children, for findings by age 2
    and by age 5 (NZ Table 6 uses age 5)."""

    rows = []
    for risk, outcome in ORACLE_COLUMNS.items():
        oracle = read_oracle(con, level, risk)
        if not oracle.height:
            continue
        measured = oracle_comparison(
            frame["person_key"], frame[outcome].cast(pl.Int64).to_numpy(), frame["score"].to_numpy(), oracle, risk
        )
        rows.append(
            {
                "linkage_level": level,
                "children_scored": f"cohort {year}",
                "outcome": outcome,
                **{k: finite_or_none(v) for k, v in measured.items()},
            }
        )
    return rows


def validation_oracle_row(table1: pl.DataFrame) -> list[dict]:
    """prm_model's oracle comparison on the validation children, as an oracle-table row."""
    if not table1.height or "oracle_auc_validation" not in table1.columns or table1["oracle_auc_validation"][0] is None:
        return []
    row = table1.row(0, named=True)
    every_child = row.get("auc_validation_with_oracle") is None  # the model's interval is over the same children
    return [
        {
            "linkage_level": row["linkage_level"],
            "children_scored": f"validation sample (cohort {row['training_cohort']})",
            "outcome": "training outcome",
            "auc_model": row["auc_validation"] if every_child else row["auc_validation_with_oracle"],
            "auc_model_ci_low": row.get("auc_ci_low") if every_child else None,
            "auc_model_ci_high": row.get("auc_ci_high") if every_child else None,
            "auc_oracle": row["oracle_auc_validation"],
            "auc_oracle_ci_low": row.get("oracle_ci_low"),
            "auc_oracle_ci_high": row.get("oracle_ci_high"),
            "oracle_gap": row.get("oracle_gap_validation"),
            "oracle_coverage": row.get("oracle_coverage_validation"),
        }
    ]


def evaluation_summary(combined: dict[str, pl.DataFrame], scores: pl.DataFrame) -> dict:
    """What the report's commentary compares between models (conservative linkage, top 5%)."""
    summary: dict = {"share_referred": REFERRAL_SHARE}
    conservative = scores.filter(pl.col("linkage_level") == "conservative") if scores.height else scores
    if conservative.height:
        summary.update(model_sha12=conservative["model_sha12"][0], scored_birth_year=int(conservative["birth_year"][0]))
    if "table6" in combined:
        rows = combined["table6"].filter(pl.col("linkage_level") == "conservative")
        if rows.height:
            row = rows.row(0, named=True)
            summary.update(ppv=row["ppv"], sensitivity=row["sensitivity"], auc=row["auc"])
    if "oracle" in combined:
        rows = combined["oracle"].filter(
            (pl.col("linkage_level") == "conservative") & (pl.col("outcome") == "finding_by_age_5")
        )
        if rows.height:
            summary["oracle_auc"] = rows["auc_oracle"][0]
    if "table7" in combined:
        top = combined["table7"].filter(pl.col("linkage_level") == "conservative")
        summary["top_share_by_group"] = {
            g: finite_or_none(v) for g, v in zip(top["group"].to_list(), top["share_referred"].to_list())
        }
    return {k: finite_or_none(v) if not isinstance(v, dict) else v for k, v in summary.items()}


def evaluate_scored_cohorts(
    con, cohorts: CohortTables, scores: pl.DataFrame, table1: pl.DataFrame, notes: list[str]
) -> dict[str, pl.DataFrame]:
    """Every evaluation table over both levels' scored cohorts (`scores`: prm.scores), each
    with a linkage_level column; 'oracle' only where some oracle AUC could be computed
    (prm_model's on the validation children, from `table1`, and the scored cohort's)."""
    tables: dict[str, list[pl.DataFrame]] = {}
    oracle: list[dict] = []
    for level in LEVELS:
        level_scores = scores.filter(pl.col("linkage_level") == level) if scores.height else scores
        if not level_scores.height:
            notes.append(f"{level}: no scores (see prm_scores)")
            continue
        year = int(level_scores["birth_year"][0])
        frame = cohorts.frame(con, level, [year]).join(
            level_scores.select("person_key", "score"), on="person_key", how="inner"
        )
        frame = frame.sort("person_key")
        for name, table in evaluate_level(frame, level, notes).items():
            tables.setdefault(name, []).append(table)
        oracle.extend(oracle_rows(con, frame, level, year))
    oracle = validation_oracle_row(table1) + oracle
    if oracle:
        tables["oracle"] = [pl.DataFrame(oracle, infer_schema_length=None)]
    return {name: pl.concat(parts, how="diagonal_relaxed") for name, parts in tables.items()}


SHOWN_TABLES = ("table2", "table3", "figure1", "table6", "table7", "table8", "figure4", "calibration")


def shown_tables(combined: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The tables prm_evaluation shows: the conservative linkage's rows (Table 6 compares the
    two levels, so all of it), Table 8 without its label column."""
    out = {}
    for name in SHOWN_TABLES:
        if name in combined:
            table = (
                combined[name] if name == "table6" else combined[name].filter(pl.col("linkage_level") == "conservative")
            )
            out[name] = table.drop("label") if name == "table8" else table
    return out


def scored_cohort_oracle(combined: dict[str, pl.DataFrame]) -> tuple[float, float] | None:
    """(oracle AUC, model AUC) on the conservative scored cohort, findings by age 5, if measured."""
    if "oracle" not in combined:
        return None
    scored = combined["oracle"].filter(
        (pl.col("linkage_level") == "conservative") & (pl.col("outcome") == "finding_by_age_5")
    )
    if scored.height and scored["auc_oracle"][0] is not None:
        return float(scored["auc_oracle"][0]), float(scored["auc_model"][0])
    return None


def table1_by_level(table1: pl.DataFrame) -> dict[str, dict]:
    return {
        r["linkage_level"]: {k: v for k, v in r.items() if k != "linkage_level"} for r in table1.iter_rows(named=True)
    }
