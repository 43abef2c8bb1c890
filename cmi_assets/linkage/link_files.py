"""The engine behind `cmi link`: deduplicate one person file, or link two or more (and
deduplicate within each unless it is declared duplicate-free), with the spine's engine.

The mapping (file_mapping.py; README "Linking files with cmi link") names the column of
each canonical field. The model compares only the fields mapped (settings.comparisons);
blocking rules are chosen from measured pair counts on these files. The twin and sibling
guards rest on family fields (parents' names, a register of children); on files without
them they are off, and the summary says so. Whatever keeps a flagged link's records in
two clusters is listed in split_links.parquet with its reason.

Writes, keys and scores only (never a value from the files):
- pairs.parquet: every blocked record pair between and within the files scored at 0.001 or more, and the record
  pairs inside one identity (records equal on every compared field, scored as one:
  same_identity true, probability 1), with the link flag at each level;
- clusters.parquet: each record's cluster at both levels;
- split_links.parquet: flagged record pairs whose records lie in two clusters, and why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from cmi_assets.linkage.clustering import cluster_nodes
from cmi_assets.linkage.expected_quality import expected_quality
from cmi_assets.linkage.file_mapping import (
    MAX_DATE_FAILURES,
    FileInputError,
    canonical_frame,
    compared_fields,
    file_mappings,
    has_family_fields,
    in_files,
    load_mapping,
    read_person_file,
)
from cmi_assets.linkage.person_records import (
    FILE_IDENTITY_COLUMNS,
    IDENTITIES_TABLE,
    build_identities,
    standardise_person_records,
    write_person_records,
)
from cmi_assets.linkage.predict import predict_pairs
from cmi_assets.linkage.tables import LINKS_TABLE, PAIRS_TABLE, PERSON_RECORDS_TABLE
from cmi_assets.linkage.thresholds import LEVELS, choose_thresholds, flag_links
from cmi_assets.linkage.train import refit_prior, train_model
from cmi_assets.storage import configure_connection

RECORDS, IDENTITIES, PAIRS, LINKS = PERSON_RECORDS_TABLE, IDENTITIES_TABLE, PAIRS_TABLE, LINKS_TABLE
LINK_FLAGS = {level: f"is_link_{level}" for level in LEVELS}


def file_labels(paths: list[Path]) -> list[str]:
    """Each file's name, numbered where two files share one."""
    names = [Path(p).name for p in paths]
    return [name if names.count(name) == 1 else f"{i + 1}:{name}" for i, name in enumerate(names)]


def guard_setting(setting: Any, mappings: list[dict[str, Any]], source: str = "mapping") -> tuple[bool, str]:
    """Whether the twin and sibling guards run, and why."""
    if setting in (True, "on"):
        return True, "on (the mapping says so)"
    if setting in (False, "off"):
        return False, "off (the mapping says so)"
    if setting not in (None, "auto"):
        raise FileInputError(f"{source}: guards must be on, off or auto, not {setting!r}")
    if any(has_family_fields(m) for m in mappings):
        return True, "on (family fields mapped: parents' names or a register of children)"
    return False, "off (no family fields mapped: parents' names or a register of children)"


def _registers(con: duckdb.DuckDBPyConnection, labels: list[str], mappings: list[dict[str, Any]]) -> tuple[str, ...]:
    """One column per duplicate-free file on the identities: its records there (a cluster
    holds at most one record of each such file)."""
    columns = []
    for i, (label, mapping) in enumerate(zip(labels, mappings)):
        if mapping.get("duplicate_free"):
            column = f"register_{i}"
            con.execute(f"ALTER TABLE {IDENTITIES} ADD COLUMN {column} BIGINT DEFAULT 0")
            con.execute(
                f"""UPDATE {IDENTITIES} i SET {column} = c.n FROM (SELECT identity_id, count(*) AS n FROM {RECORDS}
                            WHERE agency = ? GROUP BY identity_id) c WHERE c.identity_id = i.unique_id""",
                [label],
            )
            columns.append(column)
    return tuple(columns) or ("duplicate_free_records",)


def _drop_pairs_inside_registers(con: duckdb.DuckDBPyConnection, registers: list[str]) -> int:
    """Two records of one duplicate-free file are two people by declaration: not scored as
    candidates (an identity belongs to one file: its id_namespace)."""
    if not registers:
        return 0
    before = con.execute(f"SELECT count(*) FROM {PAIRS}").fetchone()[0]
    con.execute(f"""DELETE FROM {PAIRS} p USING {IDENTITIES} l, {IDENTITIES} r
                    WHERE l.unique_id = p.unique_id_l AND r.unique_id = p.unique_id_r
                    AND l.id_namespace = r.id_namespace AND {in_files("l.id_namespace", registers)}""")
    return before - con.execute(f"SELECT count(*) FROM {PAIRS}").fetchone()[0]


