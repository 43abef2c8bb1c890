"""Clusters of person records at each linkage level: connected components of the linked
pairs, with constraints that components alone break.

- One-to-one where a register is duplicate-free: two birth registrations are two children,
  however alike (a register keeps one registration per child).
- Twin guard (NZ study para 102): records with the same DOB and family name but different
  given or middle names are different people (twins named alike were merged in the NZ
  data under both linkages). "Different" means two real names that are neither equal nor
  a nickname of each other: a keying slip ("JASNO") is not a different name, nor, for given
  names, one that makes another real name (LORRI keyed as LORI).
- Twins named alike: where records carry no middle name (care and protection), twins with
  one given name are told apart only by their agency IDs; in a cluster known to hold
  twins, two IDs of one agency are two children (_twin_id_tokens).
- Sibling guard: records with different given names (as above, and not one keying slip
  apart nor a given/middle swap) are different people unless both carry a DOB and the
  DOBs agree (exactly or within a keying slip). Siblings share family name, postcode and
  parents' names; the model counts those as independent evidence, so a sibling's record
  with no DOB or an age only (care and protection, NZ para 97) would otherwise link.
- Middle-name guard: two different middle names (as above, not a given/middle swap) on
  two DOBs that differ are two people unless the DOBs confirm one: a 1st of the month
  (perhaps an unknown day keyed as the 1st) confirms no other day of its month. Else a
  child's record with the day unknown, linked on name and DOB to another child of the
  same given name born on the 1st of that month, joins the two.
- One DOB per person: birth years (from the DOB or an age) two or more apart, the DOBs
  not one keying slip apart, are two people (a child named after a parent); and a single
  link between two DOBs that are not one slip apart is refused unless the agency ID is the
  same (a sibling given the same name).

The guards are one SQL expression (separated_by_sql) over two nodes' name signatures
(given, middle, family, DOB, birth year) and their name keys (standardise.
add_guard_name_keys). A cluster is checked as a whole, not only link by link: a person
recorded once by their given name and once by their middle name is one cluster when a
record holds both names.

Nodes are identities (records equal on every compared field; person_records.py): the
links join identities, and a record takes its identity's cluster. The work is done where
it is cheapest: DuckDB computes the guard once per link for both levels (thresholds.
flag_links); a compiled union-find (greedy.py) finds each level's connected components of
the unguarded links; DuckDB compares every pair of distinct signatures inside the
components holding more than one name, once for both levels, to find the components that
break a constraint; only those are re-clustered, greedily and compiled too, strongest
link first, refusing any merge that would break one. A cluster's id is its smallest
identity id.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from cmi_assets.linkage import IMPLAUSIBLE_CLUSTER_RECORDS
from cmi_assets.linkage import standardise as std
from cmi_assets.linkage.greedy import component_roots, components_holding_both, greedy_roots
from cmi_assets.linkage.person_records import VERIFIED_ID_NAMESPACES

SIGNATURE = ("given_name", "middle_name", "family_name", "dob", "birth_year")
NAME_KEYS = ("given_forms", "given_is_known", "middle_forms", "middle_is_known")
NODE_COLUMNS = ("unique_id", *SIGNATURE, *NAME_KEYS, "duplicate_free_records")

_temp_numbers = itertools.count(1)


# --- the guards, as SQL over two nodes aliased l and r -------------------------------------------
# Written as nested CASE expressions, cheapest test first: DuckDB evaluates a THEN branch
# only for the rows its WHEN selects, so the string-distance functions run on a few rows.


def _share_a_form_sql(a: str, b: str) -> str:
    """Two name-form lists (a, b: list expressions) share a form; NULL when either is NULL
    or a is empty (callers coalesce to FALSE). list_has_any's result, about twice as fast
    on these short lists."""
    return f"list_bool_or(list_transform({a}, lambda x: list_contains({b}, x)))"


def _same_name_sql(a: str, b: str) -> str:
    """Equal, or nickname forms of one name (BILL and WILLIAM; CHRISSY and TINA, both short
    for CHRISTINA). a, b: '<alias>.<given|middle>'."""
    return (
        f"(CASE WHEN {a}_name IS NULL OR {b}_name IS NULL THEN FALSE WHEN {a}_name = {b}_name THEN TRUE "
        f"ELSE coalesce({_share_a_form_sql(f'{a}_forms', f'{b}_forms')}, FALSE) END)"
    )


def _different_names_sql(a: str, b: str) -> str:
    """Two real, different names: not an initial, a nickname form or a keying slip (a slip
    rarely makes another census name)."""
    return (
        f"(CASE WHEN {a}_name IS NULL OR {b}_name IS NULL OR {a}_name = {b}_name OR length({a}_name) < 2 "
        f"OR length({b}_name) < 2 OR NOT coalesce({a}_is_known AND {b}_is_known, FALSE) THEN FALSE "
        f"ELSE NOT coalesce({_share_a_form_sql(f'{a}_forms', f'{b}_forms')}, FALSE) END)"
    )


def _goes_by_middle_name_sql(l: str, r: str) -> str:
    """One node's given name is the other's middle name (a person known by their middle
    name, or given and middle swapped)."""
    return f"(CASE WHEN {_same_name_sql(f'{l}.given', f'{r}.middle')} THEN TRUE ELSE {_same_name_sql(f'{l}.middle', f'{r}.given')} END)"


def dobs_agree_sql(l: str = "l", r: str = "r") -> str:
    """Both DOBs present and equal or one keying slip apart: the same year and month (an
    unknown day keyed as the 1st), day and month transposed, or one character different
    (Damerau: a substitution or two adjacent characters swapped, equal-length dates)."""
    a, b = f"{l}.dob", f"{r}.dob"
    sa, sb = f"CAST({a} AS VARCHAR)", f"CAST({b} AS VARCHAR)"
    # different years and a different month or day: two characters apart at least, and not
    # adjacent ('-' lies between), so no slip; this settles most pairs before any string work
    return (
        f"(CASE WHEN {a} IS NULL OR {b} IS NULL THEN FALSE "
        f"WHEN year({a}) <> year({b}) AND (month({a}) <> month({b}) OR day({a}) <> day({b})) THEN FALSE "
        f"WHEN date_trunc('month', {a}) = date_trunc('month', {b}) THEN TRUE "
        f"WHEN year({a}) = year({b}) AND month({a}) = day({b}) AND day({a}) = month({b}) THEN TRUE "
        f"WHEN hamming({sa}, {sb}) <= 1 THEN TRUE WHEN hamming({sa}, {sb}) = 2 THEN damerau_levenshtein({sa}, {sb}) <= 1 "
        f"ELSE FALSE END)"
    )


def _birth_years_conflict_sql(l: str, r: str) -> str:
    """Birth years (from the DOB, else estimated from an age) two or more apart, and DOBs
    not one keying slip apart: one person has one DOB (an age-based estimate is within
    one year)."""
    return (
        f"(CASE WHEN coalesce(abs({l}.birth_year - {r}.birth_year) >= 2, FALSE) THEN NOT {dobs_agree_sql(l, r)} "
        f"ELSE FALSE END)"
    )


def _birth_dates_conflict_sql(l: str, r: str) -> str:
    """For a link: both DOBs present and not one keying slip apart, unless the two records
    carry the same agency ID (the agency's own ID says one person; a record whose DOB
    took two slips stays with them). A sibling given the same name, born months apart,
    would otherwise link on everything else."""
    same_id = f"({l}.id_namespace = {r}.id_namespace AND {l}.person_id = {r}.person_id)"
    return (
        f"(CASE WHEN {l}.dob IS NULL OR {r}.dob IS NULL OR {l}.dob = {r}.dob OR coalesce({same_id}, FALSE) THEN FALSE "
        f"ELSE NOT {dobs_agree_sql(l, r)} END)"
    )


def _twins_by_name_sql(l: str, r: str) -> str:
    """Given or middle names that make two same-DOB, same-family nodes two people. A
    given/middle swap is one person, and so are given names one keying slip apart even
    when the slip makes another real name (LORRI keyed as LORI, ERIN as ERINN): twins
    named that alike are rare (3% of twin pairs, most of them nickname forms) and are
    told apart by their middle names or agency IDs, while one child's records with such
    a slip are common."""
    return (
        f"(CASE WHEN {_different_names_sql(f'{l}.given', f'{r}.given')} "
        f"AND damerau_levenshtein({l}.given_name, {r}.given_name) > 1 THEN NOT {_goes_by_middle_name_sql(l, r)} "
        f"ELSE {_different_names_sql(f'{l}.middle', f'{r}.middle')} END)"
    )


def _first_of_month_and_another_day_sql(l: str, r: str) -> str:
    """Two DOBs of one month, one on the 1st and the other on another day: they agree (an
    unknown day keyed as the 1st, or one digit apart) but say nothing about the day."""
    a, b = f"{l}.dob", f"{r}.dob"
    return f"({a} <> {b} AND (day({a}) = 1 OR day({b}) = 1) AND date_trunc('month', {a}) = date_trunc('month', {b}))"


def _dobs_confirm_sql(l: str, r: str) -> str:
    """DOBs that confirm two different names are one person: they agree, and not only as a
    1st of the month against another day of it."""
    return f"({dobs_agree_sql(l, r)} AND NOT {_first_of_month_and_another_day_sql(l, r)})"


def _middle_names_conflict_sql(l: str, r: str) -> str:
    """Middle names that make two nodes with DOBs two people unless the DOBs confirm one:
    two real, different middle names, not a given/middle swap. The same DOB and family
    name is the twin guard's case. A missing DOB leaves them be (a middle name keyed with
    a slip often makes another real name)."""
    return (
        f"(CASE WHEN {l}.dob IS NULL OR {r}.dob IS NULL OR {_dobs_confirm_sql(l, r)} THEN FALSE "
        f"WHEN NOT {_different_names_sql(f'{l}.middle', f'{r}.middle')} THEN FALSE "
        f"ELSE NOT {_goes_by_middle_name_sql(l, r)} END)"
    )


def _siblings_by_name_sql(l: str, r: str) -> str:
    """Given names that make two nodes two people unless their DOBs agree: two real,
    different names, not one keying slip apart, not the other's middle name. A DOB missing
    on either side (an age only) confirms nothing."""
    # the DOB test first: it is cheaper than the name forms and settles most pairs
    return (
        f"(CASE WHEN {dobs_agree_sql(l, r)} THEN FALSE "
        f"WHEN NOT {_different_names_sql(f'{l}.given', f'{r}.given')} THEN FALSE "
        f"WHEN damerau_levenshtein({l}.given_name, {r}.given_name) <= 1 THEN FALSE "
        f"ELSE NOT {_goes_by_middle_name_sql(l, r)} END)"
    )


def known_name_key_sql(part: str) -> str:
    """A known given or middle name (part: 'given' or 'middle') as an integer key, NULL
    when not a known name: two keys differ when the names do (a 64-bit hash), and integers
    are cheaper to carry through a join of millions of links than names."""
    return f"CASE WHEN {part}_is_known THEN hash({part}_name) END"


def guard_candidate_sql(l: str = "l", r: str = "r", link: bool = True, name_keys: bool = False) -> str:
    """A cheap necessary condition for separated_by_sql (names, dates and flags only, no
    name forms): two different DOBs (links), birth years two or more apart, two different
    known given names or two different known middle names. Most links fail it and need no
    more work. name_keys: the nodes carry given_key and middle_key (known_name_key_sql)
    instead of the names and their flags."""
    dates = f"OR coalesce({l}.dob <> {r}.dob, FALSE) " if link else ""

    def differ(part: str) -> str:
        if name_keys:
            return f"coalesce({l}.{part}_key <> {r}.{part}_key, FALSE)"
        return f"coalesce({l}.{part}_is_known AND {r}.{part}_is_known AND {l}.{part}_name <> {r}.{part}_name, FALSE)"

    return f"(coalesce(abs({l}.birth_year - {r}.birth_year) >= 2, FALSE) {dates}OR {differ('given')} OR {differ('middle')})"


def separated_by_sql(l: str = "l", r: str = "r", link: bool = True) -> str:
    """Why the guards separate two nodes: 'dob' (one person has one DOB), 'given' (twin or
    sibling guard, different given names), 'middle' (same given, different middle names:
    NZ para 102) or NULL. For a link (two identities, link=True) the DOB rule is the
    stricter one (_birth_dates_conflict_sql); for two name signatures in one cluster,
    birth years two or more apart (_birth_years_conflict_sql): a cluster may hold one
    record whose DOB took two slips, linked through the person's agency ID."""
    twins = f"{l}.dob = {r}.dob AND {l}.family_name = {r}.family_name"
    dates = _birth_dates_conflict_sql(l, r) if link else "FALSE"
    return (
        f"(CASE WHEN NOT {guard_candidate_sql(l, r, link)} THEN NULL "
        f"WHEN {_birth_years_conflict_sql(l, r)} OR {dates} THEN 'dob' "
        f"WHEN {twins} THEN (CASE WHEN NOT {_twins_by_name_sql(l, r)} THEN NULL "
        f"WHEN {_different_names_sql(f'{l}.given', f'{r}.given')} THEN 'given' ELSE 'middle' END) "
        f"WHEN {_siblings_by_name_sql(l, r)} THEN 'given' WHEN {_middle_names_conflict_sql(l, r)} THEN 'middle' END)"
    )


