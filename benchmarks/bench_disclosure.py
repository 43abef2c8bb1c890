"""Disclosure control over every published table of the demo world: the reader of
cmi_assets_tests/publish/attacker.py, given the whole open data package at once (community
indicators, CFSR recurrence by state and pooled, incidence rates, with the counts they share),
tries to pin each hidden count. The reader sees what the CSVs show (suppression_reason is not
published, so a hidden count is 0 to its population); a second line reports a reader also told
which hidden cells are primary (1 to SUPPRESS_BELOW - 1), for comparison.

    cd /work/main && .venv/bin/python benchmarks/bench_disclosure.py [--data-dir data] [--run-demo] \\
        [--contrast]

The tables are those `cmi publish` writes (cmi_assets/publish/package.py published_frames: the
warehouse's tables after each group's own suppression, protected together). The truth of each
hidden count comes from the warehouse before suppression: the community table as
community_indicators builds it (community.table.indicator_table), the incidence rates as
incidence_rates computes them (incidence.rates on incidence.sources.cohort_children), the CFSR
counts from cfsr.recurrence_by_state and cfsr.recurrence_national (they keep every numerator of
a state of 11 children or more; a smaller state's is unknown here and the margins through it
are left out, which weakens the reader). `--run-demo` runs `cmi demo --data-dir DIR` first (the
default world: profile demo, scale 0.02, seed 7); `--contrast` also reads the tables with
primary suppression only, where the reader should pin cells. Prints one line per table and the
totals; nothing is written to the data folder (the warehouse is opened read-only).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cmi_assets.community.geography import home_state  # noqa: E402
from cmi_assets.community.indicators import FEATURE_COLUMNS  # noqa: E402
from cmi_assets.community.rates import KEY  # noqa: E402
from cmi_assets.community.table import indicator_table  # noqa: E402
from cmi_assets.incidence.rates import incidence_rates  # noqa: E402
from cmi_assets.incidence.schema import RATES_COLUMNS, conform  # noqa: E402
from cmi_assets.incidence.sources import cohort_children  # noqa: E402
from cmi_assets.linkage.tables import LEVELS  # noqa: E402
from cmi_assets.publish.disclosure import SUPPRESS_BELOW, apply_reasons, primary_mask  # noqa: E402
from cmi_assets.publish.package import published_frames  # noqa: E402
from cmi_assets.publish.tables import CFSR_HIDE, INCIDENCE_HIDE, cfsr_table, incidence_table  # noqa: E402
from cmi_assets_tests.publish.attacker import as_published, recovered_in_package  # noqa: E402

COUNT = {"community": "count", "cfsr": "numerator", "incidence": "children"}
POPULATION = {"community": "population", "cfsr": "denominator", "incidence": "population"}
INCIDENCE_KEY = ["linkage_level", "birth_year", "source", "measure", "age", "group_type", "group"]
CFSR_KEY = ["period_fy", "area"]


def _aligned(published: pl.DataFrame, truth: pl.DataFrame, key: list[str], count: str) -> pl.DataFrame:
    """The truth's count in the published table's row order (joined on the key)."""
    joined = published.select(key).join(
        truth.select(*key, pl.col(count).alias("_true")), on=key, how="left", nulls_equal=True, maintain_order="left"
    )
    assert joined.height == published.height, "the truth has the published table's rows once each"
    return published.with_columns(joined["_true"].alias(count))


def truths(con, published: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    out = {}
    if "community" in published:
        years = sorted(r[0] for r in con.execute("select distinct birth_year from events.birth").fetchall())
        columns = ", ".join(["person_key", "birth_year", "linkage_level", *FEATURE_COLUMNS])
        features = con.execute(f"select {columns} from cohorts.features").pl()
        recurrence = con.execute("select * from cfsr.recurrence_by_state").pl()
        before = indicator_table(con, home_state(), years, LEVELS, features, recurrence)
        out["community"] = _aligned(published["community"], before, list(KEY), "count")
    if "incidence" in published:
        parts = []
        for year in sorted(published["incidence"]["birth_year"].unique().to_list()):
            for level in LEVELS:
                rates = incidence_rates(cohort_children(con, int(year), level))
                tag = [pl.lit(level).alias("linkage_level"), pl.lit(int(year)).alias("birth_year")]
                parts.append(conform(rates.with_columns(*tag, pl.lit(False).alias("suppressed")), RATES_COLUMNS))
        out["incidence"] = _aligned(
            published["incidence"], incidence_table(pl.concat(parts)), INCIDENCE_KEY, "children"
        )
    if "cfsr" in published:
        by_state = con.execute("select * from cfsr.recurrence_by_state").pl()
        national = con.execute("select * from cfsr.recurrence_national").pl()
        out["cfsr"] = _aligned(published["cfsr"], cfsr_table(by_state, national), CFSR_KEY, "numerator")
    return out


def primary_only(con) -> dict[str, pl.DataFrame]:
    """The same tables with each group's own suppression and every small count hidden, and
    nothing more."""
    from cmi_assets.community.schema import INDICATOR_COLUMNS, INDICATORS_TABLE

    tables = {
        "community": con.execute(f"select {', '.join(c[0] for c in INDICATOR_COLUMNS)} from {INDICATORS_TABLE}").pl(),
        "cfsr": cfsr_table(
            con.execute("select * from cfsr.recurrence_by_state").pl(),
            con.execute("select * from cfsr.recurrence_national").pl(),
        ),
        "incidence": incidence_table(con.execute("select * from incidence.rates").pl()),
    }
    hide = {"community": ("count", "rate_per_1000"), "cfsr": CFSR_HIDE, "incidence": INCIDENCE_HIDE}
    out = {}
    for name, frame in tables.items():
        # primary only: the community table's own complementary cells are shown again
        reason = np.where(primary_mask(frame[COUNT[name]].to_numpy(), frame[POPULATION[name]].to_numpy()), 1, 0)
        stored = frame["suppression_reason"].to_numpy() == "primary"
        out[name] = apply_reasons(frame, np.where(stored, 1, reason), hide[name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--run-demo", action="store_true")
    parser.add_argument("--contrast", action="store_true")
    args = parser.parse_args()
    if args.run_demo:
        started = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "cmi"), "demo", "--data-dir", str(args.data_dir), "--quiet"],
                       check=True)  # fmt: skip
        print(f"cmi demo: {time.perf_counter() - started:.0f} s")
    import duckdb

    con = duckdb.connect(str(args.data_dir / "warehouse.duckdb"), read_only=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"threshold: {SUPPRESS_BELOW}")
    started = time.perf_counter()
    published = published_frames(con)
    protect_seconds = time.perf_counter() - started
    print(f"protect_together: {protect_seconds:.1f} s")
    started = time.perf_counter()
    truth = truths(con, published)
    print(f"truth rebuilt: {time.perf_counter() - started:.1f} s")
    missing = {n: int(t[COUNT[n]].is_null().sum()) for n, t in truth.items()}
    started = time.perf_counter()
    # the reader of the CSVs: suppression_reason is not published
    recovered = recovered_in_package({n: (as_published(published[n]), truth[n]) for n in published}, SUPPRESS_BELOW)
    attack_seconds = time.perf_counter() - started
    insider = recovered_in_package({n: (published[n], truth[n]) for n in published}, SUPPRESS_BELOW)
    for name, frame in published.items():
        print(
            f"{name}: {frame.height} cells, {int(frame['suppressed'].sum())} hidden, "
            f"{missing[name]} without a known truth, recovered {len(recovered[name])}"
        )
    total = sum(len(v) for v in recovered.values())
    cells = sum(f.height for f in published.values())
    hidden = sum(int(f["suppressed"].sum()) for f in published.values())
    print(f"all tables together: {cells} cells, {hidden} hidden, recovered {total}; attacker {attack_seconds:.1f} s")
    print(
        "a reader also told which hidden cells are primary (not published): recovered "
        f"{ {n: len(v) for n, v in insider.items()} }"
    )
    if args.contrast:
        started = time.perf_counter()
        weak = primary_only(con)
        leaked = recovered_in_package({n: (as_published(weak[n]), truth[n]) for n in weak}, SUPPRESS_BELOW)
        print(
            f"primary suppression only: {sum(int(f['suppressed'].sum()) for f in weak.values())} hidden, recovered "
            f"{ {n: len(v) for n, v in leaked.items()} }; {time.perf_counter() - started:.1f} s"
        )
    con.close()
    if total:
        raise SystemExit(f"{total} hidden cells recovered")


if __name__ == "__main__":
    main()