def _possible_pairs(con: duckdb.DuckDBPyConnection, registers: list[str]) -> int:
    """Identity pairs the model could score: all of them but those inside one
    duplicate-free file."""
    return int(
        con.execute(f"""SELECT (sum(n) * (sum(n) - 1) - coalesce(sum(n * (n - 1)) FILTER (WHERE {in_files("id_namespace", registers)}), 0)) // 2
                               FROM (SELECT id_namespace, count(*) AS n FROM {IDENTITIES} GROUP BY ALL)""").fetchone()[
            0
        ]
        or 0
    )


def _write_pairs(con: duckdb.DuckDBPyConnection, path: Path, registers: list[str]) -> dict[str, int]:
    """pairs.parquet: scored identity pairs expanded to their records, and the pairs of
    records inside one identity (linked at both levels unless in a duplicate-free file)."""
    unlinked = in_files("l.agency", registers)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_record_pairs AS
        SELECT l.agency AS file_l, l.record_key AS record_key_l, r.agency AS file_r, r.record_key AS record_key_r,
               p.match_weight, p.match_probability, FALSE AS same_identity,
               coalesce(k.is_link_conservative, FALSE) AS is_link_conservative,
               coalesce(k.is_link_less_conservative, FALSE) AS is_link_less_conservative
        FROM {PAIRS} p JOIN {RECORDS} l ON l.identity_id = p.unique_id_l JOIN {RECORDS} r ON r.identity_id = p.unique_id_r
        LEFT JOIN {LINKS} k USING (unique_id_l, unique_id_r)
        UNION ALL
        SELECT l.agency, l.record_key, r.agency, r.record_key, NULL, 1.0, TRUE, NOT {unlinked}, NOT {unlinked}
        FROM {RECORDS} l JOIN {RECORDS} r ON l.identity_id = r.identity_id AND l.unique_id < r.unique_id""")
    con.execute(f"COPY (SELECT * FROM cmi_record_pairs ORDER BY ALL) TO '{path}' (FORMAT parquet)")
    row = con.execute("""SELECT count(*), count(*) FILTER (WHERE file_l <> file_r), count(*) FILTER (WHERE same_identity),
                                count(*) FILTER (WHERE is_link_conservative AND file_l <> file_r),
                                count(*) FILTER (WHERE is_link_conservative AND file_l = file_r),
                                count(*) FILTER (WHERE is_link_less_conservative AND file_l <> file_r),
                                count(*) FILTER (WHERE is_link_less_conservative AND file_l = file_r) FROM cmi_record_pairs""").fetchone()
    return {
        "record_pairs": row[0],
        "record_pairs_cross_file": row[1],
        "record_pairs_within_file": row[0] - row[1],
        "record_pairs_same_identity": row[2],
        "links_conservative_cross_file": row[3],
        "links_conservative_within_file": row[4],
        "links_less_conservative_cross_file": row[5],
        "links_less_conservative_within_file": row[6],
    }


def _record_clusters(con: duckdb.DuckDBPyConnection, node_clusters: dict[str, pl.DataFrame]) -> pl.DataFrame:
    records = con.sql(f"SELECT unique_id, identity_id, agency AS file, record_key FROM {RECORDS}").pl()
    for level, nodes in node_clusters.items():
        records = records.join(
            nodes.rename({"unique_id": "identity_id", "cluster_id": f"cluster_id_{level}"}),
            on="identity_id",
            how="left",
        )
    return records


def _split_links(con: duckdb.DuckDBPyConnection, clusters: pl.DataFrame, registers: list[str]) -> pl.DataFrame:
    """Flagged record pairs whose records lie in two clusters, with the reason: the link
    guard (separated_by: dob, given, middle), one record per duplicate-free file, or the
    whole-cluster guards (two name signatures or twins' IDs the clusters keep apart)."""
    con.register("cmi_record_clusters", clusters)
    try:
        parts = []
        for level, flag in LINK_FLAGS.items():
            cluster = f"cluster_id_{level}"
            parts.append(f"""
                SELECT '{level}' AS level, p.file_l, p.record_key_l, p.file_r, p.record_key_r, p.match_probability,
                       CASE WHEN k.separated_by IS NOT NULL THEN 'guard: ' || k.separated_by
                            WHEN EXISTS (SELECT 1 FROM cmi_record_clusters x JOIN cmi_record_clusters y ON x.file = y.file
                                         WHERE x.{cluster} = a.{cluster} AND y.{cluster} = b.{cluster} AND {in_files("x.file", registers)})
                            THEN 'one record per duplicate-free file' ELSE 'whole-cluster guard' END AS reason
                FROM cmi_record_pairs p
                JOIN cmi_record_clusters a ON a.file = p.file_l AND a.record_key = p.record_key_l
                JOIN cmi_record_clusters b ON b.file = p.file_r AND b.record_key = p.record_key_r
                LEFT JOIN {LINKS} k ON k.unique_id_l = a.identity_id AND k.unique_id_r = b.identity_id
                WHERE p.{flag} AND a.{cluster} <> b.{cluster}""")
        return con.sql(" UNION ALL ".join(parts) + " ORDER BY ALL").pl()
    finally:
        con.unregister("cmi_record_clusters")


def link_files(
    paths: list[Path] | tuple[Path, ...],
    mapping: dict[str, Any] | str | Path,
    out_dir: Path,
    seed: int = 1,
    memory_limit: str | None = None,
    temp_dir: Path | None = None,
    mapping_source: str | Path | None = None,
) -> dict[str, Any]:
    """Deduplicate one file or link several; write pairs.parquet, clusters.parquet and
    split_links.parquet to out_dir. Returns counts only (no values from the files).
    mapping_source names the mapping in errors about its run-wide settings (default: its
    path, when a path is given)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise FileInputError("cmi link: give one file to deduplicate or two or more to link")
    source = str(mapping_source or (mapping if isinstance(mapping, (str, Path)) else "mapping"))
    mapping = load_mapping(mapping)
    mappings = file_mappings(mapping, paths)
    labels = file_labels(paths)
    guards, guards_why = guard_setting(mapping.get("guards"), mappings, source)
    max_failures = mapping.get("max_date_failures", MAX_DATE_FAILURES)
    if isinstance(max_failures, bool) or not isinstance(max_failures, (int, float)) or not 0 <= max_failures <= 1:
        raise FileInputError(f"{source}: max_date_failures must be a share between 0 and 1, not {max_failures!r}")
    frames, date_failures = [], {}
    for path, file_map, label in zip(paths, mappings, labels):
        frame, failures = canonical_frame(read_person_file(path), file_map, label, path, max_failures)
        frames.append(frame)
        date_failures[label] = failures
    raw = pl.concat(frames, how="diagonal_relaxed")
    records = standardise_person_records(raw)
    present = {c for c in records.columns if records[c].null_count() < records.height}
    fields = frozenset(
        f for m in mappings for f in compared_fields(m) if f in present or f == "dob" and "birth_year" in present
    )
    extra = tuple(c for c in FILE_IDENTITY_COLUMNS if c in fields)
    registers = [label for label, m in zip(labels, mappings) if m.get("duplicate_free")]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        configure_connection(con, memory_limit, temp_dir)
        write_person_records(con, records, RECORDS, extra_fields=extra)
        build_identities(con, RECORDS, IDENTITIES, extra_fields=extra)
        register_columns = _registers(con, labels, mappings)
        artefact = train_model(con, IDENTITIES, seed=seed, fields=fields)
        counts = predict_pairs(con, artefact, IDENTITIES, PAIRS)
        _drop_pairs_inside_registers(con, registers)
        refitted = refit_prior(con, artefact, PAIRS, _possible_pairs(con, registers))
        if (
            abs(
                math.log(
                    refitted["model"]["probability_two_random_records_match"]
                    / artefact["model"]["probability_two_random_records_match"]
                )
            )
            > 0.1
        ):
            # the probabilities move with the prior: pairs scored under the floor may now pass it
            counts = predict_pairs(con, refitted, IDENTITIES, PAIRS)
        artefact = refitted
        counts["pairs_inside_duplicate_free_files_dropped"] = _drop_pairs_inside_registers(con, registers)
        thresholds = choose_thresholds(con, PAIRS)
        counts.update(flag_links(con, thresholds, PAIRS, IDENTITIES, LINKS, guards=guards))
        counts.update(_write_pairs(con, out_dir / "pairs.parquet", registers))
        node_clusters = cluster_nodes(
            con,
            IDENTITIES,
            LINKS,
            LINK_FLAGS,
            twin_ids=guards,
            records=RECORDS,
            guards=guards,
            registers=register_columns,
        )
        clusters = _record_clusters(con, node_clusters)
        clusters.drop("unique_id", "identity_id").sort("file", "record_key").write_parquet(out_dir / "clusters.parquet")
        split = _split_links(con, clusters, registers)
        split.write_parquet(out_dir / "split_links.parquet")
        con.register(
            "cmi_identity_clusters",
            clusters.select(
                pl.col("identity_id").alias("unique_id"), *(f"cluster_id_{level}" for level in LEVELS)
            ).unique(),
        )
        quality = expected_quality(
            con, artefact, IDENTITIES, PAIRS, LINKS, "cmi_identity_clusters", registers, seed=seed
        )
    finally:
        con.close()
    return {
        "files": {
            label: {
                "records": int((records["agency"] == label).sum()),
                "dates_not_parsed": date_failures[label],
                "duplicate_free": label in registers,
            }
            for label in labels
        },
        "mode": "dedupe" if len(paths) == 1 else "link",
        "fields_compared": sorted(fields),
        "guards": guards_why,
        "blocking_rules": list(artefact["blocking_rules"]),
        "thresholds": thresholds.as_dict(),
        "model_sha256": artefact["sha256"],
        "prior": {
            "deterministic_rules": artefact.get(
                "prior_refitted_from", artefact["model"]["probability_two_random_records_match"]
            ),
            "refitted": artefact["model"]["probability_two_random_records_match"],
        },
        **counts,
        **{f"clusters_{level}": int(clusters[f"cluster_id_{level}"].n_unique()) for level in LEVELS},
        "split_links": {
            level: {
                reason: int(n)
                for reason, n in split.filter(pl.col("level") == level)
                .group_by("reason")
                .len()
                .sort("reason")
                .iter_rows()
            }
            for level in LEVELS
        },
        "expected_quality": quality,
    }
