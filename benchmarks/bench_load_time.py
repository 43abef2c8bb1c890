"""How long loading the cmi_assets code location takes (the webserver and the daemon pay
this on every reload), against importing dagster alone in the same run.

    .venv/bin/python benchmarks/bench_load_time.py --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

LOAD = "from cmi_assets.definitions import defs; d = defs(); d.resolve_asset_graph()"
BASELINE = "import dagster"
HEAVY = (
    "import sys; "
    + LOAD
    + "; print(','.join(m for m in ('splink','great_expectations','sklearn','statsmodels') if m in sys.modules))"
)


def timed(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    timed(LOAD)  # warm the file cache
    load = [timed(LOAD) for _ in range(args.repeat)]
    base = [timed(BASELINE) for _ in range(args.repeat)]
    heavy = subprocess.run([sys.executable, "-c", HEAVY], check=True, capture_output=True, text=True).stdout.strip()
    print("| measure | median s | min s |")
    print("|---|---|---|")
    print(f"| load code location (python -c, {args.repeat} runs) | {statistics.median(load):.2f} | {min(load):.2f} |")
    print(f"| import dagster alone (baseline) | {statistics.median(base):.2f} | {min(base):.2f} |")
    print(f"| code location minus baseline | {statistics.median(load) - statistics.median(base):.2f} | |")
    print(f"\nheavy libraries imported at load: {heavy or 'none'}")


if __name__ == "__main__":
    main()
