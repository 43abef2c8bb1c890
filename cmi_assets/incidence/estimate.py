"""The multiple-systems estimate of a cohort's maltreated children as tables: every model
(loglinear.py) and one headline row per linkage level, with the independence model beside
the selected one, the completeness of each list and the children per 1,000 known to an
agency and estimated undetected."""

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


def headline(estimate: Estimate, counts, population: int) -> dict:
    """The figures a reader quotes: known, estimated total and undetected (with the
    selected model's interval), per 1,000 children of the population followed up."""
    sel, ind = estimate.selected, estimate.independence
    n = estimate.observed
    per = PER / population if population else math.nan
    row = {
        "population": population,
        "known": n,
        "known_per_1000": n * per,
        "selected_model": sel.name if sel else None,
        "identifiable": sel is not None,
        "why_not": None if sel else "; ".join(sorted({f.reason for f in estimate.models if f.reason})) or None,
        "total": sel.total if sel else math.nan,
        "total_lower": sel.lower if sel else math.nan,
        "total_upper": sel.upper if sel else math.nan,
        "interval_finite": bool(sel and sel.interval_finite),
        "undetected": sel.unobserved if sel else math.nan,
        "undetected_per_1000": (sel.unobserved * per) if sel else math.nan,
        "undetected_lower_per_1000": ((sel.lower - n) * per) if sel else math.nan,
        "undetected_upper_per_1000": ((sel.upper - n) * per) if sel else math.nan,
        "total_per_1000": (sel.total * per) if sel else math.nan,
        "averaged_total": estimate.averaged_total,
        "independence_total": ind.total,
        "independence_lower": ind.lower,
        "independence_upper": ind.upper,
    }
    completeness = estimate.completeness(counts) if sel else {name: math.nan for name in estimate.lists}
    row.update({f"completeness_{name}": value for name, value in completeness.items()})
    return row