# --- a guard evaluated for one pair of nodes (to test and read a rule on its own) -----------------


def _pair_frame(rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "given_name": pl.String,
            "middle_name": pl.String,
            "family_name": pl.String,
            "dob": pl.Date,
            "birth_year": pl.Int32,
            "person_id": pl.String,
        },
    )
    frame = frame.with_columns(pl.lit("agency").alias("id_namespace"))
    frame = frame.with_columns(pl.coalesce("birth_year", pl.col("dob").dt.year().cast(pl.Int32)).alias("birth_year"))
    return std.add_guard_name_keys(frame).with_row_index("i")


def _evaluate_pair(sql: str, a: dict, b: dict):
    """One guard expression evaluated for one pair of nodes (a, b: signature fields)."""
    con = duckdb.connect()
    try:
        con.register("cmi_pair", _pair_frame([a, b]))
        return con.execute(f"SELECT {sql} FROM cmi_pair l, cmi_pair r WHERE l.i = 0 AND r.i = 1").fetchone()[0]
    finally:
        con.close()


def twins_by_name(given_a, middle_a, given_b, middle_b) -> bool:
    return _evaluate_pair(
        _twins_by_name_sql("l", "r"),
        {"given_name": given_a, "middle_name": middle_a},
        {"given_name": given_b, "middle_name": middle_b},
    )


