"""Calibration of the synthetic NCANDS Child Files against CFSR R4 rules, section 2.3,
measured with the project's one implementation of the section 2.1 rules
(cmi_assets.cfsr.recurrence) on the files as written: default profile, scale 1."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cmi_assets.cfsr.recurrence import RecurrenceOptions, observed_recurrence
from cmi_assets.synthetic.ncands import write_ncands
from cmi_assets.synthetic.profile import load_profile

SEED = 20
DATE_COLUMNS = ("RPTDT", "INVDATE", "RPTDISDT", "CHBDATE", "INCIDDT")
NATIONAL_PERFORMANCE = 9.7  # percent, FY19-20 (section 2)
POOLED_TOLERANCE = 0.7
# Section 2.3, FY23-24: share of the denominator by age at initial victimization (percent).
AGE_MIX = {"0-3 mo": 9.6, "4-11 mo": 4.5, "1-5 y": 29.8, "6-10 y": 25.4, "11-16 y": 28.0, "17 y": 2.7}
AGE_MIX_TOLERANCE = 2.0
DESIGNED_DQ = {"KY", "OK", "MI"}


def read_submission(folder: Path, fy: int) -> pl.DataFrame:
    """All states' Child Files of one SUBYR, typed as the rules engine expects."""
    frames = [pl.read_csv(path, infer_schema=False) for path in sorted(folder.glob(f"ncands_child_*_FY{fy}.csv"))]
    return pl.concat(frames).with_columns(
        pl.col("SUBYR").cast(pl.Int64),
        pl.col("CHAGE").cast(pl.Int64),
        *(pl.col(c).str.to_date("%m%d%Y") for c in DATE_COLUMNS),
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ncands_calibration")
    write_ncands(out / "landing", out / "truth", load_profile("default"), 1.0, SEED, None)
    folder = out / "landing" / "child_protection"
    files = {fy: read_submission(folder, fy) for fy in range(2016, 2022)}
    return {fy: observed_recurrence(files[fy], files[fy + 1], fy, RecurrenceOptions()) for fy in range(2016, 2021)}


def age_mix(result) -> pl.DataFrame:
    cohort = result.audit.filter(pl.col("in_denominator"))
    return (
        cohort.group_by("age_group")
        .agg(pl.len().alias("n"), (pl.col("recur").mean() * 100).alias("rate"))
        .with_columns(share=pl.col("n") / pl.col("n").sum() * 100)
    )


def print_tables(fy: int, result) -> None:
    national = result.national.row(0, named=True)
    print(
        f"\n{result.by_state['period'][0]}: pooled over all states {national['observed_all_states'] * 100:.2f}%"
        f" (target {NATIONAL_PERFORMANCE} +/- {POOLED_TOLERANCE}), over DQ-passing states"
        f" {national['observed'] * 100:.2f}% ({national['n_states']} of {national['n_states_all']} pass)"
    )
    print("state  denominator  observed  dq")
    for row in result.by_state.iter_rows(named=True):
        observed = "" if row["observed"] is None else f"{row['observed'] * 100:.1f}%"
        print(f"{row['state']:<6} {row['denominator']:>11}  {observed:>8}  {row['dq_status']}")
    mix = {r["age_group"]: r for r in age_mix(result).iter_rows(named=True)}
    print("age group  share  target  rate")
    for group, target in AGE_MIX.items():
        print(f"{group:<9} {mix[group]['share']:>5.1f}  {target:>6.1f}  {mix[group]['rate']:>4.1f}%")


@pytest.mark.parametrize("fy", range(2016, 2021))
def test_pooled_recurrence_is_national_performance(results, fy):
    print_tables(fy, results[fy])
    pooled = results[fy].national["observed_all_states"][0] * 100
    assert abs(pooled - NATIONAL_PERFORMANCE) <= POOLED_TOLERANCE


@pytest.mark.parametrize("fy", range(2016, 2021))
def test_denominator_age_mix_is_section_2_3(results, fy):
    mix = age_mix(results[fy])
    for group, target in AGE_MIX.items():
        share = mix.filter(pl.col("age_group") == group)["share"].item()
        assert abs(share - target) <= AGE_MIX_TOLERANCE, group


@pytest.mark.parametrize("fy", range(2016, 2021))
def test_state_rates_spread_like_the_published_ones(results, fy):
    """Section 2.3: state rates 1.7 / 4.9 / 7.8 / 10.0 / 16.8% (min / Q1 / median / Q3 /
    max). With 16 small states the observed spread adds sampling noise."""
    observed = results[fy].by_state["observed"].drop_nulls() * 100
    assert 5.5 <= observed.median() <= 10.5
    assert observed.min() <= 4.0
    assert 12.0 <= observed.max() <= 25.0


def test_designed_dq_failures_and_enough_passing_states(results):
    """FY19-20 (files 2019 and 2020): KY fails check 1, MI check 2, OK check 3; at
    least 10 states pass."""
    result = results[2019]
    failed = {(r["state"], r["check"]) for r in result.dq.filter(pl.col("result") == "fail").iter_rows(named=True)}
    assert {("KY", 1), ("MI", 2), ("OK", 3)} <= failed
    passing = result.by_state.filter(pl.col("dq_status") == "pass")["state"].to_list()
    assert len(passing) >= 10
    assert not DESIGNED_DQ & set(passing)
