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
# Budget of the wide rules together (settings.wide_blocking_rules), pairs per input record:
# on a file of thousands a DOB or a postcode alone yields a few pairs a record and finds what
# a typo in a name and another in the DOB hide from the precise rules; on a state's volume
# the same rules yield hundreds and are left out.
WIDE_PAIRS_PER_RECORD = 10


# Records sampled for the pairs each rule adds after the ones before it (a join per rule):
# enough for a stable count, bounded time on a large table.
MARGINAL_SAMPLE_RECORDS = 100_000


def equi_join_keys(rule: str) -> list[str] | None:
    """The key expressions of a rule made of `<expr on l> = <same expr on r>` terms joined
    by AND ("l.dob = r.dob AND left(l.given_name, 1) = left(r.given_name, 1)" ->
    ["dob", "left(given_name, 1)"]); None for any other rule."""
    keys = []
    for term in rule.split(" AND "):
        left, sep, right = term.partition("=")
        left, right = left.strip(), right.strip()
        if not sep or "l." not in left or left.replace("l.", "r.") != right or "r." in left:
            return None
        keys.append(left.replace("l.", ""))
    return keys


def rule_pair_count(con: duckdb.DuckDBPyConnection, table: str, rule: str) -> int | None:
    """The exact number of pairs an equi-join rule generates (n choose 2 per key group,
    records with a null key take part in none); None when the rule is not an equi-join."""
    keys = equi_join_keys(rule)
    if keys is None:
        return None
    key_list = ", ".join(keys)
    not_null = " AND ".join(f"({k}) IS NOT NULL" for k in keys)
    return int(
        con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM {table} WHERE {not_null} GROUP BY {key_list})"
        ).fetchone()[0]
    )


def count_pairs_by_rule(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rules: Mapping[str, str],
    record_sample_proportion: float = 1.0,
) -> dict[str, dict[str, int]]:
    """For each rule: the pairs it generates alone (exact, by key-group sizes, for equi-join
    rules) and those it adds after the rules before it (marginal, in the given order; by
    Splink on a record sample, scaled). Counts only."""
    db_api = duckdb_api(con)
    names = list(rules)
    cumulative = count_comparisons_from_blocking_rules(
        register_input(db_api, con, table),
        blocking_rules=[rules[n] for n in names],
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        record_sample_proportion=record_sample_proportion,
    )
    out = {n: {"marginal_pairs": int(r["marginal_comparison_count"])} for n, r in zip(names, cumulative)}
    for name in names:
        pairs = rule_pair_count(con, table, rules[name])
        if pairs is None:
            pairs = int(
                count_comparisons_from_blocking_rules(
                    register_input(db_api, con, table),
                    blocking_rules=rules[name],
                    link_type="dedupe_only",
                    unique_id_column_name=UNIQUE_ID,
                    record_sample_proportion=record_sample_proportion,
                )[0]["marginal_comparison_count"]
            )
        out[name]["pairs"] = pairs
    return out


def affordable_wide_rules(
    con: duckdb.DuckDBPyConnection, table: str, wide: Mapping[str, str], budget: int
) -> tuple[dict[str, str], dict[str, int]]:
    """The wide rules that fit the budget together, cheapest first (a rule that alone
    exceeds what is left is skipped, a cheaper one after it may still fit), and each wide
    rule's pair count."""
    pairs = {name: rule_pair_count(con, table, rule) for name, rule in wide.items()}
    kept, spent = {}, 0
    for name in sorted(wide, key=lambda n: (pairs[n] is None, pairs[n] or 0, n)):
        if pairs[name] is not None and spent + pairs[name] <= budget:
            kept[name] = wide[name]
            spent += pairs[name]
    return kept, pairs


def choose_blocking_rules(
    con: duckdb.DuckDBPyConnection,
    table: str,
    candidates: Mapping[str, str] = CANDIDATE_BLOCKING_RULES,
    max_pairs_per_rule: int | None = None,
    record_sample_proportion: float | None = None,
    wide: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The candidate rules whose pair count alone fits the budget (default:
    PAIRS_PER_RECORD_BUDGET per record), then the wide rules that fit theirs together
    (affordable_wide_rules, WIDE_PAIRS_PER_RECORD per record), and the measured counts of
    every rule kept and every precise candidate (a wide rule left out reports its pairs
    only). Marginal counts of a large table are measured on a record sample."""
    n_records = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    budget = max_pairs_per_rule or PAIRS_PER_RECORD_BUDGET * max(n_records, 1)
    if record_sample_proportion is None:
        record_sample_proportion = min(1.0, MARGINAL_SAMPLE_RECORDS / max(n_records, 1))
    kept_wide, wide_pairs = affordable_wide_rules(con, table, wide or {}, WIDE_PAIRS_PER_RECORD * max(n_records, 1))
    counts = count_pairs_by_rule(con, table, {**candidates, **kept_wide}, record_sample_proportion)
    kept = {name: rule for name, rule in candidates.items() if counts[name]["pairs"] <= budget}
    kept.update(kept_wide)
    for name, pairs in wide_pairs.items():
        if name not in kept_wide:
            counts[name] = {"pairs": pairs, "left_out": "wide rules' budget"}
    return kept, counts