def siblings_by_name(given_a, middle_a, dob_a, given_b, middle_b, dob_b) -> bool:
    return _evaluate_pair(
        _siblings_by_name_sql("l", "r"),
        {"given_name": given_a, "middle_name": middle_a, "dob": dob_a},
        {"given_name": given_b, "middle_name": middle_b, "dob": dob_b},
    )


def birth_years_conflict(dob_a, year_a, dob_b, year_b) -> bool:
    return _evaluate_pair(
        _birth_years_conflict_sql("l", "r"), {"dob": dob_a, "birth_year": year_a}, {"dob": dob_b, "birth_year": year_b}
    )


def birth_dates_conflict(dob_a, dob_b, same_agency_id: bool = False) -> bool:
    a, b = {"dob": dob_a, "person_id": "1"}, {"dob": dob_b, "person_id": "1" if same_agency_id else "2"}
    return _evaluate_pair(_birth_dates_conflict_sql("l", "r"), a, b)


# --- clustering ---------------------------------------------------------------------------------


def _node_positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's position in ids (every value is one of ids): a hash join, several times
    faster than a binary search per value (np.searchsorted) on millions of random ids."""
    index = pl.DataFrame({"id": ids, "position": np.arange(len(ids), dtype=np.int64)})
    found = pl.DataFrame({"id": np.asarray(values, dtype=np.int64)}).join(
        index, on="id", how="left", maintain_order="left"
    )
    return found["position"].to_numpy()


def _may_break_a_guard(
    labels: np.ndarray, given_key: np.ndarray, middle_key: np.ndarray, birth_year: np.ndarray
) -> np.ndarray:
    """The nodes of the components holding more than one known given name, more than one
    known middle name or birth years two or more apart: only there can two name
    signatures be separated. Keys: known_name_key_sql; each array masked where unknown
    (as DuckDB's fetchnumpy returns a column with nulls)."""

    def extremes(values: np.ndarray, dtype, lowest, highest) -> tuple[np.ndarray, np.ndarray]:
        """Per component label: the largest and the smallest known value (lowest and
        highest where the component has none, so never high > low there)."""
        known = ~np.ma.getmaskarray(values)
        data = np.ma.getdata(values)[known].astype(dtype)
        low, high = np.full(len(labels), highest, dtype=dtype), np.full(len(labels), lowest, dtype=dtype)
        np.minimum.at(low, labels[known], data)
        np.maximum.at(high, labels[known], data)
        return high, low

    breaks = np.zeros(len(labels), dtype=bool)
    for key in (given_key, middle_key):  # 64-bit hashes: compared, never subtracted
        high, low = extremes(key, np.uint64, 0, np.iinfo(np.uint64).max)
        breaks |= high > low
    high, low = extremes(birth_year, np.float64, -np.inf, np.inf)
    breaks |= high - low >= 2
    return breaks[labels]


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Each node's component label (its smallest node index)."""
    return component_roots(n, np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64))


