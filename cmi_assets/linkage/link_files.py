"""The engine behind `cmi link`: link any two person files (CSV or Parquet) with the same
model family as the spine.

A mapping names, for each file, the column holding each canonical field:

    id: record_id              # a unique record key column (required)
    given_names: name_first    # or given_name / middle_name
    family_name: name_last
    dob: birth_date
    sex: gender                # codes M / F; anything else is unknown
    person_id: client_no       # optional: an ID shared by both files' agency
    parent1_given_names: mother_first
    postcode: zip
    dob_format: "%d/%m/%Y"     # strptime format of the DOB columns
    role: child                # child | adult (default adult)
    duplicate_free: true       # one record per person in this file (a register)

Either one mapping for both files, or `left:` and `right:` mappings (each may carry its
own dob_format). Writes pairs.parquet (scored pairs between and within the files: file,
record key and scores only) and clusters.parquet (record -> cluster at both levels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from cmi_assets.linkage.clustering import cluster_nodes
from cmi_assets.linkage.person_records import build_identities, standardise_person_records, write_person_records
from cmi_assets.linkage.predict import predict_pairs
from cmi_assets.linkage.thresholds import LEVELS, choose_thresholds, flag_links
from cmi_assets.linkage.train import train_model
from cmi_assets.storage import configure_connection

CANONICAL_FIELDS = (
    "person_id", "given_names", "given_name", "middle_name", "family_name", "dob", "age_years", "sex",
    "parent1_given_names", "parent1_dob", "parent2_given_names", "parent2_dob", "address", "postcode", "event_date",
)
_DATE_FIELDS = ("dob", "parent1_dob", "parent2_dob", "event_date")


def read_mapping(mapping: dict[str, Any] | str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(left mapping, right mapping) from a dict or a YAML file."""
    if not isinstance(mapping, dict):
        mapping = yaml.safe_load(Path(mapping).read_text(encoding="utf-8"))
    if "left" in mapping or "right" in mapping:
        shared = {k: v for k, v in mapping.items() if k not in ("left", "right")}
        return {**shared, **mapping.get("left", {})}, {**shared, **mapping.get("right", {})}
    return dict(mapping), dict(mapping)


def read_person_file(path: Path) -> pl.DataFrame:
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path).with_columns(pl.all().cast(pl.String))
    if path.suffix.lower() in (".csv", ".txt"):
        return pl.read_csv(path, infer_schema=False)
    raise ValueError(f"{path.name}: unsupported file type (CSV or Parquet)")


