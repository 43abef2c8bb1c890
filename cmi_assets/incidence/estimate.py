"""The multiple-systems estimate of a cohort's maltreated children as tables: every model
(loglinear.py) and one headline row per linkage level (the AIC-averaged total with its
model-averaged interval), with the selected model (its selection-aware interval from the
bootstrap of the selection, and its own profile interval) and the independence model beside it,
the completeness of each list and the children per 1,000 known to an agency and estimated
undetected."""

from __future__ import annotations

import math

import polars as pl

from cmi_assets.incidence.loglinear import Estimate, estimate_total
from cmi_assets.incidence.overlap import observed_counts

PER = 1000.0


def estimate_from_overlap(overlap: pl.DataFrame, lists: list[str], criterion: str = "aic") -> Estimate:
    return estimate_total(observed_counts(overlap), lists, criterion)


def models_table(estimate: Estimate) -> pl.DataFrame:
    """One row per model: parameters, fit, criteria, AIC weight, estimate and interval."""
    selected = estimate.selected.name if estimate.selected else None
    return pl.DataFrame(
        [
            {
                "model": f.name,
                "parameters": f.parameters,
                "df": f.df,
                "deviance": f.deviance,
                "aic": f.aic,
                "bic": f.bic,
                "aic_weight": f.weight,
                "unobserved": f.unobserved,
                "total": f.total,
                "total_lower": f.lower,
                "total_upper": f.upper,
                "identifiable": f.identifiable,
                "why_not": f.reason or None,
                "selected": f.name == selected,
            }
            for f in estimate.models
        ],
        schema_overrides={"why_not": pl.String},
    )


def headline_method(estimate: Estimate) -> str:
    """What the headline is, in words a reader of the UI can check against the models table."""
    if not estimate.identifiable:
        return "none: no identifiable model"
    usable = sum(f.identifiable for f in estimate.models)
    return (
        f"AIC-weighted average of {usable} identifiable log-linear models; 95% model-averaged tail-area "
        "profile-likelihood interval (Fletcher and Turek 2012), which carries the uncertainty of choosing the model"
    )


def headline(estimate: Estimate, counts, population: int) -> dict:
    """The figures a reader quotes: known, the estimated total and undetected (the
    AIC-averaged total with its model-averaged interval), per 1,000 children of the
    population followed up; the selected model (with its selection-aware interval and, under
    selected_profile_*, its own profile-likelihood interval) and the independence model beside."""
    sel, ind = estimate.selected, estimate.independence
    n = estimate.observed
    per = PER / population if population else math.nan
    nan = math.nan
    total, lower, upper = (
        (estimate.averaged_total, estimate.averaged_lower, estimate.averaged_upper) if sel else (nan, nan, nan)
    )
    row = {
        "population": population,
        "known": n,
        "known_per_1000": n * per,
        "headline_method": headline_method(estimate),
        "selected_model": sel.name if sel else None,
        "identifiable": sel is not None,
        "why_not": None if sel else "; ".join(sorted({f.reason for f in estimate.models if f.reason})) or None,
        "total": total,
        "total_lower": lower,
        "total_upper": upper,
        "interval_finite": bool(sel and estimate.averaged_interval_finite),
        "undetected": total - n,
        "undetected_per_1000": (total - n) * per,
        "undetected_lower_per_1000": (lower - n) * per,
        "undetected_upper_per_1000": (upper - n) * per,
        "total_per_1000": total * per,
        "selected_total": sel.total if sel else nan,
        "selected_lower": estimate.selected_lower,
        "selected_upper": estimate.selected_upper,
        "selected_profile_lower": sel.lower if sel else nan,
        "selected_profile_upper": sel.upper if sel else nan,
        "selected_reselected_share": estimate.bootstrap.share_selecting(sel.name) if estimate.bootstrap else nan,
        "independence_total": ind.total,
        "independence_lower": ind.lower,
        "independence_upper": ind.upper,
    }
    completeness = estimate.completeness(counts) if sel else {name: nan for name in estimate.lists}
    row.update({f"completeness_{name}": value for name, value in completeness.items()})
    return row
