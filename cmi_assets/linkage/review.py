"""Clerical review that changes the links: a blind review file out, reviewers' decisions
back in, and the decisions as forced links and forced non-links of the next spine run.

- Export (review_export): pairs of person records side by side with the fields a
  reviewer needs and no score, weight, cluster or link flag; the level's stratified
  clerical sample (clerical_sample.level_units, clerical.stratified_sample) and the
  uncertain band (pairs whose match weight lies within UNCERTAIN_BAND_WEIGHT of the
  level's threshold), ordered by a seeded hash of the pair id so the order says nothing
  about the score. A pair is two identities (records equal on every compared field, the
  units Splink scores: unique_id_l and unique_id_r, as in linkage.person_pairs), each
  shown by its founding record (record_id_l, record_id_r); its pair_id is a hash of the
  two identity ids (stable across exports).
- Import (read_decisions_file, record_decisions): every row is checked first; a bad row
  is an error naming the file, row and field, and then nothing is recorded. Decisions
  are appended to linkage.review_decisions (identified zone), never updated: the latest
  decision on a pair (by decided_at, then decision_id) supersedes earlier ones.
- The spine (review_constraints): current `match` decisions become forced links and
  `non_match` decisions forced non-links between the two records' current identities
  (clustering.ReviewPairs); `unsure` changes nothing. The key events a decision explains
  carry its decision_id (attribute_events).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from cmi_assets.linkage.clustering import ReviewPairs
from cmi_assets.linkage.person_records import IDENTITIES_TABLE
from cmi_assets.linkage.tables import (
    CLUSTERS_TABLE,
    LEVELS,
    PERSON_RECORDS_TABLE,
    REVIEW_DECISIONS_COLUMNS,
    REVIEW_DECISIONS_TABLE,
    SPINE_TABLE,
    THRESHOLDS_TABLE,
)
from cmi_assets.tables import table_exists, transaction

DECISIONS = ("match", "non_match", "unsure")
# A pair is uncertain when its match weight lies within this many units (log2 of the
# Bayes factor: a factor of 4 either way in the odds) of the level's threshold.
UNCERTAIN_BAND_WEIGHT = 2.0
# The record fields a reviewer sees for each side: names, DOB, sex, address and area,
# agency and record type, the role and the parents' given names.
EXPORT_FIELDS = (
    "agency",
    "record_type",
    "role",
    "given_name",
    "middle_name",
    "family_name",
    "dob",
    "sex",
    "address",
    "postcode",
    "parent1_given",
    "parent2_given",
)
DECISION_FILE_COLUMNS = (
    "pair_id",
    "unique_id_l",
    "unique_id_r",
    "record_id_l",
    "record_id_r",
    "decision",
    "reason",
    "decided_at",
)
REQUIRED_FILE_COLUMNS = ("pair_id", "unique_id_l", "unique_id_r", "decision")


def pair_id(unique_id_l: int, unique_id_r: int) -> str:
    """A pair's stable id: a hash of its two identity ids, in either order."""
    low, high = sorted((int(unique_id_l), int(unique_id_r)))
    return hashlib.sha256(f"{low}|{high}".encode()).hexdigest()[:16]


def _pair_ids(left: pl.Series, right: pl.Series) -> list[str]:
    return [pair_id(a, b) for a, b in zip(left.to_list(), right.to_list())]


def probability_to_weight(probability: float) -> float:
    """A match probability as a match weight (log2 odds); the ends clipped to finite values."""
    p = min(max(probability, 1e-15), 1 - 1e-15)
    return math.log2(p / (1 - p))


# --- export ---------------------------------------------------------------------------------


