"""The two linkage levels of the NZ study (section 5), both kept on every scored pair.

- Conservative (NZ para 88): a very high match probability, and for two children's
  records at least one parent or caregiver given name in common. Its aim is to avoid
  false links at the cost of missed ones (para 89).
- Less conservative (para 90): links where the chance that the records relate to the same
  person is high; here, the threshold that maximises the expected F1 computed from the
  model's own match probabilities (each pair counts p as a match and 1 - p as a
  non-match), so no truth is needed to set it.

Calibration of the conservative level (benchmarks/bench_linkage_quality.py, default world):
NZ Table 4 has it agree with clerical review for 95.3% of cohort children and 82.4% of
those with findings by age two (all its errors missed links). A parent name "in common"
that must match letter for letter, with odds of a million to one, gave 78% and 35%:
unverified care and protection records name a caregiver by an initial or with a keying
slip as often as the child (NZ para 97), and hospital records name no parent at all, so
the condition failed on records a reviewer would link. The condition now accepts the
same name, a nickname form, an initial standing for it or one keying slip, and applies
where both records name a parent or caregiver; the threshold is odds of 10,000 to one.
Precision stays at least the less conservative level's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import numpy as np

from cmi_assets.linkage.clustering import guard_candidate_sql, known_name_key_sql, separated_by_sql
from cmi_assets.linkage.person_records import IDENTITIES_TABLE
from cmi_assets.linkage.predict import PAIRS_TABLE
from cmi_assets.linkage.settings import parent_names_agree_sql
from cmi_assets.linkage.tables import (
    LEVELS,  # noqa: F401  (re-exported: callers import it from here)
    LINKS_TABLE,
)

# "A very high level of agreement" (NZ para 88): a match weight of about 13.3 (odds of
# 10,000 to one) before the parent-name condition.
CONSERVATIVE_MIN_MATCH_PROBABILITY = 0.9999
# A parent's given name keyed with one slip still names the parent when it is this long.
PARENT_NAME_SLIP_MIN_LENGTH = 4


@dataclass(frozen=True)
class Thresholds:
    conservative_min_probability: float
    less_conservative_min_probability: float
    expected_f1_at_less_conservative: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def expected_f1_by_threshold(
    probabilities: np.ndarray, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate threshold (each distinct probability, descending): the expected
    F1 of linking every pair at or above it. Expected TP = sum of p above, FP = sum of
    1 - p above, FN = sum of p below. counts: how many pairs hold each probability (the
    probabilities then distinct), else one each."""
    values = np.asarray(probabilities, dtype=float)
    if counts is None:
        values, counts = np.unique(values, return_counts=True)
    else:
        order = np.argsort(values)
        values, counts = values[order], np.asarray(counts)[order]
    values, counts = values[::-1], counts[::-1].astype(float)
    if len(values) == 0:
        return np.array([]), np.array([])
    # a threshold links every pair with p >= it
    tp = np.cumsum(values * counts)
    fp = np.cumsum((1.0 - values) * counts)
    fn = tp[-1] - tp
    return values, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300)


def expected_f1_threshold(probabilities: np.ndarray, counts: np.ndarray | None = None) -> tuple[float, float]:
    """The threshold maximising expected F1 and that expected F1."""
    thresholds, f1 = expected_f1_by_threshold(probabilities, counts)
    if len(thresholds) == 0:
        return 1.0, 0.0
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def choose_thresholds(
    con: duckdb.DuckDBPyConnection,
    pairs_table: str = PAIRS_TABLE,
    conservative_min_probability: float = CONSERVATIVE_MIN_MATCH_PROBABILITY,
) -> Thresholds:
    # pairs share probabilities (one per comparison pattern and name frequency): counted in
    # DuckDB, a fifth as many values to sort here
    rows = con.execute(f"SELECT match_probability AS p, count(*) AS n FROM {pairs_table} GROUP BY 1").fetchnumpy()
    threshold, f1 = expected_f1_threshold(rows["p"], rows["n"])
    return Thresholds(conservative_min_probability, threshold, f1)


def parents_agree_sql(l: str = "l", r: str = "r") -> str:
    """A parent or caregiver given name in common between two records (aliases l, r): the
    same name or a nickname form of it (settings.parent_names_agree_sql), an initial
    standing for it, or one keying slip apart."""
    slips = []
    for a in (f"{l}.parent1_given", f"{l}.parent2_given"):
        for b in (f"{r}.parent1_given", f"{r}.parent2_given"):
            initial = f"((length({a}) = 1 OR length({b}) = 1) AND left({a}, 1) = left({b}, 1))"
            slip = (
                f"(length({a}) >= {PARENT_NAME_SLIP_MIN_LENGTH} AND length({b}) >= {PARENT_NAME_SLIP_MIN_LENGTH} "
                f"AND damerau_levenshtein({a}, {b}) <= 1)"
            )
            slips.append(f"coalesce({initial} OR {slip}, FALSE)")
    same = f"coalesce({parent_names_agree_sql(f'{l}.parent_given_forms', f'{r}.parent_given_forms')}, FALSE)"
    return f"(CASE WHEN {same} THEN TRUE ELSE {' OR '.join(slips)} END)"