def _separated_signatures(
    con: duckdb.DuckDBPyConnection, nodes: str, ids: np.ndarray, labels: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, pl.DataFrame, tuple[np.ndarray, np.ndarray]]:
    """Inside the components of the candidate nodes (_may_break_a_guard), every pair of
    distinct name signatures the guard separates. Returns each node's signature id (-1
    elsewhere), the separated pairs (component, sig_a, sig_b, reason) and, for each
    signature of a 'given' pair, its bridges (two arrays, signature and bridge): the
    signatures of its component whose given or middle name shares a form with its given
    name (a person known by their middle name)."""
    name = f"cmi_cluster_labels_{next(_temp_numbers)}"
    positions = np.flatnonzero(candidates)
    con.register(
        name,
        pl.DataFrame(
            {"unique_id": ids[positions], "position": positions, "component": labels[positions].astype(np.int32)}
        ),
    )
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_cluster_sig_nodes AS
            SELECT c.position, c.component, (dense_rank() OVER (ORDER BY c.component, {", ".join(f"n.{f}" for f in SIGNATURE)}))::INTEGER AS sig,
                   {", ".join(f"n.{f}" for f in SIGNATURE + NAME_KEYS)}
            FROM {name} c JOIN {nodes} n USING (unique_id)""")
    finally:
        con.unregister(name)
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_cluster_sigs AS
            SELECT sig, any_value(component) AS component, {", ".join(f"any_value({c}) AS {c}" for c in SIGNATURE + NAME_KEYS)}
            FROM cmi_cluster_sig_nodes GROUP BY sig""")
        # pairs from the narrow columns first; name forms only for the few candidates
        narrow = "(SELECT sig, component, given_name, given_is_known, middle_name, middle_is_known, dob, birth_year FROM cmi_cluster_sigs)"
        # only the separated pairs are written (a few % of the candidates)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_cluster_sep AS SELECT * FROM (
                SELECT c.component, c.sig_a, c.sig_b, {separated_by_sql("l", "r", link=False)} AS reason
                FROM (SELECT l.component, l.sig AS sig_a, r.sig AS sig_b FROM {narrow} l JOIN {narrow} r
                      ON l.component = r.component AND l.sig < r.sig WHERE {guard_candidate_sql("l", "r", link=False)}) c
                JOIN cmi_cluster_sigs l ON l.sig = c.sig_a JOIN cmi_cluster_sigs r ON r.sig = c.sig_b) WHERE reason IS NOT NULL""")
        pairs = con.execute("SELECT * FROM cmi_cluster_sep").pl()
        bridges = con.execute("""
            WITH x AS (SELECT sig_a AS sig FROM cmi_cluster_sep WHERE reason = 'given' UNION SELECT sig_b FROM cmi_cluster_sep WHERE reason = 'given')
            SELECT s.sig::BIGINT AS sig, z.sig::BIGINT AS bridge FROM x JOIN cmi_cluster_sigs s USING (sig) JOIN cmi_cluster_sigs z ON z.component = s.component
            WHERE list_has_any(s.given_forms, list_concat(coalesce(z.given_forms, []), coalesce(z.middle_forms, [])))""").fetchnumpy()
        arrays = con.execute("SELECT position, sig FROM cmi_cluster_sig_nodes").fetchnumpy()
    finally:
        for table in ("cmi_cluster_sig_nodes", "cmi_cluster_sigs", "cmi_cluster_sep"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    sig_of_node = np.full(len(labels), -1, dtype=np.int64)
    sig_of_node[arrays["position"]] = np.asarray(arrays["sig"], dtype=np.int64)
    return (
        sig_of_node,
        pairs,
        (np.asarray(bridges["sig"], dtype=np.int64), np.asarray(bridges["bridge"], dtype=np.int64)),
    )


@dataclass(frozen=True)
class _Separations:
    """The token pairs the guards separate (both ways; given: separated by different given
    names only) and the bridges of those tokens, over compact token ids (the position of a
    token in tokens, the sorted tokens a conflict test looks at), as CSR arrays
    (greedy.py)."""

    tokens: np.ndarray
    separated_ptr: np.ndarray
    separated_tokens: np.ndarray
    separated_given: np.ndarray
    bridge_ptr: np.ndarray
    bridge_tokens: np.ndarray


def _csr(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pointers for keys grouped 0..n-1, and the order that groups them."""
    order = np.argsort(keys, kind="stable")
    return np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n))]).astype(np.int64), order


