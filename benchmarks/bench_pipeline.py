"""The whole graph at one scale: a synthetic world, then every asset (sources to reports)
materialized through a real Dagster instance, stage by stage, the way `cmi demo` does it
(cmi_assets.demo.materialize_everything), with wall time, CPU time and peak memory per step.

Measures, in one process (the runs execute in process, so their steps are this process's):
  1. world generation, in a child process (its wall time, peak RSS, extract rows, person
     records): kept apart from the pipeline figures
  2. the pipeline: while it runs a sampler thread reads, every --interval seconds, the RSS of
     this process and its descendants (/proc) and the process's CPU time (user+sys, all
     threads, plus live descendants); afterwards each step's start and end are read from the
     instance's event log (STEP_START, STEP_SUCCESS/STEP_FAILURE), and a step's peak RSS is
     the largest sample inside that window, its CPU time the difference across it
  3. per step (one asset, or the assets of one multi-asset), summed over its partitions'
     runs: runs, wall s, CPU s, peak RSS; the total; the Dagster overhead outside steps

The machine is shared: wall times are inflated by other jobs; CPU time is the figure to
compare between scales (cost per record = CPU s per extract row).

usage: .venv/bin/python benchmarks/bench_pipeline.py --scale 0.1 [--seed 21] [--work-dir /tmp/cmi_pipeline_s0.1]
       [--memory-limit 8GB] [--threads 2] [--out /tmp/cmi_pipeline_s0.1.json]
       .venv/bin/python benchmarks/bench_pipeline.py --table /tmp/cmi_pipeline_s0.1.json /tmp/cmi_pipeline_s0.5.json
The second form prints the markdown table of BENCHMARKS.md ("The whole graph at scale").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


def _rss_and_cpu(pid: int) -> tuple[int, float]:
    """Resident bytes and user+sys seconds of one process (0 when it is gone)."""
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return rss, (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0, 0.0


class Sampler(threading.Thread):
    """(epoch seconds, RSS bytes of the process tree, CPU seconds of the process tree)."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval, self.samples, self.stopping = interval, [], threading.Event()

    def sample(self) -> None:
        own = os.getpid()
        rss, cpu = 0, 0.0
        for pid in [own, *_descendants(own)]:
            r, c = _rss_and_cpu(pid)
            rss, cpu = rss + r, cpu + c
        times = os.times()
        self.samples.append((time.time(), rss, cpu + times.children_user + times.children_system))

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sample()
            self.stopping.wait(self.interval)
        self.sample()


def generate(world: Path, profile: str, scale: float, seed: int) -> dict:
    """The world, generated in a child process so its memory is not the pipeline's."""
    started = time.monotonic()
    code = (
        "import json,sys; from cmi_assets.synthetic.world import generate_world; "
        f"print(json.dumps(generate_world({str(world)!r}, profile={profile!r}, scale={scale!r}, seed={seed!r}),"
        " default=str))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "seconds": time.monotonic() - started,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "summary": summary,
    }


def world_size(world: Path) -> dict:
    """Extract rows (every landed file's data lines) and bytes on disk."""
    rows = size = files = 0
    for path in (world / "landing").rglob("*"):
        if path.is_file():
            files += 1
            size += path.stat().st_size
            with path.open("rb") as handle:
                rows += max(sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b"")) - 1, 0)
    return {"extract_rows": rows, "files": files, "bytes": size}


