"""Benchmark: NCANDS Child Files for the national profile (52 states) over two fiscal
years, at scale 0.1 and 1. Each scale runs in its own process so that peak RSS
(resource.getrusage) belongs to that run alone. Prints a markdown table.

    .venv/bin/python benchmarks/bench_ncands.py [--scales 0.1 1] [--out /tmp/bench_ncands]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FISCAL_YEARS = {"first": 2019, "last": 2020}


def run_one(scale: float, out: Path) -> dict:
    from cmi_assets.synthetic.ncands import write_ncands
    from cmi_assets.synthetic.profile import load_profile

    profile = load_profile("national")
    profile["ncands"]["fiscal_years"] = dict(FISCAL_YEARS)
    start = time.perf_counter()
    summary = write_ncands(out / "landing", out / "truth", profile, scale, seed=1, home_reports=None)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"scale": scale, "seconds": seconds, "peak_rss_mib": peak_mib, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.out)))
        return
    rows = []
    for scale in args.scales:
        out = Path(tempfile.mkdtemp(prefix="bench_ncands_")) if args.out is None else args.out / f"scale_{scale}"
        try:
            result = subprocess.run(
                [sys.executable, __file__, "--child", str(scale), "--out", str(out)],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        finally:
            if args.out is None:
                shutil.rmtree(out, ignore_errors=True)
    print(f"NCANDS Child Files, national profile (52 states), FY{FISCAL_YEARS['first']}-FY{FISCAL_YEARS['last']}\n")
    print("| scale | files | rows | rows/FY | seconds | rows/s | peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per_fy = r["rows"] / max(len(r["rows_by_fy"]), 1)
        print(
            f"| {r['scale']:g} | {r['files']} | {r['rows']:,} | {per_fy:,.0f} | {r['seconds']:.1f} "
            f"| {r['rows'] / r['seconds']:,.0f} | {r['peak_rss_mib']:,.0f} |"
        )


if __name__ == "__main__":
    main()
