"""Scale benchmark: the CFSR R4 recurrence indicator at national volume.

Builds two NCANDS Child File sets (52 states, ~3.5 M report-child rows each) with
vectorised numpy draws, then times `observed_recurrence` (DQ checks included).

    cd /work/main && .venv/bin/python benchmarks/bench_cfsr.py [--rows 3500000] [--repeat 1] [--no-pandas]

It then runs the straightforward pandas implementation of the same rules
(benchmarks/cfsr_pandas_baseline.py) on the same files, checks that both give the same
denominator, numerator and DQ status for every state, and prints the time ratio.

The frames are plain and synthetic (no identities): random IDs, dates and codes with
the shape the rules care about (re-reports inside 14 days, follow-ups in file t+1,
duplicates across files, unborn/adult/unknown ages, DQ-failing states).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import polars as pl

from cmi_assets.cfsr.recurrence import CHILD_FILE_SCHEMA, RecurrenceOptions, observed_recurrence
from cmi_assets.cfsr.rsp import risk_standardized_performance
from cmi_assets.synthetic.profile import component_rng

try:  # run as a script (benchmarks/ on sys.path) or imported from the repo root
    from cfsr_pandas_baseline import recurrence_counts_pandas
except ImportError:  # pragma: no cover
    from benchmarks.cfsr_pandas_baseline import recurrence_counts_pandas

STATES = [f"S{i:02d}" for i in range(52)]


def national_child_files(rows_per_file: int, fy: int, seed: int = 20260101) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Files SUBYR fy and fy+1 with children shared across years."""
    rng = component_rng(seed, "bench_cfsr")
    state_weights = rng.dirichlet(np.full(len(STATES), 2.0))
    children_per_state = np.maximum((state_weights * rows_per_file * 0.6).astype(np.int64), 50)
    epoch = dt.date(1970, 1, 1)
    fy_start = (dt.date(fy - 1, 10, 1) - epoch).days

    def one_file(subyr: int, start_day: int) -> pl.DataFrame:
        n = rows_per_file
        state = rng.choice(len(STATES), size=n, p=state_weights)
        child = (rng.random(n) * children_per_state[state]).astype(np.int64)
        # Report dates: mostly inside the file's FY, some earlier (disposed late); a
        # share are re-reports a few days after another report of the same child.
        report_day = start_day + rng.integers(-60, 365, size=n)
        child_birth_day = fy_start - ((child * 7919 + state * 104729) % (18 * 365)) + 200
        level = rng.choice(["1", "2", "3", "5", "7"], size=n, p=[0.17, 0.05, 0.13, 0.6, 0.05])
        chage = np.floor((report_day - child_birth_day) / 365.25).astype(np.int64)
        chage = np.where(chage < 0, 77, chage)
        chage = np.where(rng.random(n) < 0.01, 99, chage)
        incident_day = np.where(rng.random(n) < 0.5, report_day - rng.integers(0, 10, size=n), -100000)
        frame = pl.DataFrame(
            {
                "SUBYR": np.full(n, subyr),
                "STATERR": np.asarray(STATES)[state],
                "RPTID": np.arange(n) + subyr * 10_000_000,
                "CHID": child,
                "RPTDT": report_day,
                "CHAGE": chage,
                "CHBDATE": child_birth_day,
                "CHSEX": np.where(child % 2 == 0, "1", "2"),
                "MAL1LEV": level,
                "MALDEATH": np.where(rng.random(n) < 0.001, "1", "2"),
                "INCIDDT": incident_day,
            }
        )
        return frame.with_columns(
            pl.col("RPTID").cast(pl.String),
            pl.col("CHID").cast(pl.String),
            pl.col("RPTDT").cast(pl.Date),
            pl.col("CHBDATE").cast(pl.Date),
            pl.when(pl.col("INCIDDT") > 0).then(pl.col("INCIDDT")).cast(pl.Date).alias("INCIDDT"),
            MAL2LEV=pl.lit(None, pl.String),
            MAL3LEV=pl.lit(None, pl.String),
            MAL4LEV=pl.lit(None, pl.String),
        ).select(list(CHILD_FILE_SCHEMA))

    file_t = one_file(fy, fy_start)
    file_t1 = one_file(fy + 1, fy_start + 365)
    # 1% of file t re-submitted in file t+1 (step 2 duplicates).
    resubmitted = file_t.sample(fraction=0.01, seed=seed).with_columns(SUBYR=pl.lit(fy + 1, pl.Int64))
    file_t1 = pl.concat([file_t1, resubmitted]).cast(CHILD_FILE_SCHEMA)
    return file_t.cast(CHILD_FILE_SCHEMA), file_t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_500_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--fy", type=int, default=2019)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    args = parser.parse_args()

    started = time.perf_counter()
    file_t, file_t1 = national_child_files(args.rows, args.fy)
    print(f"built files: {file_t.height:,} + {file_t1.height:,} rows in {time.perf_counter() - started:.1f} s")
    for options in (RecurrenceOptions(), RecurrenceOptions(chained_14_day=True)):
        for _ in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = observed_recurrence(file_t, file_t1, args.fy, options)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            national = result.national.row(0, named=True)
            print(
                f"observed_recurrence chained_14_day={options.chained_14_day}: {elapsed:.1f} s wall, {cpu:.1f} s CPU; "
                f"{national['n_states']} states pass DQ, denominator {national['denominator_all']:,}, "
                f"pooled observed {national['observed_all_states']:.4f}"
            )
    if not args.no_pandas:
        compare_with_pandas(file_t, file_t1, args.fy, args.repeat)
    started = time.perf_counter()
    rsp = risk_standardized_performance(result)
    print(
        f"risk_standardized_performance: {time.perf_counter() - started:.1f} s; sigma {rsp.fit.sigma:.3f}, "
        f"status counts {dict(rsp.by_state.group_by('status').len().iter_rows())}"
    )


def compare_with_pandas(file_t: pl.DataFrame, file_t1: pl.DataFrame, fy: int, repeat: int) -> None:
    """Time the pandas baseline on the same files (conversion to pandas not timed) and
    check per-state agreement with the polars engine (default options)."""
    ours_times = []
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        ours = observed_recurrence(file_t, file_t1, fy, RecurrenceOptions())
        ours_times.append(time.perf_counter() - started)
    pandas_t, pandas_t1 = file_t.to_pandas(), file_t1.to_pandas()
    pandas_times = []
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        theirs = recurrence_counts_pandas(pandas_t, pandas_t1, fy)
        pandas_times.append(time.perf_counter() - started)
    joined = ours.by_state.select("state", "denominator", "numerator", "dq_status").join(
        pl.from_pandas(theirs), on="state", how="full", suffix="_pandas"
    )
    differing = joined.filter(
        (pl.col("denominator") != pl.col("denominator_pandas")).fill_null(True)
        | (pl.col("numerator") != pl.col("numerator_pandas")).fill_null(True)
        | (pl.col("dq_status") != pl.col("dq_status_pandas")).fill_null(True)
    )
    ours_best, pandas_best = min(ours_times), min(pandas_times)
    print(
        f"pandas baseline: {pandas_best:.1f} s vs polars {ours_best:.1f} s (best of {len(ours_times)}): "
        f"polars is {pandas_best / ours_best:.1f}x faster; states agreeing on denominator, numerator and DQ "
        f"status: {joined.height - differing.height} of {joined.height}"
    )
    if differing.height:
        print(differing)
        raise SystemExit("pandas baseline and polars engine disagree")


if __name__ == "__main__":
    main()
