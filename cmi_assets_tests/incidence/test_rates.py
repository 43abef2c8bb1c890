"""Rates, curves, overlap and suppression on a hand-built child table whose every count is
worked out here."""

from __future__ import annotations

import math

import polars as pl
import pytest

from cmi_assets.incidence import cumulative_incidence, incidence_rates, list_flags, overlap_table, published_rates
from cmi_assets.incidence.sources import SOURCES, first_age_column

FULL = 1827  # followed up past the fifth birthday


def _children() -> pl.DataFrame:
    """40 children: c0 (F, decile 1) CP finding at 100 days and CP notification at 50;
    c1 (M) police FV at 400 and hospital at 800; c2 (F) hospital at 2000 (after age 5);
    c3 (M) notification at 1000 but followed up 900 days only (censored before);
    c4..c39 nothing. Ethnicity of c0 is two groups."""
    rows = []
    for i in range(40):
        rows.append(
            {
                "person_key": f"c{i:02d}",
                "birth_year": 2012,
                "birth_month": 1,
                "sex": "F" if i % 2 == 0 else "M",
                "ethnicity": "AIAN;WHITE" if i == 0 else "WHITE",
                "deprivation_decile": 1 if i < 20 else 10,
                "county_fips": "001",
                "follow_up_days": 900 if i == 3 else FULL,
                **{first_age_column(s): None for s in (*SOURCES, "any")},
            }
        )
    events = {
        0: {"cp_finding": 100, "cp_notification": 50},
        1: {"police_fv": 400, "hospital": 800},
        2: {"hospital": 2000},
        3: {"cp_notification": 1000},
    }
    for i, mine in events.items():
        rows[i].update({first_age_column(s): v for s, v in mine.items()})
        rows[i][first_age_column("any")] = min(mine.values())
    schema = {first_age_column(s): pl.Int64 for s in (*SOURCES, "any")}
    return pl.DataFrame(rows, schema_overrides={**schema, "deprivation_decile": pl.Int64})


def _rate(rates, source, age, measure="by_age", group_type="all", group="all"):
    row = rates.filter(
        (pl.col("group_type") == group_type)
        & (pl.col("group") == group)
        & (pl.col("source") == source)
        & (pl.col("measure") == measure)
        & (pl.col("age") == age)
    )
    return row.row(0, named=True)


def test_children_counted_once_in_the_union():
    rates = incidence_rates(_children())
    by5 = _rate(rates, "any", 5)
    # c0 (two CP sources) and c1 (police and hospital) once each; c2 after age 5; c3 not followed to 5
    assert by5["children"] == 2 and by5["population"] == 39
    assert by5["rate_per_1000"] == pytest.approx(1000 * 2 / 39)
    # Garwood for 2: (0.2422, 7.2247)
    assert by5["lower_per_1000"] == pytest.approx(1000 * 0.24221 / 39, rel=1e-3)
    assert by5["upper_per_1000"] == pytest.approx(1000 * 7.2247 / 39, rel=1e-3)
    assert _rate(rates, "cp_finding", 1)["children"] == 1
    assert _rate(rates, "hospital", 2)["children"] == 0 and _rate(rates, "hospital", 3)["children"] == 1
    # in the year of age: c1 first recorded at 400 days (age 1)
    assert _rate(rates, "any", 2, "in_year_of_age")["children"] == 1
    assert _rate(rates, "any", 1, "in_year_of_age")["children"] == 1
    # c3 counts at age 2 (observed 900 > 730.5 days) but not at 3
    assert _rate(rates, "any", 2)["population"] == 40 and _rate(rates, "any", 3)["population"] == 39


def test_groups_ethnicity_is_total_response():
    rates = incidence_rates(_children())
    assert _rate(rates, "any", 5, group_type="ethnicity", group="AIAN")["population"] == 1
    assert _rate(rates, "any", 5, group_type="ethnicity", group="WHITE")["population"] == 39
    assert _rate(rates, "any", 5, group_type="sex", group="F")["children"] == 1
    assert _rate(rates, "any", 5, group_type="deprivation_decile", group="1")["population"] == 19


def test_small_cells_suppressed():
    published = published_rates(incidence_rates(_children()))
    by5 = _rate(published, "any", 5)
    assert by5["suppressed"] and by5["children"] is None and by5["rate_per_1000"] is None
    assert by5["population"] == 39  # the denominator still shows
    aian = _rate(published, "any", 5, group_type="ethnicity", group="AIAN")
    assert aian["suppressed"] and aian["population"] == 1
    zero = _rate(published, "hospital", 1)
    assert not zero["suppressed"] and zero["children"] == 0  # a zero count is shown


def test_kaplan_meier_uses_the_censored_child():
    curves = cumulative_incidence(_children())
    any_all = curves.filter((pl.col("group_type") == "all") & (pl.col("source") == "any"))
    at = {r["age_months"]: r for r in any_all.iter_rows(named=True)}
    assert at[0]["cumulative_incidence"] == 0
    assert at[12]["cumulative_incidence"] == pytest.approx(1 / 40)
    # after c1 (400 days), c3 censored at 900 days: 1 - (39/40)(38/39)
    assert at[60]["cumulative_incidence"] == pytest.approx(1 - (39 / 40) * (38 / 39))
    assert at[60]["events"] == 2 and math.isfinite(at[60]["upper"])


def test_overlap_cells_sum_to_the_union():
    flags = list_flags(_children())
    overlap = overlap_table(flags)
    assert overlap.height == 8 and overlap["children"][0] is None
    cells = {(r["cp"], r["police_fv"], r["hospital"]): r["children"] for r in overlap.iter_rows(named=True)}
    assert cells[(True, False, False)] == 1 and cells[(False, True, True)] == 1
    assert overlap["children"].drop_nulls().sum() == 2