def canonical_frame(frame: pl.DataFrame, mapping: dict[str, Any], source: str, default_dob_format: str = "%Y-%m-%d") -> pl.DataFrame:
    """A file's rows in the raw canonical person schema (person_records.RAW columns)."""
    if "id" not in mapping:
        raise ValueError(f"{source}: the mapping needs an 'id' column (a unique record key)")
    unknown = [k for k in mapping if k not in CANONICAL_FIELDS and k not in ("id", "dob_format", "role", "duplicate_free")]
    if unknown:
        raise ValueError(f"{source}: unknown canonical fields in the mapping: {', '.join(sorted(unknown))}")
    missing = [c for k, c in mapping.items() if k in CANONICAL_FIELDS + ("id",) and c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: mapped columns not in the file: {', '.join(missing)}")
    date_format = mapping.get("dob_format", default_dob_format)

    def column(field: str, dtype=pl.String) -> pl.Expr:
        name = mapping.get(field)
        if name is None:
            return pl.lit(None, dtype).alias(field)
        expr = pl.col(name).cast(pl.String).str.strip_chars()
        if field in _DATE_FIELDS:
            return expr.str.to_date(date_format, strict=False).alias(field)
        if field == "age_years":
            return expr.cast(pl.Int64, strict=False).alias(field)
        return expr.alias(field)

    given = mapping.get("given_names") or mapping.get("given_name")
    out = frame.select(
        pl.lit(source).alias("agency"),
        pl.lit("file").alias("record_type"),
        pl.col(mapping["id"]).cast(pl.String).alias("record_key"),
        pl.lit("person").alias("slot"),
        pl.lit(mapping.get("role", "adult")).alias("spec_role"),
        column("person_id"),
        (pl.col(given).cast(pl.String) if given else pl.lit(None, pl.String)).alias("given_raw"),
        column("middle_name").alias("middle_raw"),
        column("family_name").alias("family_raw"),
        column("dob", pl.Date),
        column("age_years", pl.Int64),
        column("sex").str.to_uppercase().str.slice(0, 1).alias("sex_raw"),
        column("parent1_given_names").alias("parent1_given_raw"),
        column("parent1_dob", pl.Date),
        column("parent2_given_names").alias("parent2_given_raw"),
        column("parent2_dob", pl.Date),
        column("address").alias("address_raw"),
        column("postcode"),
        column("event_date", pl.Date),
        pl.lit("given_names" in mapping).alias("_given_names_combined"),
    )
    duplicated = out["record_key"].is_duplicated()
    if duplicated.any():
        row = int(duplicated.arg_true()[0]) + 2
        raise ValueError(f"{source}: row {row}, field {mapping['id']}: record key is not unique")
    return out.with_columns(pl.when(pl.col("sex_raw").is_in(["M", "F"])).then(pl.col("sex_raw")).alias("sex_raw"))


def _mark_duplicate_free(con: duckdb.DuckDBPyConnection, sides: list[str]) -> None:
    """A file declared duplicate_free (one record per person, like a register) never has
    two records in one cluster."""
    if sides:
        con.execute(
            f"""UPDATE linkage.person_identities i SET duplicate_free_records = c.n
                FROM (SELECT identity_id, count(*) AS n FROM linkage.person_records
                      WHERE agency IN ({', '.join(f"'{s}'" for s in sides)}) GROUP BY identity_id) c
                WHERE c.identity_id = i.unique_id"""
        )


def link_files(
    left: Path,
    right: Path,
    mapping: dict[str, Any] | str | Path,
    out_dir: Path,
    seed: int = 1,
    memory_limit: str | None = None,
    temp_dir: Path | None = None,
) -> dict[str, Any]:
    """Link two person files; write pairs.parquet and clusters.parquet to out_dir.
    Returns counts only (no values from the files)."""
    left_map, right_map = read_mapping(mapping)
    raw = pl.concat([
        canonical_frame(read_person_file(left), left_map, "left"),
        canonical_frame(read_person_file(right), right_map, "right"),
    ], how="vertical_relaxed")
    records = standardise_person_records(raw)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        configure_connection(con, memory_limit, temp_dir)
        write_person_records(con, records, "linkage.person_records")
        build_identities(con, "linkage.person_records", "linkage.person_identities")
        _mark_duplicate_free(con, [side for side, m in (("left", left_map), ("right", right_map)) if m.get("duplicate_free")])
        artefact = train_model(con, "linkage.person_identities", seed=seed)
        counts = predict_pairs(con, artefact, "linkage.person_identities", "linkage.person_pairs")
        thresholds = choose_thresholds(con, "linkage.person_pairs")
        counts.update(flag_links(con, thresholds, "linkage.person_pairs", "linkage.person_identities", "linkage.person_links"))
        # scored identity pairs expanded to the records holding them
        con.sql(
            """SELECT l.agency AS file_l, l.record_key AS record_key_l, r.agency AS file_r, r.record_key AS record_key_r,
                      p.match_weight, p.match_probability,
                      coalesce(k.is_link_conservative, FALSE) AS is_link_conservative,
                      coalesce(k.is_link_less_conservative, FALSE) AS is_link_less_conservative
               FROM linkage.person_pairs p
               JOIN linkage.person_records l ON l.identity_id = p.unique_id_l
               JOIN linkage.person_records r ON r.identity_id = p.unique_id_r
               LEFT JOIN linkage.person_links k USING (unique_id_l, unique_id_r)
               ORDER BY file_l, record_key_l, file_r, record_key_r"""
        ).pl().write_parquet(out_dir / "pairs.parquet")
        node_clusters = cluster_nodes(con, "linkage.person_identities", "linkage.person_links", {level: f"is_link_{level}" for level in LEVELS},
                                      records="linkage.person_records")
        fields = con.sql("SELECT unique_id, identity_id, record_key, agency FROM linkage.person_records").pl()
        clusters = fields.select("unique_id", pl.col("agency").alias("file"), "record_key")
        for level, level_nodes in node_clusters.items():
            level_clusters = fields.join(level_nodes.rename({"unique_id": "identity_id"}), on="identity_id", how="left").select(
                "unique_id", pl.col("cluster_id").alias(f"cluster_id_{level}"))
            clusters = clusters.join(level_clusters, on="unique_id")
            counts[f"clusters_{level}"] = int(level_clusters[f"cluster_id_{level}"].n_unique())
        clusters.write_parquet(out_dir / "clusters.parquet")
    finally:
        con.close()
    return {"records_left": int((records["agency"] == "left").sum()), "records_right": int((records["agency"] == "right").sum()),
            "thresholds": thresholds.as_dict(), "model_sha256": artefact["sha256"], **counts}
