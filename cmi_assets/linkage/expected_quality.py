"""What a linkage run can say of its own precision and recall, without truth.

Each scored pair counts its match probability as a true match and the rest as a false
one, in record pairs (an identity pair stands for every pair of their records; records
equal on every compared field are one identity and count as matches among themselves).
Recall's denominator must include the matches blocking never scored: those are estimated
by scoring, with the same model, the pairs that looser rules (one compared field equal)
give for a sample of identities, less the pairs already scored. On a small file the
sample is every identity.
"""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb

from cmi_assets.linkage.blocking import rule_pair_count
from cmi_assets.linkage.file_mapping import in_files
from cmi_assets.linkage.predict import MIN_MATCH_PROBABILITY, linker_for
from cmi_assets.linkage.thresholds import LEVELS

# one compared field equal: looser than any prediction rule
LOOSE_FIELDS = (
    "given_name",
    "family_name",
    "dob",
    "dob_text",
    "postcode",
    "address",
    "locality",
    "shared_id",
    "person_id",
)
# pairs scored for the estimate, at most: bounded time on a state's volume
LOOSE_MAX_PAIRS = 2_000_000


def _loose_rules(con: duckdb.DuckDBPyConnection, identities: str, fields: list[str]) -> dict[str, int]:
    present = {r[0] for r in con.execute(f"DESCRIBE {identities}").fetchall()}
    rules = {
        f"l.{f} = r.{f}": rule_pair_count(con, identities, f"l.{f} = r.{f}")
        for f in LOOSE_FIELDS
        if f in present and (f in fields or f == "dob_text" and "dob" in fields)
    }
    return {rule: pairs for rule, pairs in rules.items() if pairs}