@dataclass
class ReviewExport:
    pairs: pl.DataFrame  # the file's rows
    level: str
    threshold_probability: float
    band_weight: tuple[float, float]  # the uncertain band, match weights
    counts: dict[str, int] = field(default_factory=dict)

    def readme(self) -> str:
        """What the file holds, for its header (HTML) or its README (CSV)."""
        low, high = self.band_weight
        return (
            f"Clerical review file, linkage level {self.level}: {self.pairs.height} pairs of person records side "
            f"by side. Decide for each pair whether the two records are the same person: match, non_match or "
            f"unsure, with a reason. The pairs are the level's stratified clerical sample "
            f"({self.counts.get('sample_pairs', 0)} pairs touching the sampled children's clusters, by outcome "
            f"group and weakest-link weight band) and the uncertain band ({self.counts.get('band_pairs', 0)} pairs "
            f"whose match weight lies between {low:.2f} and {high:.2f}, within {UNCERTAIN_BAND_WEIGHT:g} of the "
            f"threshold's {probability_to_weight(self.threshold_probability):.2f}, match probability "
            f"{self.threshold_probability:.6g}). No score, weight or current link is shown, and the order is "
            f"shuffled. Keep pair_id and the id columns as they are. The file names people: keep it "
            f"in the identified zone."
        )


def _band_pairs(
    con: duckdb.DuckDBPyConnection, low: float, high: float, n: int, seed: int, pairs_table: str
) -> pl.DataFrame:
    band = con.execute(
        f"SELECT unique_id_l, unique_id_r FROM {pairs_table} WHERE match_weight BETWEEN ? AND ? ORDER BY ALL",
        [low, high],
    ).pl()
    return band.sample(n=min(n, band.height), seed=seed) if band.height else band


def review_export(
    con: duckdb.DuckDBPyConnection,
    level: str,
    threshold_probability: float,
    children: int = 100,
    band_pairs: int = 200,
    seed: int = 1,
    records_table: str = PERSON_RECORDS_TABLE,
) -> ReviewExport:
    """The blind review file's pairs for one level (see the module's docstring)."""
    from cmi_assets.linkage.clerical import review_pairs, stratified_sample
    from cmi_assets.linkage.clerical_sample import LinkageTables, level_units

    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
    tables = LinkageTables()
    level_clusters = con.sql(
        f"SELECT unique_id, record_ref, identity_id, cluster_id FROM {CLUSTERS_TABLE} WHERE level = '{level}'"
    ).pl()
    units = level_units(con, tables, level, level_clusters)
    sampled = pl.DataFrame(schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64})
    if units.height:
        sample = stratified_sample(units, ["outcome_group", "weight_band"], children, seed)
        sampled = review_pairs(con, sample, level_clusters, tables.pairs).select("unique_id_l", "unique_id_r")
    centre = probability_to_weight(threshold_probability)
    low, high = centre - UNCERTAIN_BAND_WEIGHT, centre + UNCERTAIN_BAND_WEIGHT
    band = _band_pairs(con, low, high, band_pairs, seed, tables.pairs)
    identity_pairs = pl.concat([sampled.cast(pl.Int64), band.cast(pl.Int64)]).unique()
    # each identity shown by its founding record (the smallest record reference)
    founders = con.sql(
        f"""SELECT r.identity_id, r.unique_id AS record_id, {", ".join(f"CAST(r.{c} AS VARCHAR) AS {c}" for c in EXPORT_FIELDS)}
            FROM {records_table} r JOIN (SELECT identity_id, min(record_ref) AS record_ref FROM {records_table}
            GROUP BY identity_id) f USING (identity_id, record_ref)"""
    ).pl()
    identity_pairs = identity_pairs.rename({"unique_id_l": "identity_l", "unique_id_r": "identity_r"})
    out = identity_pairs.join(
        founders.rename({c: f"{c}_l" for c in founders.columns if c != "identity_id"}),
        left_on="identity_l",
        right_on="identity_id",
    ).join(
        founders.rename({c: f"{c}_r" for c in founders.columns if c != "identity_id"}),
        left_on="identity_r",
        right_on="identity_id",
    )
    out = out.rename({"identity_l": "unique_id_l", "identity_r": "unique_id_r"})
    out = out.with_columns(pl.Series("pair_id", _pair_ids(out["unique_id_l"], out["unique_id_r"]), dtype=pl.String))
    # a seeded hash of the pair id orders the file: unrelated to the score or the sample's strata
    out = out.with_columns(
        pl.Series("order", [hashlib.sha256(f"{seed}|{p}".encode()).hexdigest() for p in out["pair_id"]])
    ).sort("order")
    columns = ["pair_id", "unique_id_l", "unique_id_r", "record_id_l", "record_id_r"]
    for c in EXPORT_FIELDS:
        columns += [f"{c}_l", f"{c}_r"]
    out = out.select(columns).with_columns(pl.lit("").alias("decision"), pl.lit("").alias("reason"))
    counts = {"pairs": out.height, "sample_pairs": sampled.unique().height, "band_pairs": band.height}
    return ReviewExport(out, level, threshold_probability, (low, high), counts)