def _separations(
    a: np.ndarray, b: np.ndarray, given: np.ndarray, bridges: tuple[np.ndarray, np.ndarray]
) -> _Separations:
    """a, b: the separated token pairs; given: separated by given names only; bridges:
    (signature, bridge) arrays."""
    tokens = np.unique(np.concatenate([a, b, *bridges]))
    ends = np.searchsorted(tokens, np.concatenate([a, b]))
    separated_ptr, order = _csr(ends, len(tokens))
    partners = np.concatenate([ends[len(a) :], ends[: len(a)]])
    bridge_of = np.searchsorted(tokens, bridges[0])
    bridge_ptr, bridge_order = _csr(bridge_of, len(tokens))
    return _Separations(
        tokens,
        separated_ptr,
        partners[order],
        np.concatenate([given, given])[order],
        bridge_ptr,
        np.searchsorted(tokens, bridges[1])[bridge_order].astype(np.int64),
    )


def _greedy_constrained(
    a: np.ndarray,
    b: np.ndarray,
    probability: np.ndarray,
    dup: np.ndarray,
    tokens_of_node: list[np.ndarray],
    separations: _Separations,
    root: np.ndarray,
) -> None:
    """Union-find over the links of the components that break a constraint, strongest first
    (ties by node index), refusing a merge that would put two duplicate-free records or two
    separated tokens (name signatures, agency IDs) in one group, unless (different given
    names only) either side's given name is a name the other group already uses (a
    bridge: a person recorded once by their given and once by their middle name joins up
    through a record holding both). Writes each node's group root (its smallest node
    index) into root. The loop is compiled (greedy.greedy_roots)."""
    n = len(dup)
    # strongest first, ties by the two nodes (two stable sorts: faster than np.lexsort here)
    order = np.argsort(a * n + b, kind="stable")
    order = order[np.argsort(-probability[order], kind="stable")]
    # local indices 0..m-1 in node order (so the smallest local index is the smallest node)
    on_a_link = np.zeros(n, dtype=bool)
    on_a_link[a] = on_a_link[b] = True
    nodes = np.flatnonzero(on_a_link)
    local_of = np.empty(n, dtype=np.int64)
    local_of[nodes] = np.arange(len(nodes))
    # each node's tokens as compact ids; -1 for none, or one no conflict test looks at
    stacked = np.column_stack([t[nodes] for t in tokens_of_node])
    position = np.minimum(np.searchsorted(separations.tokens, stacked), max(len(separations.tokens) - 1, 0))
    looked_at = (
        (stacked >= 0) & (separations.tokens[position] == stacked)
        if len(separations.tokens)
        else np.zeros_like(stacked, bool)
    )
    node_tokens = np.where(looked_at, position, -1).astype(np.int64)
    holder, column = np.nonzero(node_tokens >= 0)
    token_ptr, by_token = _csr(node_tokens[holder, column], len(separations.tokens))
    group = greedy_roots(
        local_of[a[order]],
        local_of[b[order]],
        dup[nodes].astype(np.int64),
        node_tokens,
        token_ptr,
        holder[by_token].astype(np.int64),
        separations.separated_ptr,
        separations.separated_tokens,
        separations.separated_given,
        separations.bridge_ptr,
        separations.bridge_tokens,
    )
    root[nodes] = nodes[group]


