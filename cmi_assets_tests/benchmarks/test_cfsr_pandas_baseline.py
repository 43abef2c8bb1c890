"""Both pandas baselines of the benchmark (benchmarks/cfsr_pandas_baseline.py: the
vectorised one and the straightforward per-child loop), written independently of the
polars engine, agree with it state by state (denominator, numerator, DQ status) on
generated multi-state Child Files: the synthetic NCANDS world (every edge case,
scripted DQ states) and the benchmark's national-shape files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from cmi_assets.cfsr.recurrence import CHILD_FILE_SCHEMA, observed_recurrence
from cmi_assets.synthetic.ncands import write_ncands
from cmi_assets.synthetic.profile import load_profile

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baseline = _load("cfsr_pandas_baseline")


IMPLEMENTATIONS = ["vectorised", "straightforward"]


def _agree(file_t: pl.DataFrame, file_t1: pl.DataFrame, fy: int, implementation: str) -> pl.DataFrame:
    ours = observed_recurrence(file_t, file_t1, fy).by_state.select("state", "denominator", "numerator", "dq_status")
    counts = getattr(baseline, f"recurrence_counts_pandas_{implementation}")
    theirs = pl.from_pandas(counts(file_t.to_pandas(), file_t1.to_pandas(), fy))
    assert sorted(ours["state"]) == sorted(theirs["state"])
    assert ours.sort("state").to_dicts() == theirs.sort("state").to_dicts()
    return ours


@pytest.fixture(scope="module")
def ncands_files(tmp_path_factory) -> dict[int, pl.DataFrame]:
    out = tmp_path_factory.mktemp("ncands_pandas")
    write_ncands(out / "landing", out / "truth", load_profile("default"), 0.2, 5, None)

    def read(fy: int) -> pl.DataFrame:
        paths = sorted((out / "landing" / "child_protection").glob(f"ncands_child_*_FY{fy}.csv"))
        frame = pl.concat([pl.read_csv(p, infer_schema=False) for p in paths])
        return frame.with_columns(
            pl.col("SUBYR").cast(pl.Int64),
            pl.col("CHAGE").cast(pl.Int64),
            *(pl.col(c).str.to_date("%m%d%Y") for c in ("RPTDT", "CHBDATE", "INCIDDT")),
        ).select(list(CHILD_FILE_SCHEMA))

    return {fy: read(fy) for fy in (2018, 2019, 2020, 2021)}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("fy", [2018, 2019, 2020])
def test_pandas_baseline_agrees_on_the_synthetic_ncands_world(ncands_files, fy, implementation):
    ours = _agree(ncands_files[fy], ncands_files[fy + 1], fy, implementation)
    assert ours.height == 16 and ours["denominator"].sum() > 1000
    if fy == 2019:  # the scripted DQ states are DQ in both implementations
        assert set(ours.filter(pl.col("dq_status") == "DQ")["state"]) >= {"KY", "MI", "OK"}


@pytest.mark.parametrize(("implementation", "rows"), [("vectorised", 40_000), ("straightforward", 12_000)])
def test_pandas_baseline_agrees_on_the_benchmark_files(monkeypatch, implementation, rows):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # bench_cfsr imports the baselines as a script does
    bench = _load("bench_cfsr")
    file_t, file_t1 = bench.national_child_files(rows, 2019)  # the loop is slow: fewer rows
    ours = _agree(file_t, file_t1, 2019, implementation)
    assert ours.height == len(bench.STATES) and ours["numerator"].sum() > 0


def test_straightforward_child_outcome_follows_the_rules_record_by_record():
    """Section 2.1 steps 5-11 on one child's records, in date order."""
    window_start, period_end = baseline.cohort_dates(2019)
    columns = ["RPTID", "RPTDT", "CHAGE", "CHBDATE", "INCIDDT"]

    def outcome(*records):
        frame = pd.DataFrame(records, columns=columns)
        for column in ("RPTDT", "CHBDATE", "INCIDDT"):
            frame[column] = pd.to_datetime(frame[column])
        return baseline.child_outcome(frame.itertuples(index=False), window_start, period_end)

    dob = "2010-01-01"
    assert outcome(("1", "2018-11-01", 8, dob, None), ("2", "2018-11-15", 8, dob, None)) == (True, False)  # d = 14
    assert outcome(("1", "2018-11-01", 8, dob, None), ("2", "2018-11-16", 8, dob, None)) == (True, True)  # d = 15
    assert outcome(("1", "2018-11-01", 8, dob, None), ("2", "2019-11-01", 9, dob, None)) == (True, True)  # d = 365
    assert outcome(("1", "2018-11-01", 8, dob, None), ("2", "2019-11-02", 9, dob, None)) == (True, False)  # d = 366
    # Step 10: a same-incident follow-up is dropped and a later one still counts.
    same = ("2", "2018-12-20", 8, dob, "2018-10-30")
    assert outcome(("1", "2018-11-01", 8, dob, "2018-10-30"), same) == (True, False)
    assert outcome(("1", "2018-11-01", 8, dob, "2018-10-30"), same, ("3", "2019-02-01", 9, dob, None)) == (True, True)
    # Step 5: no look-back; step 7: the initial report must fall in the cohort year.
    assert outcome(("0", "2018-09-01", 8, dob, None), ("1", "2018-11-01", 8, dob, None)) == (True, False)
    assert outcome(("1", "2019-10-01", 9, dob, None)) == (False, False)
    # Step 6: the 18th birthday ends counting; step 8: unborn, and ChAge 0 without DOB.
    born = "2001-03-01"
    assert outcome(("1", "2018-11-01", 17, born, None), ("2", "2019-03-01", 18, born, None)) == (True, False)
    assert outcome(("1", "2018-11-01", 77, None, None), ("2", "2019-03-01", 0, None, None)) == (False, False)
    assert outcome(("1", "2018-11-01", 0, None, None)) == (False, False)
    assert outcome(("1", "2018-11-01", 3, None, None)) == (True, False)