def person_records(data_dir: Path) -> int | None:
    import duckdb

    try:
        con = duckdb.connect(str(data_dir / "identified.duckdb"), read_only=True)
    except duckdb.Error:
        return None
    try:
        return con.execute("select count(*) from linkage.person_records").fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def step_windows(instance) -> list[dict]:
    """Every step of every run in the instance: its key, assets, group, start, end, outcome."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
    }
    steps: list[dict] = []
    for run in instance.get_runs():
        open_steps: dict[str, dict] = {}
        for entry in instance.all_logs(run.run_id, of_type=kinds):
            event = entry.dagster_event
            key = event.step_key
            if event.event_type == dg.DagsterEventType.STEP_START:
                open_steps[key] = {"step": key, "run": run.run_id, "start": entry.timestamp, "assets": set()}
            elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and key in open_steps:
                open_steps[key]["assets"].add(event.asset_key.to_user_string())
            elif key in open_steps:
                step = open_steps.pop(key)
                step.update(end=entry.timestamp, ok=event.event_type == dg.DagsterEventType.STEP_SUCCESS)
                steps.append(step)
    return steps


def measure(args) -> dict:
    world = args.work_dir / "world"
    generation = None
    if not (world / "landing").exists():
        print(f"generating the {args.profile} world at scale {args.scale} into {world}", flush=True)
        generation = generate(world, args.profile, args.scale, args.seed)
        print(f"  {generation['seconds']:.0f} s", flush=True)
    size = world_size(world)

    os.environ["CMI_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    os.environ["CMI_DUCKDB_THREADS"] = str(args.threads)
    temp_dir = args.temp_dir or args.work_dir / "duckdb_tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CMI_DUCKDB_TEMP_DIR"] = str(temp_dir)
    from cmi_assets.demo import (
        StopRequests,
        ensure_pseudonym_key,
        materialize_everything,
        prepare_environment,
        register_landed_partitions,
        world_fiscal_years,
    )

    data_dir, _home = prepare_environment(args.work_dir)
    ensure_pseudonym_key(data_dir)
    for name, value in world_fiscal_years(args.profile).items():
        os.environ[name] = value
    import logging

    import dagster as dg

    from cmi_assets.definitions import defs as load_defs
    from cmi_assets.defs.run_recovery import fail_abandoned_runs
    from cmi_assets.storage import Storage

    logging.getLogger("splink").setLevel(logging.ERROR)
    defs = load_defs() if callable(load_defs) else load_defs
    graph = defs.resolve_asset_graph()
    groups = sorted({graph.get(k).group_name or "default" for k in graph.materializable_asset_keys})
    instance = dg.DagsterInstance.get()
    register_landed_partitions(instance, Storage.from_env().landing_dir)
    # as `cmi demo` does: a run killed earlier (--resume) would hold the duckdb_write slot for ever
    abandoned = fail_abandoned_runs(instance)
    if abandoned:
        print(f"marked {len(abandoned)} abandoned run(s) failed and freed their slots", flush=True)

    sampler = Sampler(args.interval)
    sampler.sample()
    started, cpu0 = time.time(), sampler.samples[0][2]
    sampler.start()
    # SIGINT/SIGTERM stops before the next run and the figures of the runs done are kept
    with StopRequests() as stop:
        done = materialize_everything(
            defs, instance, stop=stop, landing_dir=Storage.from_env().landing_dir, only_stale=args.resume
        )
    ended = time.time()
    sampler.stopping.set()
    sampler.join()
    samples = sampler.samples

    per_step: dict[str, dict] = {}
    for step in step_windows(instance):
        if step["start"] < started:  # a step of the run that --resume continues
            continue
        inside = [s for s in samples if step["start"] <= s[0] <= step["end"]]
        before = [s for s in samples if s[0] <= step["start"]]
        after = [s for s in samples if s[0] >= step["end"]]
        cpu = (after[0][2] if after else samples[-1][2]) - (before[-1][2] if before else samples[0][2])
        peak = max((s[1] for s in inside + before[-1:] + after[:1]), default=0)
        row = per_step.setdefault(
            step["step"],
            {
                "assets": set(),
                "group": None,
                "runs": 0,
                "failed": 0,
                "wall_s": 0.0,
                "cpu_s": 0.0,
                "peak_rss_bytes": 0,
            },
        )
        row["assets"] |= step["assets"]
        row["runs"] += 1
        row["failed"] += 0 if step["ok"] else 1
        row["wall_s"] += step["end"] - step["start"]
        row["cpu_s"] += max(cpu, 0.0)
        row["peak_rss_bytes"] = max(row["peak_rss_bytes"], peak)
    for row in per_step.values():
        names = sorted(row["assets"])
        row["assets"] = names
        keys = [dg.AssetKey.from_user_string(n) for n in names if graph.has(dg.AssetKey.from_user_string(n))]
        row["group"] = graph.get(keys[0]).group_name if keys else None
    return {
        "scale": args.scale,
        "seed": args.seed,
        "profile": args.profile,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
        "generation": generation,
        "world": {**size, "person_records": person_records(data_dir)},
        "groups": groups,
        "pipeline": {
            "wall_s": ended - started,
            "cpu_s": samples[-1][2] - cpu0,
            "peak_rss_bytes": max(s[1] for s in samples),
            "runs": done.runs,
            "failed": done.failed,
            "stopped_by": done.stopped_by,
        },
        "steps": per_step,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_end": os.getloadavg(),
    }


def gib(value: float) -> str:
    return f"{value / 1024**3:.2f}"


def table(paths: list[Path]) -> str:
    results = sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["scale"])
    lines = [
        "| scale | extract rows | person records | generation s | pipeline wall s | pipeline CPU s | peak RSS GiB"
        " | runs | failed | CPU µs per extract row |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        gen = r["generation"]["seconds"] if r["generation"] else float("nan")
        rows = r["world"]["extract_rows"]
        p = r["pipeline"]
        lines.append(
            f"| {r['scale']:g} | {rows:,} | {r['world']['person_records'] or 0:,} | {gen:.0f} | {p['wall_s']:.0f}"
            f" | {p['cpu_s']:.0f} | {gib(p['peak_rss_bytes'])} | {p['runs']} | {len(p['failed'])}"
            f" | {p['cpu_s'] / rows * 1e6:.1f} |"
        )
    steps = sorted(
        {s for r in results for s in r["steps"]},
        key=lambda s: -max(r["steps"].get(s, {}).get("cpu_s", 0) for r in results),
    )
    head = "| step (assets) | group | " + " | ".join(f"runs, wall s, CPU s, peak GiB @{r['scale']:g}" for r in results)
    if len(results) > 1:
        head += f" | CPU per row @{results[-1]['scale']:g} / @{results[0]['scale']:g}"
    lines += ["", head + " |", "|---|---|" + "---:|" * (len(results) + (len(results) > 1))]
    for s in steps:
        first = next(r["steps"][s] for r in results if s in r["steps"])
        label = s if len(first["assets"]) <= 1 else f"{s} ({len(first['assets'])} assets)"
        cells = []
        for r in results:
            row = r["steps"].get(s)
            cells.append(
                "-"
                if row is None
                else f"{row['runs']}, {row['wall_s']:.1f}, {row['cpu_s']:.1f}, {gib(row['peak_rss_bytes'])}"
                + (f" ({row['failed']} failed)" if row["failed"] else "")
            )
        if len(results) > 1:
            lo, hi = results[0]["steps"].get(s), results[-1]["steps"].get(s)
            if lo and hi and lo["cpu_s"] > 0.5:
                ratio = (hi["cpu_s"] / results[-1]["world"]["extract_rows"]) / (
                    lo["cpu_s"] / results[0]["world"]["extract_rows"]
                )
                cells.append(f"{ratio:.2f}")
            else:
                cells.append("-")
        lines.append(f"| {label} | {first['group']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--work-dir", type=Path, default=None, help="default /tmp/cmi_pipeline_s<scale>")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB's memory limit (CMI_DUCKDB_MEMORY_LIMIT)")
    parser.add_argument(
        "--temp-dir", type=Path, default=None, help="DuckDB's spill folder (default <work-dir>/duckdb_tmp)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a run that stopped: keep the work dir's world, zones and instance and materialize only "
        "what is stale; the figures are those of the steps this run executes",
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between memory samples")
    parser.add_argument("--out", type=Path, default=None, help="default /tmp/cmi_pipeline_s<scale>.json")
    parser.add_argument("--table", type=Path, nargs="+", help="print the markdown table of these results")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.scale is None:
        parser.error("--scale is required (or --table)")
    args.work_dir = (args.work_dir or Path(f"/tmp/cmi_pipeline_s{args.scale:g}")).resolve()
    args.out = args.out or Path(f"/tmp/cmi_pipeline_s{args.scale:g}.json")
    result = measure(args)
    args.out.write_text(json.dumps(result, indent=1, default=sorted))
    print(table([args.out]))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
