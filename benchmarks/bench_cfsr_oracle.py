"""The CFSR recurrence counts against the independent oracle at full volume: every
DQ-passing state-period of the default and national profiles, the project's
observed_recurrence beside cmi_assets_tests/cfsr/independent_rules.py (written from the
rules document alone).

    .venv/bin/python benchmarks/bench_cfsr_oracle.py [--runs default:1 national:1] [--seed 20240601]

Prints one line per profile and scale: cohorts, state-periods compared, DQ-passing ones,
disagreements (listed). The CI test (cmi_assets_tests/cfsr/test_independent_rules.py) runs
the same comparison at small scales.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmi_assets.synthetic.ncands import write_ncands  # noqa: E402
from cmi_assets.synthetic.profile import load_profile  # noqa: E402
from cmi_assets_tests.cfsr.test_independent_rules import compare_with_the_oracle, read_submission  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["default:1", "national:1"], help="profile:scale")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    for run in args.runs:
        name, scale = run.split(":")
        with tempfile.TemporaryDirectory(prefix="cfsr_oracle_") as tmp:
            root = Path(tmp)
            write_ncands(root / "landing", root / "truth", load_profile(name), float(scale), args.seed, None)
            folder = root / "landing" / "child_protection"
            years = sorted({int(p.stem.rsplit("_FY", 1)[1]) for p in folder.glob("ncands_child_*_FY*.csv")})
            by_fy = {fy: read_submission(folder, fy) for fy in years}
            rows = sum(frame.height for frame in by_fy.values())
            started = time.perf_counter()
            compared = compare_with_the_oracle(by_fy)
            seconds = time.perf_counter() - started
        print(
            f"| {name} | {scale} | {rows:,} | {', '.join(f'FY{fy}' for fy in compared['cohorts'])} | {compared['total']} | "
            f"{compared['passing']} | {len(compared['dq_periods'])} | {len(compared['problems'])} | {seconds:.0f} |",
            flush=True,
        )
        for problem in compared["problems"]:
            print(f"  - {problem}")


if __name__ == "__main__":
    main()