def _token_holders(tokens_of_node: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The nodes holding each token (global token ids), as CSR arrays."""
    holders = [np.flatnonzero(t >= 0) for t in tokens_of_node]
    tokens = np.concatenate([t[h] for t, h in zip(tokens_of_node, holders)]).astype(np.int64)
    nodes = np.concatenate(holders).astype(np.int64)
    ptr, order = _csr(tokens, int(tokens.max(initial=-1)) + 1)
    return ptr, nodes[order]


def _constrained_roots(
    a: np.ndarray,
    b: np.ndarray,
    probability: np.ndarray,
    dup: np.ndarray,
    tokens_of_node: list[np.ndarray],
    token_pairs: tuple[np.ndarray, np.ndarray],
    holders: tuple[np.ndarray, np.ndarray],
    separations: _Separations,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Each node's cluster root (the smallest node index of its cluster) from one level's
    guarded links: connected components (labels, when known: _components), re-clustered
    greedily where a component breaks a constraint (two duplicate-free records, or both
    tokens of a separated pair: token_pairs; holders: _token_holders)."""
    n = len(dup)
    root = _components(n, a, b) if labels is None else labels
    bad = np.zeros(n, dtype=bool)
    for register in dup.T:
        bad |= np.bincount(root, weights=register, minlength=n) > 1
    if len(token_pairs[0]):
        bad |= components_holding_both(root, *holders, *token_pairs)
    if not bad.any():
        return root
    root = root.copy()
    in_bad = bad[root[a]]
    _greedy_constrained(a[in_bad], b[in_bad], probability[in_bad], dup, tokens_of_node, separations, root)
    return root


def _twin_id_tokens(
    con: duckdb.DuckDBPyConnection, nodes: str, ids: np.ndarray, labels: np.ndarray, offset: int, records: str | None
) -> tuple[np.ndarray, pl.DataFrame]:
    """Twins named alike (NZ para 102: the same given name or two forms of one, the same
    surname) are told apart where identities are verified, but not in records without a
    middle name or a verified ID (care and protection), where each twin is known only by
    their own agency ID. A component holds twins when it holds two verified IDs of one
    agency (person_records.VERIFIED_ID_NAMESPACES) with the same DOB and surname and a
    parent in common, or two unverified IDs of one agency that one of its sources
    recorded on the same day with the same DOB (twins notified together; records: the
    person records, optional). Verified IDs do not count there: a birth register records
    every child on their DOB, so two children born on one day would look notified
    together (two boys named JOHN born the same day, with different surnames, made one
    of them two children wherever he had two care and protection IDs). There every two
    agency IDs of one agency are two people. Returns each node's ID token there (offset +
    a code; -1 elsewhere) and the token pairs."""
    name = f"cmi_cluster_twin_labels_{next(_temp_numbers)}"
    verified = ", ".join(f"'{namespace}'" for namespace in sorted(VERIFIED_ID_NAMESPACES))
    # two IDs recorded together count only where they share a component, which then holds
    # two IDs of their agency: the records' self-join is restricted to such IDs (a few %)
    co_recorded = (
        ""
        if records is None
        else f""",
            ids AS (SELECT c.component, n.id_namespace, n.person_id FROM {nodes} n JOIN {name} c USING (unique_id)
                    WHERE n.person_id IS NOT NULL),
            shared AS (SELECT DISTINCT id_namespace, person_id FROM ids WHERE (component, id_namespace) IN (
                           SELECT component, id_namespace FROM ids GROUP BY ALL HAVING min(person_id) <> max(person_id))),
            co_records AS (SELECT * FROM {records} WHERE id_namespace NOT IN ({verified})
                           AND (id_namespace, person_id) IN (SELECT id_namespace, person_id FROM shared)),
            co AS (SELECT DISTINCT a.id_namespace, a.person_id AS id_a, b.person_id AS id_b FROM co_records a JOIN co_records b
                   ON a.source_dataset = b.source_dataset AND a.slot = b.slot AND a.event_date = b.event_date AND a.dob = b.dob
                   AND a.id_namespace = b.id_namespace AND a.person_id < b.person_id),
            co_nodes AS (SELECT c.component, n.id_namespace, n.person_id FROM {nodes} n JOIN {name} c USING (unique_id)
                         WHERE (n.id_namespace, n.person_id) IN (SELECT id_namespace, id_a FROM co UNION SELECT id_namespace, id_b FROM co)),
            co_twins AS (SELECT x.component FROM co JOIN co_nodes x ON x.id_namespace = co.id_namespace AND x.person_id = co.id_a
                         JOIN co_nodes y ON y.component = x.component AND y.id_namespace = co.id_namespace AND y.person_id = co.id_b)"""
    )
    con.register(
        name, pl.DataFrame({"unique_id": ids, "position": np.arange(len(ids)), "component": labels.astype(np.int32)})
    )
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_cluster_twin_ids AS
            WITH anchors AS (SELECT c.component, n.id_namespace, n.person_id, n.family_name, n.dob, n.parent_given_forms
                             FROM {nodes} n JOIN {name} c USING (unique_id)
                             WHERE n.id_namespace IN ({verified}) AND n.person_id IS NOT NULL AND n.dob IS NOT NULL),
            verified_twins AS (SELECT a.component FROM anchors a JOIN anchors b ON a.component = b.component
                               AND a.id_namespace = b.id_namespace AND a.person_id < b.person_id AND a.dob = b.dob
                               AND a.family_name = b.family_name
                               WHERE coalesce(list_has_any(a.parent_given_forms, b.parent_given_forms), FALSE)){co_recorded},
            twins AS (SELECT component FROM verified_twins{" UNION SELECT component FROM co_twins" if records is not None else ""}),
            members AS (SELECT * FROM {name} WHERE component IN (SELECT component FROM twins))
            SELECT m.position, m.component, n.id_namespace, n.person_id,
                   (dense_rank() OVER (ORDER BY m.component, n.id_namespace, n.person_id))::BIGINT AS code
            FROM members m JOIN {nodes} n USING (unique_id) WHERE n.person_id IS NOT NULL""")
    finally:
        con.unregister(name)
    try:
        arrays = con.execute("SELECT position, code FROM cmi_cluster_twin_ids").fetchnumpy()
        pairs = con.execute(f"""WITH codes AS (SELECT DISTINCT component, id_namespace, code FROM cmi_cluster_twin_ids)
                                SELECT a.code + {offset} AS token_a, b.code + {offset} AS token_b, 'twin_ids' AS reason
                                FROM codes a JOIN codes b ON a.component = b.component AND a.id_namespace = b.id_namespace
                                AND a.code < b.code""").pl()
    finally:
        con.execute("DROP TABLE IF EXISTS cmi_cluster_twin_ids")
    token_of_node = np.full(len(ids), -1, dtype=np.int64)
    token_of_node[arrays["position"]] = np.asarray(arrays["code"], dtype=np.int64) + offset
    return token_of_node, pairs


def cluster_nodes(
    con: duckdb.DuckDBPyConnection,
    nodes: str,
    links: str,
    levels: Mapping[str, str],
    twin_ids: bool = True,
    records: str | None = None,
    guards: bool = True,
    registers: tuple[str, ...] = ("duplicate_free_records",),
    review: ReviewPairs | None = None,
) -> dict[str, pl.DataFrame]:
    """Clusters of nodes at each level. nodes: a table or view with NODE_COLUMNS
    (identities, or records with a duplicate_free_records count of 0 or 1; with
    id_namespace, person_id and parent_given_forms for twin_ids); links: a table or view
    of linked pairs with unique_id_l, unique_id_r, match_probability, the guard's
    separated_by (thresholds.flag_links, or guarded_links_sql) and the columns the level
    conditions use; levels: level name -> SQL condition on a link, strictest first (e.g.
    conservative, then less conservative): a level's clusters lie inside the next one's,
    so a conservative person never spans two less conservative ones; twin_ids: keep
    alike-named twins' agency IDs apart (_twin_id_tokens; records: the nodes' records, for
    twins recorded together); guards=False: no name signatures are separated and no twin
    IDs kept apart (records without the family fields the guards rest on); registers: the
    nodes' columns counting their records in each duplicate-free register (a cluster holds
    at most one record of each). Returns, per level, unique_id -> cluster_id (the
    smallest unique_id of the cluster). review: clerical decisions as node pairs
    (ReviewPairs): forced links join their nodes' clusters at every level, forced
    non-links are never in one cluster (the weakest links between them are cut).

    The separated signature pairs are found once, inside the components of every level's
    links together: each level's components lie inside those."""
    dup_columns = ", ".join(f"coalesce({c}, 0) AS dup_{j}" for j, c in enumerate(registers))
    arrays = con.execute(f"""SELECT unique_id, {dup_columns}, {known_name_key_sql("given")} AS given_key,
                             {known_name_key_sql("middle")} AS middle_key, birth_year FROM {nodes} ORDER BY unique_id""").fetchnumpy()
    ids = np.asarray(arrays["unique_id"], dtype=np.int64)
    dup = np.column_stack([np.asarray(arrays[f"dup_{j}"], dtype=np.int64) for j in range(len(registers))])
    flags = ", ".join(f"coalesce(({condition}), FALSE) AS level_{i}" for i, condition in enumerate(levels.values()))
    rows = con.execute(f"""SELECT * FROM (SELECT unique_id_l, unique_id_r, match_probability, {flags} FROM {links}
                           WHERE separated_by IS NULL) WHERE {" OR ".join(f"level_{i}" for i in range(len(levels)))}""").fetchnumpy()
    a_all, b_all = _node_positions(ids, rows["unique_id_l"]), _node_positions(ids, rows["unique_id_r"])
    p_all = np.asarray(rows["match_probability"], dtype=np.float64)
    level_keep = [np.asarray(rows[f"level_{i}"], dtype=bool) for i in range(len(levels))]
    forced_a, forced_b, apart_a, apart_b = _review_positions(ids, review)
    if len(forced_a):  # stronger than any scored link (p <= 1), at every level, latest decision first
        a_all, b_all = np.concatenate([a_all, forced_a]), np.concatenate([b_all, forced_b])
        p_all = np.concatenate([p_all, 3.0 - np.arange(len(forced_a)) / (len(forced_a) + 1)])
        level_keep = [np.concatenate([keep, np.ones(len(forced_a), dtype=bool)]) for keep in level_keep]
    edges = {}
    for i, level in enumerate(levels):
        keep = level_keep[i]
        edges[level] = (a_all[keep], b_all[keep], p_all[keep])
    labels = {}
    for i, level in enumerate(levels):  # a level holding every link has the union's components
        if level_keep[i].all():
            labels[level] = union = _components(len(ids), a_all, b_all)
            break
    else:
        union = _components(len(ids), a_all, b_all)
    if guards:
        candidates = _may_break_a_guard(union, arrays["given_key"], arrays["middle_key"], arrays["birth_year"])
    else:
        candidates, twin_ids = np.zeros(len(ids), dtype=bool), False
    sig_of_node, pairs, bridges = _separated_signatures(con, nodes, ids, union, candidates)
    tokens_of_node = [sig_of_node]
    pairs = pairs.select(
        pl.col("sig_a").cast(pl.Int64).alias("token_a"), pl.col("sig_b").cast(pl.Int64).alias("token_b"), "reason"
    )
    if twin_ids:
        id_of_node, id_pairs = _twin_id_tokens(con, nodes, ids, union, int(sig_of_node.max(initial=0)) + 1, records)
        tokens_of_node.append(id_of_node)
        pairs = pl.concat([pairs, id_pairs.cast(pairs.schema)])
    if len(apart_a):  # a token per node of a forced non-link, its pairs separated like a guard's
        offset = max(int(t.max(initial=0)) for t in tokens_of_node) + 1
        apart_nodes, inverse = np.unique(np.concatenate([apart_a, apart_b]), return_inverse=True)
        review_of_node = np.full(len(ids), -1, dtype=np.int64)
        review_of_node[apart_nodes] = offset + np.arange(len(apart_nodes))
        tokens_of_node.append(review_of_node)
        review_pairs = pl.DataFrame(
            {
                "token_a": offset + inverse[: len(apart_a)].astype(np.int64),
                "token_b": offset + inverse[len(apart_a) :].astype(np.int64),
                "reason": ["review"] * len(apart_a),
            }
        )
        pairs = pl.concat([pairs, review_pairs.cast(pairs.schema)])
    token_pairs = (pairs["token_a"].to_numpy().astype(np.int64), pairs["token_b"].to_numpy().astype(np.int64))
    separations = _separations(*token_pairs, (pairs["reason"] == "given").to_numpy(), bridges)
    holders = _token_holders(tokens_of_node)
    roots: dict[str, np.ndarray] = {}
    names = list(levels)
    for k in reversed(range(len(names))):  # loosest first: a stricter level clusters inside it
        level = names[k]
        a, b, probability = edges[level]
        if k + 1 < len(names):
            outer = roots[names[k + 1]]
            inside = outer[a] == outer[b]
            if not inside.all():
                a, b, probability = a[inside], b[inside], probability[inside]
                labels.pop(level, None)
        roots[level] = _constrained_roots(
            a, b, probability, dup, tokens_of_node, token_pairs, holders, separations, labels.get(level)
        )
        if len(forced_a):
            roots[level] = _join_forced(roots[level], forced_a, forced_b, apart_a, apart_b)
    return {level: pl.DataFrame({"unique_id": ids, "cluster_id": ids[roots[level]]}) for level in names}


