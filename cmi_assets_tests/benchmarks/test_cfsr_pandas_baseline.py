"""The pandas baseline of the benchmark (benchmarks/cfsr_pandas_baseline.py), written
independently of the polars engine, agrees with it state by state on generated
multi-state Child Files: the synthetic NCANDS world (every edge case, scripted DQ
states) and the benchmark's national-shape files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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


def _agree(file_t: pl.DataFrame, file_t1: pl.DataFrame, fy: int) -> pl.DataFrame:
    ours = observed_recurrence(file_t, file_t1, fy).by_state.select("state", "denominator", "numerator", "dq_status")
    theirs = pl.from_pandas(baseline.recurrence_counts_pandas(file_t.to_pandas(), file_t1.to_pandas(), fy))
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
            pl.col("SUBYR").cast(pl.Int64), pl.col("CHAGE").cast(pl.Int64),
            *(pl.col(c).str.to_date("%m%d%Y") for c in ("RPTDT", "CHBDATE", "INCIDDT")),
        ).select(list(CHILD_FILE_SCHEMA))  # fmt: skip

    return {fy: read(fy) for fy in (2018, 2019, 2020, 2021)}


@pytest.mark.parametrize("fy", [2018, 2019, 2020])
def test_pandas_baseline_agrees_on_the_synthetic_ncands_world(ncands_files, fy):
    ours = _agree(ncands_files[fy], ncands_files[fy + 1], fy)
    assert ours.height == 16 and ours["denominator"].sum() > 1000
    if fy == 2019:  # the scripted DQ states are DQ in both implementations
        assert set(ours.filter(pl.col("dq_status") == "DQ")["state"]) >= {"KY", "MI", "OK"}


def test_pandas_baseline_agrees_on_the_benchmark_files(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # bench_cfsr imports the baseline as a script does
    bench = _load("bench_cfsr")
    file_t, file_t1 = bench.national_child_files(40_000, 2019)
    _agree(file_t, file_t1, 2019)