def expected_missed_pairs(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    identities: str,
    pairs: str,
    registers: list[str],
    seed: int = 1,
) -> tuple[float, float]:
    """The expected true record pairs that blocking did not score, and the share of
    identities sampled to estimate it."""
    rules = _loose_rules(con, identities, artefact.get("fields", []))
    if not rules:
        return 0.0, 1.0
    share = min(1.0, LOOSE_MAX_PAIRS / (2 * sum(rules.values())))
    salt = int(hashlib.sha256(f"expected-quality-{seed}".encode()).hexdigest()[:8], 16)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_quality_pool AS SELECT *,
                    (hash(unique_id + {salt}) % 1000000) < {int(share * 1_000_000)} AS in_sample FROM {identities}""")
    model = {
        **artefact["model"],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": f"{rule} AND (l.in_sample OR r.in_sample)", "sql_dialect": "duckdb"} for rule in rules
        ],
    }
    try:
        linker = linker_for(con, {**artefact, "model": model}, ["cmi_quality_pool"])
        scored = linker.inference.predict(threshold_match_probability=MIN_MATCH_PROBABILITY, warning_mode="never")
        missed = con.execute(f"""
            SELECT coalesce(sum(s.match_probability * l.n_records * r.n_records), 0)
            FROM {scored.physical_name} s
            JOIN cmi_quality_pool l ON l.unique_id = s.unique_id_l JOIN cmi_quality_pool r ON r.unique_id = s.unique_id_r
            WHERE NOT (l.id_namespace = r.id_namespace AND {in_files("l.id_namespace", registers)})
            AND NOT EXISTS (SELECT 1 FROM {pairs} p WHERE p.unique_id_l = s.unique_id_l AND p.unique_id_r = s.unique_id_r)
            AND NOT EXISTS (SELECT 1 FROM {pairs} p WHERE p.unique_id_l = s.unique_id_r AND p.unique_id_r = s.unique_id_l)""").fetchone()[
            0
        ]
        linker.table_management.delete_tables_created_by_splink_from_db()
    finally:
        con.execute("DROP TABLE IF EXISTS cmi_quality_pool")
    # a pair is in the sample when either identity is
    return float(missed) / (2 * share - share**2), share


def _capped_probability_table(
    con: duckdb.DuckDBPyConnection, identities: str, pairs: str, links: str, registers: list[str]
) -> str:
    """The scored pairs with the match probabilities the other evidence allows: none for a
    pair a guard separates (twins' or siblings' names and birth dates, which the model's
    fields cannot tell apart); and as a record of a duplicate-free file has at most one
    true partner in each other file, where its partners' probabilities add to more than
    one they are scaled down to add to one (a pair takes the stronger of the scalings its
    two ends ask for)."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_quality_pairs AS
        WITH p AS (SELECT p.unique_id_l, p.unique_id_r, l.n_records * r.n_records AS w, l.id_namespace AS ns_l, r.id_namespace AS ns_r,
                          p.match_probability, CASE WHEN k.separated_by IS NULL THEN p.match_probability ELSE 0 END AS allowed
                   FROM {pairs} p JOIN {identities} l ON l.unique_id = p.unique_id_l JOIN {identities} r ON r.unique_id = p.unique_id_r
                   LEFT JOIN {links} k USING (unique_id_l, unique_id_r)),
        directed AS (SELECT unique_id_l AS a, ns_r AS partner_file, allowed FROM p UNION ALL SELECT unique_id_r, ns_l, allowed FROM p),
        mass AS (SELECT a, partner_file, sum(allowed) AS total FROM directed
                 WHERE {in_files("partner_file", registers)} GROUP BY ALL)
        SELECT p.unique_id_l, p.unique_id_r, p.w, p.match_probability,
               p.allowed / greatest(1, coalesce(ml.total, 1), coalesce(mr.total, 1)) AS believable_probability
        FROM p LEFT JOIN mass ml ON ml.a = p.unique_id_l AND ml.partner_file = p.ns_r AND {in_files("p.ns_l", registers)}
               LEFT JOIN mass mr ON mr.a = p.unique_id_r AND mr.partner_file = p.ns_l AND {in_files("p.ns_r", registers)}""")
    return "cmi_quality_pairs"


def expected_quality(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    identities: str,
    pairs: str,
    links: str,
    identity_clusters: str,
    registers: list[str],
    seed: int = 1,
) -> dict[str, Any]:
    """Expected precision, recall and F1, in record pairs, of each level's kept links (the
    flagged pairs whose records the clusters keep together), the expected true pairs
    blocking missed and the share of identities the estimate sampled. identity_clusters
    maps each identity (unique_id) to its cluster at each level (cluster_id_<level>)."""
    missed, share = expected_missed_pairs(con, artefact, identities, pairs, registers, seed)
    within = con.execute(f"""SELECT coalesce(sum(n_records * (n_records - 1) / 2), 0) FROM {identities}
                             WHERE NOT {in_files("id_namespace", registers)}""").fetchone()[0]
    scored = _capped_probability_table(con, identities, pairs, links, registers)
    kept = {
        level: f"coalesce(k.is_link_{level}, FALSE) AND cl.cluster_id_{level} = cr.cluster_id_{level}"
        for level in LEVELS
    }
    sums = ", ".join(
        f"sum(p.match_probability * p.w) FILTER (WHERE {kept[level]}), "
        f"sum((1 - p.match_probability) * p.w) FILTER (WHERE {kept[level]})"
        for level in LEVELS
    )
    try:
        row = con.execute(f"""SELECT sum(p.believable_probability * p.w), {sums} FROM {scored} p
                              LEFT JOIN {links} k USING (unique_id_l, unique_id_r)
                              JOIN {identity_clusters} cl ON cl.unique_id = p.unique_id_l
                              JOIN {identity_clusters} cr ON cr.unique_id = p.unique_id_r""").fetchone()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {scored}")
    scored_true = float(row[0] or 0) + float(within)
    out: dict[str, Any] = {
        "expected_true_pairs_missed_by_blocking": round(missed, 1),
        "identities_sampled_share": round(share, 4),
        "expected_blocking_recall": round(scored_true / max(scored_true + missed, 1e-12), 4),
    }
    for i, level in enumerate(LEVELS):
        tp, fp = float(row[1 + 2 * i] or 0) + float(within), float(row[2 + 2 * i] or 0)
        precision, recall = tp / max(tp + fp, 1e-12), min(1.0, tp / max(scored_true + missed, 1e-12))
        out[level] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(2 * precision * recall / max(precision + recall, 1e-12), 4),
        }
    return out
