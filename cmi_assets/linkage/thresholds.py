"""The two linkage levels of the NZ study (section 5), both kept on every scored pair.

- Conservative (NZ para 88): a very high match probability, and for two children's
  records at least one parent or caregiver given name in common. Its aim is to avoid
  false links at the cost of missed ones (para 89).
- Less conservative (para 90): links where the chance that the records relate to the same
  person is high; here, the threshold that maximises the expected F1 computed from the
  model's own match probabilities (each pair counts p as a match and 1 - p as a
  non-match), so no truth is needed to set it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import numpy as np

from cmi_assets.linkage.person_records import IDENTITIES_TABLE
from cmi_assets.linkage.predict import PAIRS_TABLE
from cmi_assets.linkage.settings import parent_names_agree_sql

# "A very high level of agreement" (NZ para 88): a match weight of about 20 (odds of
# roughly a million to one) before the parent-name condition.
CONSERVATIVE_MIN_MATCH_PROBABILITY = 0.999999

LEVELS = ("conservative", "less_conservative")


@dataclass(frozen=True)
class Thresholds:
    conservative_min_probability: float
    less_conservative_min_probability: float
    expected_f1_at_less_conservative: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def expected_f1_by_threshold(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate threshold (each distinct probability, descending): the expected
    F1 of linking every pair at or above it. Expected TP = sum of p above, FP = sum of
    1 - p above, FN = sum of p below."""
    p = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    if len(p) == 0:
        return np.array([]), np.array([])
    tp = np.cumsum(p)
    fp = np.cumsum(1.0 - p)
    fn = p.sum() - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300)
    # a threshold links every pair with p >= it: evaluate at the last index of each value
    last_of_value = np.r_[p[1:] != p[:-1], True]
    return p[last_of_value], f1[last_of_value]


def expected_f1_threshold(probabilities: np.ndarray) -> tuple[float, float]:
    """The threshold maximising expected F1 and that expected F1."""
    thresholds, f1 = expected_f1_by_threshold(probabilities)
    if len(thresholds) == 0:
        return 1.0, 0.0
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def choose_thresholds(
    con: duckdb.DuckDBPyConnection,
    pairs_table: str = PAIRS_TABLE,
    conservative_min_probability: float = CONSERVATIVE_MIN_MATCH_PROBABILITY,
) -> Thresholds:
    probabilities = con.execute(f"SELECT match_probability FROM {pairs_table}").fetchnumpy()["match_probability"]
    threshold, f1 = expected_f1_threshold(probabilities)
    return Thresholds(conservative_min_probability, threshold, f1)


def conservative_link_sql(min_probability: float) -> str:
    """SQL condition over a pair joined to its two records (aliases l, r): NZ para 88."""
    return (
        f"(p.match_probability >= {min_probability!r} AND "
        f"(l.role <> 'child' OR r.role <> 'child' OR "
        f"coalesce({parent_names_agree_sql('l.parent_given_forms', 'r.parent_given_forms')}, FALSE)))"
    )


def flag_links(
    con: duckdb.DuckDBPyConnection,
    thresholds: Thresholds,
    pairs_table: str = PAIRS_TABLE,
    records_table: str = IDENTITIES_TABLE,
    out_table: str = "linkage.person_links",
    append: bool = False,
) -> dict[str, int]:
    """The pairs linked at either level, with both flags (a conservative link is always a
    less conservative one too when its threshold is the stricter)."""
    select = f"""
        SELECT p.unique_id_l, p.unique_id_r, p.match_weight, p.match_probability,
               {conservative_link_sql(thresholds.conservative_min_probability)} AS is_link_conservative,
               p.match_probability >= {thresholds.less_conservative_min_probability!r} AS is_link_less_conservative
        FROM {pairs_table} p
        JOIN {records_table} l ON l.unique_id = p.unique_id_l
        JOIN {records_table} r ON r.unique_id = p.unique_id_r
    """
    filtered = f"SELECT * FROM ({select}) WHERE is_link_conservative OR is_link_less_conservative"
    if append:
        con.execute(f"INSERT INTO {out_table} BY NAME {filtered}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {out_table} AS {filtered}")
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE is_link_conservative), count(*) FILTER (WHERE is_link_less_conservative) FROM {out_table}"
    ).fetchone()
    return {"links_conservative": int(row[0]), "links_less_conservative": int(row[1])}
