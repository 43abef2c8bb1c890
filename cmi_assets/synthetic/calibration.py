"""Calibration of the world against the NZ study: the Table 8 profile (columns 1 and 2),
the rate of findings by ages 2 and 5, notifications by age 2, registration by 3 months and
the oracle AUC. `solve_outcome_coefficients` re-derives the outcome model's alpha/beta by
moment matching (the share of each marker among children with findings by age 2 equals
Table 8 column 2); `python -m cmi_assets.synthetic.calibration` runs the fixed point
(simulate -> solve -> simulate, because siblings' CP history depends on the outcome
model) and prints the YAML block to paste into world.yaml."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import least_squares
from scipy.stats import rankdata

from cmi_assets.synthetic.markers import TABLE8_MARKERS
from cmi_assets.synthetic.outcomes import cumulative_baseline
from cmi_assets.synthetic.profile import PROFILES_DIR, load_profile
from cmi_assets.synthetic.world import simulate_world

# NZ study, Table 8 (2007 cohort, study population): % of all children, % of children
# with findings by age 2. Keys follow markers.TABLE8_MARKERS.
TABLE8_TARGETS: dict[str, tuple[str, float, float]] = {
    "male": ("Male child", 51.5, 53.0),
    "low_birth_weight_or_preterm": ("Low birth weight or pre-term", 8.2, 10.7),
    "high_parenting_demands": ("Multiple birth, other children under 2, or 3+ children", 20.1, 32.9),
    "no_other_children": ("No other children (estimated)", 59.4, 51.1),
    "other_children_cp_history_5y": ("Other children with CP history in the last 5 years", 4.8, 34.9),
    "other_children_fv_last_year": ("Other children with police FV notification/contact last year", 0.8, 8.6),
    "single_parent": ("Single parent", 24.6, 74.3),
    "no_registration_by_3_months": ("No birth registration at 3 months of age", 6.3, 26.1),
    "caregiver_under_25": ("Mother or caregiver aged under 25", 25.3, 53.5),
    "parent_cp_history_as_child": ("Parents/caregivers with a CP history as a child", 9.8, 43.2),
    "parent_behavioural_finding_as_child": ("Parents/caregivers with behavioural/relationship findings", 3.5, 19.1),
    "on_benefit_by_3_months": ("Child seen on benefit by 3 months of age", 23.2, 79.0),
    "caregiver_benefit_80_100_pct_5y": ("Mother/caregiver 80-100% of time on benefit in last 5 years", 11.7, 50.7),
    "parent_substance_benefit_5y": ("Parents/caregivers benefit for substance abuse, last 5 years", 1.5, 8.2),
    "parent_mental_health_benefit_5y": ("Parents/caregivers benefit for other mental health, last 5 y", 4.9, 17.4),
    "caregiver_address_change_last_year": (
        "Primary caregiver 1+ address changes in benefit data last year",
        11.6,
        26.1,
    ),
    "parent_any_sentence_5y": ("Parents/caregivers with any sentence in the last 5 years", 7.2, 25.5),
    "parent_custodial_sentence_5y": ("Parents/caregivers with a custodial sentence, last 5 years", 3.1, 11.1),
    "high_deprivation": ("High deprivation neighbourhood (deciles 8-10, of non-missing)", 36.9, 69.0),
}
assert list(TABLE8_TARGETS) == TABLE8_MARKERS

# NZ study Table 1 / paras 45, 73-78, 154: rates in the study population
FINDINGS_BY_AGE_2 = (2.3, 2.8)
FINDINGS_BY_AGE_5 = 4.8
NOTIFICATIONS_BY_AGE_2 = 8.0
REGISTERED_BY_3_MONTHS = 91.0
ORACLE_AUC = (0.80, 0.90)
CALIBRATION_BIRTH_YEARS = (2007, 2010)


def tolerance(target_percent: float) -> float:
    """2 percentage points, 1 point where the rate is under 5%."""
    return 1.0 if target_percent < 5 else 2.0


def study_children(children: pl.DataFrame, birth_years: tuple[int, int] = CALIBRATION_BIRTH_YEARS) -> pl.DataFrame:
    return children.filter(pl.col("in_study_population") & pl.col("birth_year").is_between(*birth_years))


def auc(score: np.ndarray, outcome: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney with average ranks for ties)."""
    outcome = outcome.astype(bool)
    ranks = rankdata(score)
    n_pos, n_neg = outcome.sum(), (~outcome).sum()
    return float((ranks[outcome].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_table(children: pl.DataFrame, birth_years: tuple[int, int] = CALIBRATION_BIRTH_YEARS) -> pl.DataFrame:
    """Target vs measured for every Table 8 row: % of all children and % of children with
    findings by age 2 (realised, and expected from the oracle probabilities)."""
    study = study_children(children, birth_years)
    found = study.filter(pl.col("finding_by_age_2"))
    p = study["p_finding_by_age_2"].to_numpy()
    rows = []
    for key, (label, all_target, found_target) in TABLE8_TARGETS.items():
        x = study[f"t8_{key}"].to_numpy().astype(float)
        rows.append(
            {
                "marker": label,
                "target_all": all_target,
                "measured_all": round(100 * x.mean(), 1),
                "target_findings": found_target,
                "measured_findings": round(100 * found[f"t8_{key}"].mean(), 1),
                "expected_findings": round(100 * float(p @ x / p.sum()), 1),
                "tolerance_all": tolerance(all_target),
                "tolerance_findings": tolerance(found_target),
            }
        )
    return pl.DataFrame(rows)


def headline_rates(children: pl.DataFrame, birth_years: tuple[int, int] = CALIBRATION_BIRTH_YEARS) -> dict:
    """Findings by 2 and 5, notifications by 2 (study population), registration by 3
    months (all births), the oracle AUC, and findings by age 2 per cohort."""
    cohort = children.filter(pl.col("birth_year").is_between(*birth_years))
    study = study_children(children, birth_years)
    by_year = (
        study.group_by("birth_year")
        .agg((100 * pl.col("finding_by_age_2").mean()).round(2).alias("pct"))
        .sort("birth_year")
    )
    return {
        "children": len(study),
        "findings_by_age_2_pct": round(100 * study["finding_by_age_2"].mean(), 2),
        "findings_by_age_5_pct": round(100 * study["finding_by_age_5"].mean(), 2),
        "notifications_by_age_2_pct": round(100 * study["notification_by_age_2"].mean(), 2),
        "registered_by_3_months_pct": round(100 * (1 - cohort["no_registration_by_3_months"].mean()), 2),
        "study_population_share_pct": round(100 * cohort["in_study_population"].mean(), 2),
        "oracle_auc": round(auc(study["p_finding_by_age_2"].to_numpy(), study["finding_by_age_2"].to_numpy()), 4),
        "findings_by_age_2_by_cohort": dict(zip(by_year["birth_year"].to_list(), by_year["pct"].to_list())),
    }


def solve_outcome_coefficients(
    children: pl.DataFrame, params: dict, rate_by_age_2: float, birth_years: tuple[int, int] = CALIBRATION_BIRTH_YEARS
) -> dict:
    """alpha and beta such that, over the study population, E[finding by 2] equals
    `rate_by_age_2` and the expected share of each Table 8 marker among children with
    findings equals Table 8 column 2 (moment matching; the rest of eta is held fixed)."""
    out = params["outcomes"]
    study = study_children(children, birth_years)
    x = np.column_stack([study[f"t8_{k}"].to_numpy().astype(float) for k in TABLE8_MARKERS])
    beta0 = np.array([float(out["beta"][k]) for k in TABLE8_MARKERS])
    offset = study["eta"].to_numpy() - float(out["alpha"]) - x @ beta0
    lam2 = cumulative_baseline(2.0, params)
    targets = np.array([TABLE8_TARGETS[k][2] / 100 for k in TABLE8_MARKERS])

    def residuals(theta: np.ndarray) -> np.ndarray:
        p = 1 - np.exp(-np.exp(theta[0] + offset + x @ theta[1:]) * lam2)
        shares = p @ x / p.sum()
        return np.concatenate([[np.log(p.mean() / rate_by_age_2)], 10 * (shares - targets)])

    fit = least_squares(residuals, np.concatenate([[float(out["alpha"])], beta0]), method="lm", xtol=1e-10, ftol=1e-12)
    return {
        "alpha": round(float(fit.x[0]), 4),
        "beta": {k: round(float(v), 4) for k, v in zip(TABLE8_MARKERS, fit.x[1:])},
        "max_share_error": float(np.abs(residuals(fit.x)[1:] / 10).max()),
    }


# The generative knob that moves each marker's prevalence (Table 8 column 1), and how:
# "add" a logit/log-rate intercept, "sub" one that works the other way, "years" for an age
# (x -4 years per logit unit), "mul"/"inv" a probability or scale parameter, "older" the
# notification age profile from age 2.
PREVALENCE_KNOBS: dict[str, tuple[str, str, str]] = {
    "low_birth_weight_or_preterm": ("birth_outcomes", "preterm_logit", "add"),
    "high_parenting_demands": ("fertility", "interval_scale_years", "inv"),
    "no_other_children": ("fertility", "extra_births_lambda_log", "sub"),
    "other_children_cp_history_5y": ("outcomes", "notification_age_profile", "older"),
    "other_children_fv_last_year": ("family_violence", "incidents_per_year_log", "add"),
    "single_parent": ("partnerships", "father_not_listed_logit", "add"),
    "no_registration_by_3_months": ("benefit_at_birth", "by_3_months_unregistered", "add"),
    "caregiver_under_25": ("fertility", "first_birth_age_median", "years"),
    "parent_cp_history_as_child": ("parents_childhood_cp", "notifications_per_year_log", "add"),
    "parent_behavioural_finding_as_child": ("parents_childhood_cp", "behavioural_share", "mul"),
    "on_benefit_by_3_months": ("benefit_at_birth", "by_3_months_logit", "add"),
    "caregiver_benefit_80_100_pct_5y": ("benefits", "stay_logit", "add"),
    "parent_substance_benefit_5y": ("benefits", "substance_logit", "add"),
    "parent_mental_health_benefit_5y": ("benefits", "mental_health_logit", "add"),
    "caregiver_address_change_last_year": ("benefits", "moves_per_year_log", "add"),
    "parent_any_sentence_5y": ("corrections", "rate_log", "add"),
    "parent_custodial_sentence_5y": ("corrections", "custodial_share_logit", "add"),
    "high_deprivation": ("population", "high_deprivation_share", "mul"),
}


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def adjust_prevalence_knobs(params: dict, table: pl.DataFrame, damping: float = 0.8) -> dict:
    """One secant-like step per knob on the logit gap between target and measured
    prevalence (column 1). Returns {(section, key): new value}."""
    measured = dict(zip([k for k in TABLE8_TARGETS], table["measured_all"].to_list()))
    updates = {}
    for marker, (section, key, how) in PREVALENCE_KNOBS.items():
        gap = damping * (_logit(TABLE8_TARGETS[marker][1] / 100) - _logit(max(measured[marker], 0.05) / 100))
        if how == "older":  # notifications from age 2 on: the siblings' CP history
            profile = [float(v) for v in params[section][key]]
            profile[2:] = [round(v * float(np.exp(0.7 * gap)), 4) for v in profile[2:]]
            params[section][key] = updates[(section, key)] = profile
            continue
        value = float(params[section][key])
        new = {
            "add": value + gap,
            "sub": value - gap,
            "years": value - 4 * gap,
            "mul": value * np.exp(0.7 * gap),
            "inv": value * np.exp(-0.7 * gap),
        }[how]
        if key.endswith("_share"):
            new = min(new, 0.95)
        updates[(section, key)] = round(float(new), 4)
        params[section][key] = updates[(section, key)]
    return updates


def adjust_headline_knobs(params: dict, rates: dict, damping: float = 0.8) -> dict:
    """Registration by 3 months (91% of births: NZ para 154) via the on-time intercept, and
    notifications by age 2 (~8%) via the notification multiplier (the siblings' CP history
    is tuned with the notification profile from age 2)."""
    reg_gap = damping * (_logit(REGISTERED_BY_3_MONTHS / 100) - _logit(rates["registered_by_3_months_pct"] / 100))
    params["registration"]["on_time_logit"] = round(float(params["registration"]["on_time_logit"]) + reg_gap, 4)
    notif_gap = damping * (_logit(NOTIFICATIONS_BY_AGE_2 / 100) - _logit(rates["notifications_by_age_2_pct"] / 100))
    params["outcomes"]["notification_multiplier"] = round(
        float(params["outcomes"]["notification_multiplier"]) * float(np.exp(notif_gap)), 4
    )
    return {
        ("registration", "on_time_logit"): params["registration"]["on_time_logit"],
        ("outcomes", "notification_multiplier"): params["outcomes"]["notification_multiplier"],
    }


def write_world_yaml_values(path, updates: dict) -> None:
    """Rewrite `key: value` lines of world.yaml in place (comments kept). `updates` maps
    (section, key) -> value, or (section, "beta", key) -> value."""
    lines = Path(path).read_text().splitlines()
    section, sub = None, None
    for i, line in enumerate(lines):
        top = re.match(r"^([a-z_]+):", line)
        if top:
            section, sub = top.group(1), None
            continue
        nested = re.match(r"^  ([a-z_0-9]+):\s*(#.*)?$", line)
        if nested:
            sub = nested.group(1)
            continue
        m = re.match(r"^(\s+)([a-z_0-9]+): (-?[0-9.eE+-]+|\[[-0-9., eE+]*\])(\s*#.*)?$", line)
        if not m:
            continue
        indent, key = m.group(1), m.group(2)
        lookup = (section, sub, key) if len(indent) == 4 else (section, key)
        if lookup in updates:
            lines[i] = f"{indent}{key}: {updates[lookup]}{m.group(4) or ''}"
    Path(path).write_text("\n".join(lines) + "\n")


def tune(
    profile: dict,
    scale: float = 0.2,
    seed: int = 0,
    iterations: int = 6,
    rate_by_age_2: float = 0.0255,
    birth_years: tuple[int, int] = CALIBRATION_BIRTH_YEARS,
) -> dict:
    """Alternate prevalence-knob steps (column 1) and the outcome solve (column 2).
    Returns every updated value keyed as write_world_yaml_values expects."""
    prof = copy.deepcopy(profile)
    params = prof["world"]
    updates: dict = {}
    for i in range(iterations):
        world = simulate_world(prof, scale, seed, birth_years=birth_years)
        table = calibration_table(world.children, birth_years)
        worst = float((table["measured_all"] - table["target_all"]).abs().max())
        updates.update(adjust_prevalence_knobs(params, table))
        updates.update(adjust_headline_knobs(params, headline_rates(world.children, birth_years)))
        solved = solve_outcome_coefficients(world.children, params, rate_by_age_2, birth_years)
        params["outcomes"]["alpha"] = solved["alpha"]
        params["outcomes"]["beta"] = solved["beta"]
        updates[("outcomes", "alpha")] = solved["alpha"]
        updates.update({("outcomes", "beta", k): v for k, v in solved["beta"].items()})
        print(
            f"iteration {i}: worst column-1 gap {worst:.2f} points, column-2 share error {solved['max_share_error']:.4f}",
            file=sys.stderr,
        )
    return updates


def calibrate(
    profile: dict,
    scale: float = 0.3,
    seed: int = 0,
    iterations: int = 4,
    rate_by_age_2: float = 0.0255,
    birth_years: tuple[int, int] = CALIBRATION_BIRTH_YEARS,
) -> dict:
    """Fixed point of simulate -> solve (siblings' CP history depends on the outcome model).
    Returns the profile's new `outcomes` alpha/beta."""
    prof = copy.deepcopy(profile)
    solved = {}
    for i in range(iterations):
        world = simulate_world(prof, scale, seed, birth_years=birth_years)
        solved = solve_outcome_coefficients(world.children, prof["world"], rate_by_age_2, birth_years)
        print(f"iteration {i}: max share error {solved['max_share_error']:.4f}", file=sys.stderr)
        prof["world"]["outcomes"]["alpha"] = solved["alpha"]
        prof["world"]["outcomes"]["beta"] = solved["beta"]
    return solved


def main() -> None:
    """`python -m cmi_assets.synthetic.calibration [tune|outcomes] [scale] [iterations]`:
    re-derive the calibrated values and write them into profiles/default/world.yaml."""
    mode = sys.argv[1] if len(sys.argv) > 1 else "outcomes"
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    iterations = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    profile = load_profile("default")
    if mode == "tune":
        updates = tune(profile, scale=scale, iterations=iterations)
    else:
        solved = calibrate(profile, scale=scale, iterations=iterations)
        updates = {
            ("outcomes", "alpha"): solved["alpha"],
            **{("outcomes", "beta", k): v for k, v in solved["beta"].items()},
        }
    write_world_yaml_values(PROFILES_DIR / "default" / "world.yaml", updates)
    for key, value in updates.items():
        print(".".join(key), value)


if __name__ == "__main__":
    main()
