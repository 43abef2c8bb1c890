"""Choose the prediction blocking rules by measured pair counts (splink.blocking_analysis),
so a rule that explodes on a large or skewed extract (one very common name) is dropped
before it costs an hour, and report what each kept rule adds."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from cmi_assets.linkage.engine import duckdb_api, register_input
from cmi_assets.linkage.settings import CANDIDATE_BLOCKING_RULES, UNIQUE_ID

# Default budget per rule: pairs per input record. Rules on exact identity fields stay far
# below it; a rule over a coarse field (birth year alone) would exceed it.
PAIRS_PER_RECORD_BUDGET = 200


def count_pairs_by_rule(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rules: Mapping[str, str],
    record_sample_proportion: float = 1.0,
) -> dict[str, dict[str, int]]:
    """For each rule: the pairs it generates alone and those it adds after the rules
    before it (marginal), in the given order. Counts only."""
    db_api = duckdb_api(con)
    frame = register_input(db_api, con, table)
    names = list(rules)
    cumulative = count_comparisons_from_blocking_rules(
        frame,
        blocking_rules=[rules[n] for n in names],
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        record_sample_proportion=record_sample_proportion,
    )
    out = {n: {"marginal_pairs": int(r["marginal_comparison_count"])} for n, r in zip(names, cumulative)}
    for name in names:
        alone = count_comparisons_from_blocking_rules(
            register_input(db_api, con, table),
            blocking_rules=rules[name],
            link_type="dedupe_only",
            unique_id_column_name=UNIQUE_ID,
            record_sample_proportion=record_sample_proportion,
        )[0]
        out[name]["pairs"] = int(alone["marginal_comparison_count"])
    return out


def choose_blocking_rules(
    con: duckdb.DuckDBPyConnection,
    table: str,
    candidates: Mapping[str, str] = CANDIDATE_BLOCKING_RULES,
    max_pairs_per_rule: int | None = None,
    record_sample_proportion: float | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The candidate rules whose pair count alone fits the budget (default:
    PAIRS_PER_RECORD_BUDGET per record), and the measured counts of every candidate.
    Large tables are measured on a record sample (counts scaled by Splink)."""
    n_records = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    budget = max_pairs_per_rule or PAIRS_PER_RECORD_BUDGET * max(n_records, 1)
    if record_sample_proportion is None:
        record_sample_proportion = 1.0 if n_records <= 200_000 else max(0.05, 200_000 / n_records)
    counts = count_pairs_by_rule(con, table, candidates, record_sample_proportion)
    kept = {name: rule for name, rule in candidates.items() if counts[name]["pairs"] <= budget}
    return kept, counts
