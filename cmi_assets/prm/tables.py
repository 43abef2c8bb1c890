"""The prm schema of the analysis zone: its tables and their main columns (`table.column`, as
the event tables declare theirs), so the assets that write them declare the same contract
(light: no model libraries)."""

from __future__ import annotations

SCHEMA = "prm"
SCORES_TABLE = f"{SCHEMA}.scores"
STUDY_NOTES_TABLE = f"{SCHEMA}.study_notes"  # prm_study_models' notes, for the report
EVALUATION_TABLES = (
    "table1",
    "table2",
    "table3",
    "figure1",
    "table6",
    "table7",
    "table8",
    "figure4",
    "calibration",
    "oracle",
    "model_comparison",
    "selection_frequency",
)
STUDY_TABLES = ("table9", "table10", "table11", "figure3", "figure5")
REPORT_TABLES = EVALUATION_TABLES + STUDY_TABLES

# (name, type, description) of prm.scores
SCORES_COLUMNS = (
    ("person_key", "VARCHAR", "pseudonymous child key"),
    ("birth_year", "INTEGER", None),
    ("linkage_level", "VARCHAR", None),
    ("score", "DOUBLE", "prior-corrected probability of a finding by age 2"),
    ("score_rank", "BIGINT", "1 = highest; ties by person_key"),
    ("model_sha12", "VARCHAR", "the model artefact's version"),
)
# The main columns of each evaluation table (prm_evaluation, prm_model's table1)
EVALUATION_COLUMNS = (
    ("table1.auc_validation", "DOUBLE", "validation AUC (written by prm_model)"),
    ("table1.oracle_auc_validation", "DOUBLE", "the oracle's AUC on the same validation children"),
    ("table1.calibration_slope", "DOUBLE", "after prior correction, on the training cohort population"),
    ("table2.threshold", "VARCHAR", "Top 1% .. Top 20%, All"),
    ("table2.ppv", "DOUBLE", None),
    ("table2.sensitivity", "DOUBLE", None),
    ("figure1.age", "VARCHAR", None),
    ("figure1.ppv", "DOUBLE", None),
    ("table6.linkage_level", "VARCHAR", None),
    ("table6.auc", "DOUBLE", "against findings by age 5"),
    ("table7.group", "VARCHAR", None),
    ("table7.share_referred", "DOUBLE", "share of the top 5%"),
    ("table8.label", "VARCHAR", None),
    ("table8.pct_referred", "DOUBLE", None),
    ("figure4.band", "VARCHAR", None),
    ("figure4.share_with_min_markers", "DOUBLE", "5+ of the 11 markers"),
    ("calibration.mean_predicted", "DOUBLE", None),
    ("calibration.observed_rate", "DOUBLE", None),
    ("oracle.children_scored", "VARCHAR", "validation sample or scored cohort"),
    ("oracle.auc_model", "DOUBLE", None),
    ("oracle.auc_oracle", "DOUBLE", None),
    ("oracle.oracle_gap", "DOUBLE", "oracle minus model, same children"),
)
# The main columns of Tables 9-11 and Figures 3 and 5 (prm_study_models); Tables 9-11 add
# the measures of prm/study.py (validation AUC, threshold and top-5% measures).
STUDY_COLUMNS = (
    ("table9.model", "VARCHAR", "Base model, or the split whose group models are combined"),
    ("table9.status", "VARCHAR", "fitted, or not fitted and why"),
    ("table9.ppv", "DOUBLE", "top 5% of the scored cohort against findings by age 5"),
    ("table9.sensitivity", "DOUBLE", None),
    ("table9.specificity", "DOUBLE", None),
    ("table9.npv", "DOUBLE", None),
    ("table10.target", "VARCHAR", "A-E (cohorts.TARGETS)"),
    ("table10.status", "VARCHAR", None),
    ("table10.auc_validation", "DOUBLE", None),
    ("table10.selected_share", "DOUBLE", "threshold nearest the prevalence"),
    ("table10.ppv_target_by_age_5", "DOUBLE", None),
    ("table10.ppv_finding_by_age_5", "DOUBLE", None),
    ("table11.variant", "VARCHAR", "A health added, B base, C without births, D also without corrections"),
    ("table11.sources", "VARCHAR", "agencies drawn on"),
    ("table11.status", "VARCHAR", None),
    ("table11.auc_validation", "DOUBLE", None),
    ("table11.referred_pct_aian_child", "DOUBLE", None),
    ("figure3.variable", "VARCHAR", None),
    ("figure3.models_appearing", "BIGINT", None),
    ("figure3.mean_entry_rank", "DOUBLE", "1 = entered first"),
    ("figure5.week", "BIGINT", "weeks since birth"),
    ("figure5.pct_birth_registration", "DOUBLE", None),
    ("figure5.pct_benefit", "DOUBLE", None),
    ("figure5.pct_either", "DOUBLE", None),
)
