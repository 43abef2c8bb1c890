"""Generation speed and peak memory of the synthetic world at three scales.

Each scale runs in a fresh subprocess (so peak RSS is that run's own), writes to a
temporary folder and reports rows written per second and peak resident memory. Usage:
    .venv/bin/python benchmarks/bench_synthetic.py [scale ...]     (default 0.01 0.1 1)
Prints a markdown table."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from cmi_assets.synthetic.world import generate_world
started = time.perf_counter()
summary = generate_world(Path(sys.argv[2]), scale=float(sys.argv[1]), seed=0)
seconds = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"summary": summary, "seconds": seconds, "peak_mb": peak_mb}))
"""


def run(scale: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(scale), folder], capture_output=True, text=True, check=True
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["mb_on_disk"] = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20
    return result


def main() -> None:
    scales = [float(s) for s in sys.argv[1:]] or [0.01, 0.1, 1.0]
    print("| scale | births (study window) | rows written | files | seconds | rows/s | peak RSS (MB) | on disk (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for scale in scales:
        r = run(scale)
        s = r["summary"]
        rows = sum(s["rows"].values()) + (s["ncands"]["rows"] if isinstance(s.get("ncands"), dict) else 0)
        files = sum(s["files"].values())
        print(
            f"| {scale} | {s['births']:,} | {rows:,} | {files} | {r['seconds']:.1f} | {rows / r['seconds']:,.0f} | {r['peak_mb']:,.0f} | {r['mb_on_disk']:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