def flag_links(
    con: duckdb.DuckDBPyConnection,
    thresholds: Thresholds,
    pairs_table: str = PAIRS_TABLE,
    records_table: str = IDENTITIES_TABLE,
    out_table: str = LINKS_TABLE,
    append: bool = False,
    guards: bool = True,
) -> dict[str, int]:
    """The pairs linked at either level, with both flags, and why the clustering guards
    separate the two identities (clustering.separated_by_sql; NULL for most links).

    Conservative (NZ para 88): the conservative threshold and, for two children's records
    that both name a parent or caregiver, a parent in common (parents_agree_sql; a
    hospital record names none, and the threshold alone decides). Less conservative: its
    threshold. The parent condition is evaluated once per distinct pair of parent-name
    sets and the guard only for its candidates, so each pair is joined to the narrow
    fields of its identities once. guards=False: no link is separated (records without
    the family fields the guards rest on: cmi link on files without parents' names)."""
    t_conservative = thresholds.conservative_min_probability
    t_less = thresholds.less_conservative_min_probability
    # each identity's fields for the flags, names as integer keys (cheaper through the
    # joins of every pair): known given and middle names, and the parent-name set
    has_parents = "parent1_given IS NOT NULL OR parent2_given IS NOT NULL"
    parents_key = "hash(parent1_given, parent2_given)"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_flag_nodes AS
        SELECT unique_id, birth_year, dob, role = 'child' AS is_child, {known_name_key_sql("given")} AS given_key,
               {known_name_key_sql("middle")} AS middle_key, CASE WHEN {has_parents} THEN {parents_key} END AS parents_key
        FROM {records_table}""")
    tested = "l.is_child AND r.is_child AND l.parents_key IS NOT NULL AND r.parents_key IS NOT NULL"
    # the parent-name sets only where the parent condition is looked up (NULL elsewhere:
    # lighter to write and to probe)
    needed = f"p.match_probability >= {t_conservative!r} AND {tested}"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_flag_pairs AS
        SELECT p.unique_id_l, p.unique_id_r, p.match_weight, p.match_probability,
               p.match_probability >= {t_conservative!r} AS above_conservative,
               p.match_probability >= {t_less!r} AS is_link_less_conservative,
               {tested} AS parents_tested, CASE WHEN {needed} THEN l.parents_key END AS parents_l,
               CASE WHEN {needed} THEN r.parents_key END AS parents_r,
               {guard_candidate_sql("l", "r", name_keys=True) if guards else "FALSE"} AS guard_candidate
        FROM {pairs_table} p
        JOIN cmi_flag_nodes l ON l.unique_id = p.unique_id_l
        JOIN cmi_flag_nodes r ON r.unique_id = p.unique_id_r
        WHERE p.match_probability >= {min(t_conservative, t_less)!r}""")
    # the condition once per pair of parent-name sets (two sets with one key: either agreeing)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_flag_parents AS
        WITH needed AS (SELECT DISTINCT parents_l, parents_r FROM cmi_flag_pairs WHERE parents_l IS NOT NULL),
        sets AS (SELECT DISTINCT {parents_key} AS parents_key, parent1_given, parent2_given, parent_given_forms FROM {records_table}
                 WHERE ({has_parents}) AND {parents_key} IN (SELECT parents_l FROM needed UNION SELECT parents_r FROM needed))
        SELECT n.parents_l, n.parents_r, bool_or({parents_agree_sql("l", "r")}) AS parents_agree FROM needed n
        JOIN sets l ON l.parents_key = n.parents_l JOIN sets r ON r.parents_key = n.parents_r GROUP BY n.parents_l, n.parents_r""")
    link = """f.unique_id_l, f.unique_id_r, f.match_weight, f.match_probability,
               f.above_conservative AND (NOT f.parents_tested OR coalesce(a.parents_agree, FALSE)) AS is_link_conservative,
               f.is_link_less_conservative"""
    parents = "LEFT JOIN cmi_flag_parents a ON a.parents_l = f.parents_l AND a.parents_r = f.parents_r"
    select = f"""
        SELECT * FROM (
            SELECT {link}, NULL::VARCHAR AS separated_by FROM cmi_flag_pairs f {parents} WHERE NOT f.guard_candidate
            UNION ALL
            SELECT {link}, {separated_by_sql("l", "r")} AS separated_by FROM cmi_flag_pairs f {parents}
            JOIN {records_table} l ON l.unique_id = f.unique_id_l JOIN {records_table} r ON r.unique_id = f.unique_id_r
            WHERE f.guard_candidate)
        WHERE is_link_conservative OR is_link_less_conservative"""
    try:
        if append:
            con.execute(f"INSERT INTO {out_table} BY NAME {select}")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {out_table} AS {select}")
    finally:
        for table in ("cmi_flag_nodes", "cmi_flag_pairs", "cmi_flag_parents"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE is_link_conservative), count(*) FILTER (WHERE is_link_less_conservative) FROM {out_table}"
    ).fetchone()
    return {"links_conservative": int(row[0]), "links_less_conservative": int(row[1])}