def write_review_csv(export: ReviewExport, path: Path) -> Path:
    """The review file as CSV, and its README beside it (<file>.README.txt)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    export.pairs.write_csv(path)
    readme = path.with_name(path.name + ".README.txt")
    readme.write_text(
        export.readme() + "\n\nFill in the decision column (match, non_match or unsure) and, if you like, the "
        "reason column; leave a row's decision empty to skip it. Then: cmi review import FILE --reviewer NAME\n",
        encoding="utf-8",
    )
    return readme


# --- import ---------------------------------------------------------------------------------


class ReviewFileError(ValueError):
    """A decisions file that cannot be recorded; the message names the file, row and field
    (never a value)."""


def _parse_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def read_decisions_file(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
    """The decided rows of a review or decisions file (DECISION_FILE_COLUMNS; record_id_*,
    reason and decided_at optional), every row checked: decision is one of DECISIONS or
    empty (the row is skipped); the two identity ids are integers, different and (given a
    connection) identities of the identified zone; pair_id is theirs; a record id, when
    given, is a person record of its side's identity; decided_at, when given, is an ISO
    8601 time. Rows are numbered as lines of the file, the header being row 1. Raises
    ReviewFileError listing the bad rows."""
    path = Path(path)
    name = path.name
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as error:
        raise ReviewFileError(f"{name}: row 1: not a readable CSV file ({type(error).__name__})") from None
    missing = [c for c in REQUIRED_FILE_COLUMNS if c not in frame.columns]
    if missing:
        raise ReviewFileError(f"{name}: row 1, field {missing[0]}: column missing (needs {', '.join(missing)})")
    known: dict[str, dict[int, int]] | None = None
    if con is not None:
        if not table_exists(con, PERSON_RECORDS_TABLE) or not table_exists(con, IDENTITIES_TABLE):
            raise ReviewFileError(f"{name}: no person records in the identified zone to check the pairs against")
        known = {
            "unique_id": _known_ids(con, frame, ("unique_id_l", "unique_id_r"), IDENTITIES_TABLE, "unique_id"),
            "record_id": _known_ids(con, frame, ("record_id_l", "record_id_r"), PERSON_RECORDS_TABLE, "identity_id"),
        }
    errors, rows = [], []
    for index, row in enumerate(frame.iter_rows(named=True)):
        line = index + 2
        decision = (row.get("decision") or "").strip().lower()
        if not decision:
            continue
        bad = _row_error(row, decision, known)
        if bad:
            errors.append(f"{name}: row {line}, field {bad[0]}: {bad[1]}")
            continue
        decided = (row.get("decided_at") or "").strip()
        rows.append(
            {
                "pair_id": row["pair_id"].strip(),
                "unique_id_l": int(row["unique_id_l"]),
                "unique_id_r": int(row["unique_id_r"]),
                "record_id_l": _optional_int(row.get("record_id_l")),
                "record_id_r": _optional_int(row.get("record_id_r")),
                "decision": decision,
                "reason": (row.get("reason") or "").strip() or None,
                "decided_at": _parse_time(decided) if decided else None,
            }
        )
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more bad rows"] if len(errors) > 20 else [])
        raise ReviewFileError("\n".join(shown) + "\nnothing recorded")
    schema = {
        "pair_id": pl.String,
        "unique_id_l": pl.Int64,
        "unique_id_r": pl.Int64,
        "record_id_l": pl.Int64,
        "record_id_r": pl.Int64,
        "decision": pl.String,
        "reason": pl.String,
        "decided_at": pl.Datetime("us"),
    }
    return pl.DataFrame(rows, schema=schema)


def _is_int(text: str | None) -> bool:
    return bool(text) and text.strip().lstrip("-").isdigit()


def _optional_int(text: str | None) -> int | None:
    return int(text) if _is_int(text) else None


def _known_ids(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, columns: tuple[str, ...], table: str, value: str
) -> dict[int, int]:
    """The file's ids (in columns) found in table's unique_id, each with its `value` column."""
    listed = sorted({int(v) for c in columns if c in frame.columns for v in frame[c].to_list() if _is_int(v)})
    con.register("cmi_review_ids", pl.DataFrame({"unique_id": listed}, schema={"unique_id": pl.Int64}))
    try:
        found = con.execute(
            f"SELECT unique_id, {value} FROM {table} WHERE unique_id IN (SELECT unique_id FROM cmi_review_ids)"
        ).fetchall()
    finally:
        con.unregister("cmi_review_ids")
    return dict(found)


def _row_error(row: dict, decision: str, known: dict[str, dict[int, int]] | None) -> tuple[str, str] | None:
    """The first bad field of a decided row and what is wrong with it, or None."""
    if decision not in DECISIONS:
        return "decision", f"must be one of {', '.join(DECISIONS)} (or empty to skip the row)"
    ids = []
    for column in ("unique_id_l", "unique_id_r"):
        if not _is_int(row.get(column)):
            return column, "must be an identity id (an integer)"
        ids.append(int(row[column]))
        if known is not None and ids[-1] not in known["unique_id"]:
            return column, "no such identity in the identified zone"
    if ids[0] == ids[1]:
        return "unique_id_r", "the two ids of a pair must differ"
    if (row.get("pair_id") or "").strip() != pair_id(*ids):
        return "pair_id", "does not belong to the pair's two ids (keep the exported pair_id and ids)"
    for column, identity in (("record_id_l", ids[0]), ("record_id_r", ids[1])):
        text = (row.get(column) or "").strip()
        if not text:
            continue
        if not _is_int(text):
            return column, "must be a record id (an integer) or empty"
        if known is not None and known["record_id"].get(int(text)) != identity:
            return column, "not a person record of this side's identity (export the pair again)"
    decided = (row.get("decided_at") or "").strip()
    if decided and _parse_time(decided) is None:
        return "decided_at", "must be an ISO 8601 time (e.g. 2026-12-07T14:05:00Z)"
    return None


def create_decisions_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {REVIEW_DECISIONS_TABLE.split('.')[0]}")
    columns = ", ".join(f"{name} {kind}" for name, kind, *_ in REVIEW_DECISIONS_COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {REVIEW_DECISIONS_TABLE} ({columns})")


def record_decisions(
    con: duckdb.DuckDBPyConnection,
    decisions: pl.DataFrame,
    reviewer: str,
    source_file: str,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """Append decisions (read_decisions_file's frame) to linkage.review_decisions in one
    transaction, numbered after the last decision_id; decided_at defaults to now (UTC).
    Returns the rows recorded."""
    if not reviewer or not reviewer.strip():
        raise ReviewFileError(f"{source_file}: a reviewer name is needed")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with transaction(con):
        create_decisions_table(con)
        first = con.execute(f"SELECT coalesce(max(decision_id), 0) + 1 FROM {REVIEW_DECISIONS_TABLE}").fetchone()[0]
        rows = decisions.with_columns(
            pl.int_range(first, first + decisions.height, dtype=pl.Int64).alias("decision_id"),
            pl.lit(reviewer.strip()).alias("reviewer"),
            pl.col("decided_at").fill_null(pl.lit(now, pl.Datetime("us"))),
            pl.lit(source_file).alias("source_file"),
            pl.lit(now, pl.Datetime("us")).alias("recorded_at"),
        ).select([c[0] for c in REVIEW_DECISIONS_COLUMNS])
        con.register("cmi_review_rows", rows)
        try:
            con.execute(f"INSERT INTO {REVIEW_DECISIONS_TABLE} BY NAME SELECT * FROM cmi_review_rows")
        finally:
            con.unregister("cmi_review_rows")
    return rows


def current_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The latest decision on each pair (by decided_at, then decision_id); empty when no
    decision was recorded."""
    if not table_exists(con, REVIEW_DECISIONS_TABLE):
        return pl.DataFrame(
            schema={c[0]: pl.Int64 if c[1] == "BIGINT" else pl.String for c in REVIEW_DECISIONS_COLUMNS}
        )
    return con.sql(
        f"""SELECT * FROM {REVIEW_DECISIONS_TABLE}
            QUALIFY row_number() OVER (PARTITION BY pair_id ORDER BY decided_at DESC, decision_id DESC) = 1
            ORDER BY decided_at DESC, decision_id DESC"""
    ).pl()


def decision_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Recorded decisions and current (latest per pair) decisions by kind: counts only."""
    current = current_decisions(con)
    counts = {"decisions_recorded": 0, "pairs_decided": current.height}
    if table_exists(con, REVIEW_DECISIONS_TABLE):
        counts["decisions_recorded"] = con.execute(f"SELECT count(*) FROM {REVIEW_DECISIONS_TABLE}").fetchone()[0]
    by_kind = dict(current.group_by("decision").len().iter_rows()) if current.height else {}
    counts.update({f"current_{kind}": int(by_kind.get(kind, 0)) for kind in DECISIONS})
    return counts


def decisions_data_version(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of the decisions table's content (every row, in decision order): a new
    decision gives a new version."""
    digest = hashlib.sha256()
    if table_exists(con, REVIEW_DECISIONS_TABLE):
        columns = ", ".join(c[0] for c in REVIEW_DECISIONS_COLUMNS)
        for row in con.execute(f"SELECT {columns} FROM {REVIEW_DECISIONS_TABLE} ORDER BY decision_id").fetchall():
            digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


# --- the decisions in the spine ---------------------------------------------------------------


@dataclass
class ReviewConstraints:
    pairs: ReviewPairs  # identity pairs for the clustering
    decisions: pl.DataFrame  # current match / non_match decisions with the records' identities
    counts: dict[str, int]


def review_constraints(
    con: duckdb.DuckDBPyConnection,
    records_table: str = PERSON_RECORDS_TABLE,
    identities_table: str = IDENTITIES_TABLE,
) -> ReviewConstraints | None:
    """The current decisions as forced links and non-links between identities; None when
    no decision was recorded (the spine is as without review). A side stands for its shown
    record's current identity (record_id, when given and still a person record), else for
    its identity id. Decisions whose sides are no longer there are left out and counted,
    and so is a non_match between two sides that are now one identity (equal on every
    compared field: the clustering cannot tell them apart)."""
    current = current_decisions(con)
    if current.is_empty():
        return None
    acting = current.filter(pl.col("decision").is_in(["match", "non_match"]))
    records = con.sql(f"SELECT unique_id AS record_id, identity_id FROM {records_table}").pl()
    identities = con.sql(f"SELECT unique_id FROM {identities_table}").pl()["unique_id"].implode()
    sides = acting
    for side in ("l", "r"):
        sides = sides.join(
            records.rename({"record_id": f"record_id_{side}", "identity_id": f"_rec_{side}"}),
            on=f"record_id_{side}",
            how="left",
        ).with_columns(
            pl.coalesce(
                f"_rec_{side}", pl.when(pl.col(f"unique_id_{side}").is_in(identities)).then(f"unique_id_{side}")
            ).alias(f"identity_{side}")
        )
    with_identity = sides.drop("_rec_l", "_rec_r").drop_nulls(["identity_l", "identity_r"])
    same = with_identity.filter(pl.col("identity_l") == pl.col("identity_r"))
    usable = with_identity.filter(pl.col("identity_l") != pl.col("identity_r"))

    def node_pairs(kind: str) -> pl.DataFrame:  # latest decision first (current's order)
        chosen = usable.filter(pl.col("decision") == kind)
        return chosen.select(pl.col("identity_l").alias("unique_id_l"), pl.col("identity_r").alias("unique_id_r"))

    counts = {
        "review_decisions_current": current.height,
        "review_unsure": int((current["decision"] == "unsure").sum()),
        "review_forced_links": int((usable["decision"] == "match").sum()),
        "review_forced_non_links": int((usable["decision"] == "non_match").sum()),
        "review_on_absent_records": acting.height - with_identity.height,
        "review_non_match_within_one_identity": int((same["decision"] == "non_match").sum()),
    }
    return ReviewConstraints(ReviewPairs(node_pairs("match"), node_pairs("non_match")), usable, counts)


def decision_record_keys(con: duckdb.DuckDBPyConnection, decisions: pl.DataFrame, spine_table: str) -> pl.DataFrame:
    """The person_key of each decision's two sides (identities) at each level in a spine
    table (decision_id, level, key_l, key_r); empty when the table does not exist."""
    schema = {"decision_id": pl.Int64, "level": pl.String, "key_l": pl.String, "key_r": pl.String}
    if decisions.is_empty() or not table_exists(con, spine_table):
        return pl.DataFrame(schema=schema)
    con.register("cmi_review_decided", decisions.select("decision_id", "identity_l", "identity_r"))
    try:
        return (
            con.execute(f"""WITH keys AS (SELECT DISTINCT identity_id, level, person_key FROM {spine_table}
                                          WHERE identity_id IN (SELECT identity_l FROM cmi_review_decided
                                                                UNION SELECT identity_r FROM cmi_review_decided))
                        SELECT d.decision_id, l.level, l.person_key AS key_l, r.person_key AS key_r
                        FROM cmi_review_decided d JOIN keys l ON l.identity_id = d.identity_l
                        JOIN keys r ON r.identity_id = d.identity_r AND r.level = l.level""")
            .pl()
            .cast(schema)
        )
    finally:
        con.unregister("cmi_review_decided")


def attribute_events(
    events: pl.DataFrame, decisions: pl.DataFrame, before: pl.DataFrame, after: pl.DataFrame
) -> pl.DataFrame:
    """The key events with the decision that explains each (decision_id, and cause
    'review_match' / 'review_non_match'; null for the rest). A merge of keys k1 into k
    is explained by a match whose records carried k and k1 before and k both now; a split
    of k giving k2 (and k2's 'new' event) by a non_match whose records both carried k
    before and carry k and k2 now. Where several decisions explain one event, the latest
    (decision order) is named. before, after: decision_record_keys of the previous and
    the new spine."""
    keyed = (
        before.rename({"key_l": "before_l", "key_r": "before_r"})
        .join(after, on=["decision_id", "level"])
        .join(decisions.select("decision_id", "decision", "decided_at"), on="decision_id")
        .sort(["decided_at", "decision_id"], descending=True)
    )
    merges = keyed.filter(
        (pl.col("decision") == "match")
        & (pl.col("before_l") != pl.col("before_r"))
        & (pl.col("key_l") == pl.col("key_r"))
    )
    splits = keyed.filter(
        (pl.col("decision") == "non_match")
        & (pl.col("before_l") == pl.col("before_r"))
        & (pl.col("key_l") != pl.col("key_r"))
    )
    explained: dict[tuple, int] = {}
    for row in merges.iter_rows(named=True):
        survivor = row["key_l"]
        absorbed = row["before_r"] if row["before_l"] == survivor else row["before_l"]
        explained.setdefault((row["level"], "merge", survivor, absorbed), row["decision_id"])
    for row in splits.iter_rows(named=True):
        kept = row["before_l"]
        other = row["key_r"] if row["key_l"] == kept else row["key_l"]
        explained.setdefault((row["level"], "split", kept, other), row["decision_id"])
        explained.setdefault((row["level"], "new", other, None), row["decision_id"])
    kind = dict(decisions.select("decision_id", "decision").iter_rows())
    ids = [
        explained.get(
            (level, event, key, None if event == "new" else other),
        )
        for level, event, key, other in events.select("level", "event", "person_key", "other_person_key").iter_rows()
    ]
    series = pl.Series("decision_id", ids, dtype=pl.Int64)
    cause = pl.Series("cause", [None if i is None else f"review_{kind[i]}" for i in ids], dtype=pl.String)
    return events.with_columns(series, cause)


def review_outcome(decisions: pl.DataFrame, node_clusters: dict[str, pl.DataFrame]) -> dict[str, dict[str, int]]:
    """Per level: how many current match decisions have their two records in one cluster
    and how many non_match decisions have them apart (counts only)."""
    out = {}
    for level, clusters in node_clusters.items():
        c = clusters.select("unique_id", "cluster_id")
        joined = decisions.join(c.rename({"unique_id": "identity_l", "cluster_id": "cl"}), on="identity_l").join(
            c.rename({"unique_id": "identity_r", "cluster_id": "cr"}), on="identity_r"
        )
        together = joined["cl"].to_numpy() == joined["cr"].to_numpy()
        is_match = (joined["decision"] == "match").to_numpy()
        out[level] = {
            "review_matches_together": int(np.sum(is_match & together)),
            "review_non_matches_apart": int(np.sum(~is_match & ~together)),
        }
    return out


def decisions_honoured(con: duckdb.DuckDBPyConnection, spine_table: str = SPINE_TABLE) -> list[dict]:
    """Per level, from the spine: the current match decisions and how many have their two
    sides under one person_key, the non_match decisions and how many have them apart
    (decisions review_constraints leaves out are not counted). Empty without decisions."""
    constraints = review_constraints(con)
    if constraints is None:
        return []
    keys = decision_record_keys(con, constraints.decisions, spine_table)
    keyed = keys.join(constraints.decisions.select("decision_id", "decision"), on="decision_id")
    rows = []
    for level in LEVELS:
        at = keyed.filter(pl.col("level") == level)
        same = at["key_l"] == at["key_r"]
        is_match = at["decision"] == "match"
        rows.append(
            {
                "level": level,
                "matches": int(is_match.sum()),
                "matches_together": int((is_match & same).sum()),
                "non_matches": int((~is_match).sum()),
                "non_matches_apart": int((~is_match & ~same).sum()),
            }
        )
    return rows


def review_labels(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The current match and non_match decisions as a Splink labels table over identities
    (unique_id_l, unique_id_r, clerical_match_score 1 or 0); empty without decisions."""
    schema = {"unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "clerical_match_score": pl.Float64}
    constraints = review_constraints(con)
    if constraints is None:
        return pl.DataFrame(schema=schema)
    return constraints.decisions.select(
        pl.col("identity_l").alias("unique_id_l"),
        pl.col("identity_r").alias("unique_id_r"),
        (pl.col("decision") == "match").cast(pl.Float64).alias("clerical_match_score"),
    ).cast(schema)


def review_match_labels(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The identity pairs reviewers currently say are one person (train.train_model's
    match_labels)."""
    labels = review_labels(con)
    return labels.filter(pl.col("clerical_match_score") == 1).select("unique_id_l", "unique_id_r")


ACCURACY_WEIGHTS = (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0)


def accuracy_by_weight(table: pl.DataFrame, weights: tuple[float, ...] = ACCURACY_WEIGHTS) -> list[dict]:
    """A few rows of Splink's accuracy table from labels (clerical.accuracy_from_labels):
    at each match weight, the nearest threshold's precision and recall against the
    reviewers' labels, with the label counts (counts and rates only)."""
    rows = []
    for weight in weights:
        nearest = (
            table.with_columns((pl.col("truth_threshold") - weight).abs().alias("_d")).sort("_d").row(0, named=True)
        )
        rows.append(
            {
                "match_weight_threshold": float(nearest["truth_threshold"]),
                "labels": int(nearest["p"] + nearest["n"]),
                "precision": float(nearest["precision"]),
                "recall": float(nearest["recall"]),
            }
        )
    return rows


def accuracy_from_review(con: duckdb.DuckDBPyConnection, artefact: dict) -> list[dict]:
    """The model's precision and recall against the current match / non_match decisions
    at a few match weights (accuracy_by_weight of Splink's accuracy table from labels,
    clerical.accuracy_from_labels); empty where there is no decision of either kind."""
    labels = review_labels(con)
    if labels.is_empty() or labels["clerical_match_score"].n_unique() < 2:
        return []
    from cmi_assets.linkage.clerical import accuracy_from_labels

    return accuracy_by_weight(accuracy_from_labels(con, artefact, labels))


def threshold_for(con: duckdb.DuckDBPyConnection, level: str) -> float:
    """The level's match-probability threshold of the last full run."""
    column = f"{level}_min_probability"
    return float(con.execute(f"SELECT {column} FROM {THRESHOLDS_TABLE}").fetchone()[0])
