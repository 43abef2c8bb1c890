"""The PRM on the default synthetic world: validation AUC against the oracle, and
calibration after prior correction (issue 4, "Done when": validation AUC within 0.02 of
the oracle AUC, calibration slope between 0.9 and 1.1).

    cd /work/main && .venv/bin/python benchmarks/bench_prm.py --data-dir /tmp/prm_world --scale 0.1 \\
        [--seed 21] [--min-training-positives 1000] [--max-pooled-cohorts 6] [--no-append]

The data dir is one `cmi demo --profile default --scale S --data-dir D` has materialized;
when it holds no cohort tables yet, the script builds it the same way (run_demo). Cohort
features built before the Box 2 health variables existed are rebuilt first (or always,
with --rebuild-cohorts). Then the whole prm group runs once on the demo's Dagster instance,
with prm_model's pooling from the command line (PrmModelConfig.min_training_positives:
earlier complete cohorts are pooled until the training cohorts hold this many children
with findings by age 2, at most --max-pooled-cohorts of them), and the script prints, and
appends to BENCHMARKS.md under "PRM on the default world", the validation AUC, the oracle
AUC on the same validation children, their difference, the calibration slope and
intercept after prior correction (on the whole training cohort population) and the
Table 1 row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cmi_assets.prm.settings import DEFAULT_MAX_POOLED_COHORTS, DEFAULT_MIN_TRAINING_POSITIVES  # noqa: E402

SECTION = "## PRM on the default world"
AUC_GAP_TARGET = 0.02
SLOPE_TARGET = (0.9, 1.1)


def machine() -> str:
    import dagster
    import duckdb
    import polars
    import sklearn
    import statsmodels

    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} vCPU{memory}, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, polars {polars.__version__}, dagster {dagster.__version__}, "
        f"statsmodels {statsmodels.__version__}, scikit-learn {sklearn.__version__}; load average {load:.1f} at the end"
    )


def cohorts_state(data_dir: Path) -> tuple[bool, bool]:
    """(cohort tables exist, the features carry the Box 2 variables)."""
    import duckdb

    path = data_dir / "warehouse.duckdb"
    if not path.exists():
        return False, False
    with duckdb.connect(str(path), read_only=True) as con:
        columns = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'cohorts' and table_name = 'features'"
            ).fetchall()
        ]
        has_outcomes = bool(
            con.execute(
                "select count(*) from information_schema.tables where table_schema = 'cohorts' and table_name = 'outcomes'"
            ).fetchone()[0]
        )
    return bool(columns) and has_outcomes, any(c.startswith("moh_") for c in columns)


def job_for(defs, name: str, selection):
    import dagster as dg

    return dg.Definitions(
        assets=list(defs.assets or []),
        asset_checks=list(defs.asset_checks or []),
        resources=dict(defs.resources or {}),
        jobs=[dg.define_asset_job(name, selection=selection)],
    ).resolve_job_def(name)


def rebuild_cohort_features(defs, instance, log) -> float:
    """cohort_features for every birth-year partition (Box 2 columns added)."""
    import dagster as dg

    started = time.monotonic()
    job = job_for(defs, "bench_prm__cohort_features", dg.AssetSelection.assets("cohort_features"))
    from cmi_assets.defs.cohorts.partitions import BIRTH_YEARS

    for key in BIRTH_YEARS.get_partition_keys():
        result = job.execute_in_process(
            instance=instance,
            partition_key=key,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if not result.success:
            raise SystemExit(f"cohort_features failed for birth year {key}")
    log(f"  rebuilt cohort_features for {len(BIRTH_YEARS.get_partition_keys())} birth years")
    return time.monotonic() - started


def run_prm_group(defs, instance, min_positives: int, max_pooled: int) -> float:
    import dagster as dg

    job = job_for(defs, "bench_prm__prm", dg.AssetSelection.groups("prm"))
    config = {"min_training_positives": min_positives, "max_pooled_cohorts": max_pooled}
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={
            "ops": {"prm_model": {"config": config}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
    )
    if not result.success:
        raise SystemExit("the prm group run failed; see the run in the Dagster UI")
    return time.monotonic() - started


def results(data_dir: Path) -> dict:
    import duckdb

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        table1 = con.execute("select * from prm.table1").pl()
        oracle = (
            con.execute("select * from prm.oracle").pl()
            if con.execute(
                "select count(*) from information_schema.tables where table_schema = 'prm' and table_name = 'oracle'"
            ).fetchone()[0]
            else None
        )
    if not table1.height or "auc_validation" not in table1.columns:
        raise SystemExit("prm.table1 has no validation AUC: prm_model found too few positives (see its notes)")
    return {"table1": table1, "oracle": oracle, "row": table1.row(0, named=True)}


def _value(row: dict, key: str, digits: int = 3) -> str:
    value = row.get(key)
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(args, measured: dict, seconds: dict) -> str:
    from cmi_assets.markdown import frame_markdown as md_table

    row = measured["row"]
    auc, oracle, gap = row.get("auc_validation"), row.get("oracle_auc_validation"), row.get("oracle_gap_validation")
    slope, intercept = row.get("calibration_slope"), row.get("calibration_intercept")
    gap_met = "met" if gap is not None and gap <= AUC_GAP_TARGET else "not met"
    slope_met = "met" if slope is not None and SLOPE_TARGET[0] <= slope <= SLOPE_TARGET[1] else "not met"
    command = (
        f".venv/bin/python benchmarks/bench_prm.py --data-dir {args.data_dir} --scale {args.scale} --seed {args.seed} "
        f"--min-training-positives {args.min_training_positives} --max-pooled-cohorts {args.max_pooled_cohorts}"
    )
    model_auc = row.get("auc_validation_with_oracle") or auc
    lines = [
        SECTION,
        "",
        f"`{command}` (default profile, scale {args.scale}, seed {args.seed}; measured {dt.date.today().isoformat()}).",
        "",
        f"**Machine**: {machine()}.",
        "",
        f"Model {row['model_sha12']}, trained on cohort(s) {row['training_cohort']} ({row['linkage_level']} linkage); "
        f"prm group run {seconds['prm']:.0f} s"
        + (f", cohort features rebuilt in {seconds['cohorts']:.0f} s" if seconds.get("cohorts") else "")
        + (f", world built in {seconds['build']:.0f} s" if seconds.get("build") else "")
        + ".",
        "",
        "| measure | value | target |",
        "|---|---:|---|",
        f"| validation AUC (DeLong 95% CI) | {_value(row, 'auc_validation')} ({_value(row, 'auc_ci_low')}-{_value(row, 'auc_ci_high')}) | |",
        f"| oracle AUC, same validation children (95% CI) | {_value(row, 'oracle_auc_validation')} "
        f"({_value(row, 'oracle_ci_low')}-{_value(row, 'oracle_ci_high')}) | |",
        f"| oracle AUC - model AUC (same children) | {'n/a' if gap is None else f'{gap:.3f}'} | <= {AUC_GAP_TARGET} ({gap_met}) |",
        f"| share of validation children with an oracle risk | {_value(row, 'oracle_coverage_validation')} | |",
        f"| calibration slope after prior correction (training cohort population) | {'n/a' if slope is None else f'{slope:.3f}'} "
        f"| {SLOPE_TARGET[0]}-{SLOPE_TARGET[1]} ({slope_met}) |",
        f"| calibration intercept after prior correction | {'n/a' if intercept is None else f'{intercept:.3f}'} | 0 |",
        "",
        "Table 1 row (prm.table1):",
        "",
        md_table(measured["table1"], digits=4),
        "",
    ]
    if measured["oracle"] is not None and measured["oracle"].height:
        lines += [
            "Model and oracle AUC on the same children (prm.oracle):",
            "",
            md_table(measured["oracle"], digits=3),
            "",
        ]
    if model_auc is not None and oracle is not None and model_auc != auc:
        lines += [f"(The model's AUC on the validation children with an oracle risk is {model_auc:.3f}.)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=0.1, help="world scale when the data dir has to be built")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--min-training-positives",
        type=int,
        default=DEFAULT_MIN_TRAINING_POSITIVES,
        help="pool earlier complete cohorts until the training cohorts hold this many positives",
    )
    parser.add_argument("--max-pooled-cohorts", type=int, default=DEFAULT_MAX_POOLED_COHORTS)
    parser.add_argument("--rebuild-cohorts", action="store_true", help="rebuild cohort_features even if Box 2 is there")
    parser.add_argument("--no-append", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--benchmarks-file", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args()
    args.data_dir = args.data_dir.resolve()
    log = print
    seconds: dict[str, float] = {}

    from cmi_assets.demo import ensure_pseudonym_key, prepare_environment, run_demo

    built, with_box2 = cohorts_state(args.data_dir)
    if not built:
        log(f"building the default world at scale {args.scale} in {args.data_dir} (cmi demo)")
        started = time.monotonic()
        run_demo(args.data_dir, args.scale, args.seed, profile="default", log=lambda *a: log(*a))
        seconds["build"] = time.monotonic() - started
        built, with_box2 = cohorts_state(args.data_dir)
    prepare_environment(args.data_dir)
    ensure_pseudonym_key(args.data_dir)

    import dagster as dg

    from cmi_assets.definitions import defs as load_defs

    defs = load_defs()
    instance = dg.DagsterInstance.get()
    if args.rebuild_cohorts or not with_box2:
        log("rebuilding cohort_features (with the Box 2 health variables)")
        seconds["cohorts"] = rebuild_cohort_features(defs, instance, log)
    log("materializing the prm group")
    seconds["prm"] = run_prm_group(defs, instance, args.min_training_positives, args.max_pooled_cohorts)
    text = markdown(args, results(args.data_dir), seconds)
    print()
    print(text)
    if not args.no_append:
        previous = args.benchmarks_file.read_text(encoding="utf-8") if args.benchmarks_file.exists() else ""
        args.benchmarks_file.write_text(previous.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        log(f"appended to {args.benchmarks_file}")


if __name__ == "__main__":
    main()
