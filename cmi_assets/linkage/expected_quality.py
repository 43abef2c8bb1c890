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
from cmi_assets.linkage.predict import MIN_MATCH_PROBABILITY, linker_for
from cmi_assets.linkage.thresholds import LEVELS

# one compared field equal: looser than any prediction rule
LOOSE_FIELDS = ("given_name", "family_name", "dob", "dob_text", "postcode", "address", "locality", "shared_id", "person_id")
# pairs scored for the estimate, at most: bounded time on a state's volume
LOOSE_MAX_PAIRS = 2_000_000


def _loose_rules(con: duckdb.DuckDBPyConnection, identities: str, fields: list[str]) -> dict[str, int]:
    present = {r[0] for r in con.execute(f"DESCRIBE {identities}").fetchall()}
    rules = {f"l.{f} = r.{f}": rule_pair_count(con, identities, f"l.{f} = r.{f}") for f in LOOSE_FIELDS
             if f in present and (f in fields or f == "dob_text" and "dob" in fields)}
    return {rule: pairs for rule, pairs in rules.items() if pairs}


def expected_missed_pairs(
    con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], identities: str, pairs: str, registers: list[str], seed: int = 1,
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
    model = {**artefact["model"], "blocking_rules_to_generate_predictions": [
        {"blocking_rule": f"{rule} AND (l.in_sample OR r.in_sample)", "sql_dialect": "duckdb"} for rule in rules]}
    try:
        linker = linker_for(con, {**artefact, "model": model}, ["cmi_quality_pool"])
        scored = linker.inference.predict(threshold_match_probability=MIN_MATCH_PROBABILITY, warning_mode="never")
        listed = ", ".join(f"'{r}'" for r in registers) or "NULL"
        missed = con.execute(f"""
            SELECT coalesce(sum(s.match_probability * l.n_records * r.n_records), 0)
            FROM {scored.physical_name} s
            JOIN cmi_quality_pool l ON l.unique_id = s.unique_id_l JOIN cmi_quality_pool r ON r.unique_id = s.unique_id_r
            WHERE NOT (l.id_namespace = r.id_namespace AND l.id_namespace IN ({listed}))
            AND NOT EXISTS (SELECT 1 FROM {pairs} p WHERE p.unique_id_l = s.unique_id_l AND p.unique_id_r = s.unique_id_r)
            AND NOT EXISTS (SELECT 1 FROM {pairs} p WHERE p.unique_id_l = s.unique_id_r AND p.unique_id_r = s.unique_id_l)""").fetchone()[0]
        linker.table_management.delete_tables_created_by_splink_from_db()
    finally:
        con.execute("DROP TABLE IF EXISTS cmi_quality_pool")
    # a pair is in the sample when either identity is
    return float(missed) / (2 * share - share**2), share


def expected_quality(
    con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], identities: str, pairs: str, links: str, records: str,
    registers: list[str], seed: int = 1,
) -> dict[str, Any]:
    """Expected precision, recall and F1 of each level's flagged record pairs, the expected
    true pairs blocking missed and the share of identities the estimate sampled."""
    missed, share = expected_missed_pairs(con, artefact, identities, pairs, registers, seed)
    listed = ", ".join(f"'{r}'" for r in registers) or "NULL"
    within = con.execute(f"""SELECT coalesce(sum(n_records * (n_records - 1) / 2), 0) FROM {identities}
                             WHERE id_namespace NOT IN ({listed})""").fetchone()[0]
    flags = ", ".join(f"""sum(p.match_probability * w) FILTER (WHERE coalesce(k.is_link_{level}, FALSE)),
                          sum((1 - p.match_probability) * w) FILTER (WHERE coalesce(k.is_link_{level}, FALSE))""" for level in LEVELS)
    row = con.execute(f"""SELECT sum(p.match_probability * w), {flags} FROM (
                              SELECT p.*, l.n_records * r.n_records AS w FROM {pairs} p
                              JOIN {identities} l ON l.unique_id = p.unique_id_l JOIN {identities} r ON r.unique_id = p.unique_id_r) p
                          LEFT JOIN {links} k USING (unique_id_l, unique_id_r)""").fetchone()
    scored_true = float(row[0] or 0) + float(within)
    out: dict[str, Any] = {"expected_true_pairs_missed_by_blocking": round(missed, 1), "identities_sampled_share": round(share, 4),
                           "expected_blocking_recall": round(scored_true / max(scored_true + missed, 1e-12), 4)}
    for i, level in enumerate(LEVELS):
        tp, fp = float(row[1 + 2 * i] or 0) + float(within), float(row[2 + 2 * i] or 0)
        precision, recall = tp / max(tp + fp, 1e-12), tp / max(scored_true + missed, 1e-12)
        out[level] = {"precision": round(precision, 4), "recall": round(recall, 4),
                      "f1": round(2 * precision * recall / max(precision + recall, 1e-12), 4)}
    return out