@dataclass(frozen=True)
class ReviewPairs:
    """Clerical decisions as node pairs (unique_id_l, unique_id_r frames): links, latest
    decision first, and non-links. Pairs with a node outside the clustered nodes are
    ignored (an incremental run clusters a few)."""

    links: pl.DataFrame
    non_links: pl.DataFrame


def _review_positions(
    ids: np.ndarray, review: ReviewPairs | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The node positions of the forced links and non-links with both nodes among ids."""
    out = []
    for frame in (None, None) if review is None else (review.links, review.non_links):
        if frame is None or frame.is_empty():
            out += [np.zeros(0, dtype=np.int64)] * 2
            continue
        present = frame.filter(pl.col("unique_id_l").is_in(ids) & pl.col("unique_id_r").is_in(ids))
        present = present.filter(pl.col("unique_id_l") != pl.col("unique_id_r"))
        out += [_node_positions(ids, present[c].to_numpy()).astype(np.int64) for c in ("unique_id_l", "unique_id_r")]
    return out[0], out[1], out[2], out[3]


def _join_forced(
    root: np.ndarray, link_a: np.ndarray, link_b: np.ndarray, apart_a: np.ndarray, apart_b: np.ndarray
) -> np.ndarray:
    """A forced link's two clusters joined where the constrained clustering left them
    apart (a guard or a register refused it: the reviewer saw both records), in order,
    unless the join would put a forced non-link in one cluster. Roots stay the smallest
    node index of their cluster."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for x, y in zip(link_a, link_b):
        gx, gy = find(int(root[x])), find(int(root[y]))
        if gx == gy:
            continue
        joined = {gx, gy}
        if any({find(int(root[c])), find(int(root[d]))} == joined for c, d in zip(apart_a, apart_b)):
            continue
        parent[max(gx, gy)] = min(gx, gy)
    if not parent:
        return root
    mapping = np.arange(len(root))
    for r in parent:
        mapping[r] = find(r)
    return mapping[root]


def guarded_links_sql(links: str, nodes: str) -> str:
    """links (unique_id_l, unique_id_r, match_probability, ...) with the guard's
    separated_by, from the two nodes of each link."""
    return f"""(SELECT e.*, {separated_by_sql("l", "r")} AS separated_by FROM {links} e
               JOIN {nodes} l ON l.unique_id = e.unique_id_l JOIN {nodes} r ON r.unique_id = e.unique_id_r)"""


def cluster_frame(records: pl.DataFrame, edges: pl.DataFrame, review: ReviewPairs | None = None) -> pl.DataFrame:
    """Cluster ids for nodes given as a frame (unique_id, the signature fields, a
    duplicate_free_records count; name keys and birth_year are derived when absent) and
    linked edges (unique_id_l, unique_id_r, match_probability), honouring review's forced
    links and non-links when given. Returns unique_id, cluster_id."""
    if "birth_year" not in records.columns:  # nodes without an age-based estimate
        records = records.with_columns(pl.col("dob").dt.year().cast(pl.Int32).alias("birth_year"))
    for column in ("id_namespace", "person_id"):  # agency IDs, when the nodes carry them
        if column not in records.columns:
            records = records.with_columns(pl.lit(None, pl.String).alias(column))
    nodes = std.add_guard_name_keys(records).select(*NODE_COLUMNS, "id_namespace", "person_id")
    con = duckdb.connect()
    try:
        con.register("cmi_frame_nodes", nodes)
        con.register("cmi_frame_links", edges.select("unique_id_l", "unique_id_r", "match_probability"))
        links = guarded_links_sql("cmi_frame_links", "cmi_frame_nodes")
        return cluster_nodes(con, "cmi_frame_nodes", links, {"all": "TRUE"}, twin_ids=False, review=review)["all"]
    finally:
        con.close()


def cluster_size_summary(clusters: pl.DataFrame, implausible_size: int = IMPLAUSIBLE_CLUSTER_RECORDS) -> dict:
    """Distribution of cluster sizes (records per cluster_id) and the count of implausibly
    large clusters (a chain of weak links merging many people)."""
    return size_summary(clusters.group_by("cluster_id").len()["len"], implausible_size)


def size_summary(sizes: pl.Series, implausible_size: int = IMPLAUSIBLE_CLUSTER_RECORDS) -> dict:
    return {
        "clusters": int(sizes.len()),
        "singletons": int((sizes == 1).sum()),
        "mean_size": float(sizes.mean()) if sizes.len() else 0.0,
        "max_size": int(sizes.max()) if sizes.len() else 0,
        "p99_size": float(sizes.quantile(0.99)) if sizes.len() else 0.0,
        "implausibly_large": int((sizes > implausible_size).sum()),
    }


def write_frame(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, table: str) -> None:
    if "." in table:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    con.register("_cmi_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _cmi_frame")
    finally:
        con.unregister("_cmi_frame")
