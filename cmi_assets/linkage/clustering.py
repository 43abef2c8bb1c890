"""Clusters of person records at each linkage level: connected components of the linked
pairs, with constraints that components alone break.

- One-to-one where a register is duplicate-free: two birth registrations are two children,
  however alike (a register keeps one registration per child).
- Twin guard (NZ study para 102): records with the same DOB and family name but different
  given or middle names are different people (twins named alike were merged in the NZ
  data under both linkages). "Different" means two real names that are neither equal nor
  a nickname of each other: a keying slip ("JASNO") is not a different name.
- Sibling guard: records with different given names (as above, and not one keying slip
  apart nor a given/middle swap) are different people unless both carry a DOB and the
  DOBs agree (exactly or within a keying slip). Siblings share family name, postcode and
  parents' names; the model counts those as independent evidence, so a sibling's record
  with no DOB or an age only (care and protection, NZ para 97) would otherwise link.
- One DOB per person: birth years (from the DOB or an age) two or more apart, the DOBs
  not one keying slip apart, are two people (a child named after a parent).

A cluster is checked as a whole, not only link by link: a person recorded once by their
given name and once by their middle name is one cluster when a record holds both names.

Nodes are identities (records equal on every compared field; person_records.py): the
links join identities, and a record takes its identity's cluster. Components are found
with scipy over all links; only the (rare) components that break a constraint are
re-clustered greedily, strongest link first, refusing any merge that would break one. A
cluster's id is its smallest identity id.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cmi_assets.linkage import standardise as std
from cmi_assets.linkage.person_records import IDENTITIES_TABLE, PERSON_RECORDS_TABLE

NODE_FIELDS = "unique_id, dob, birth_year, family_name, given_name, middle_name, duplicate_free_records"


@lru_cache(maxsize=200_000)
def name_forms(name: str | None) -> frozenset[str]:
    """A given name and the formal names it may stand for (standardise.given_name_forms)."""
    return frozenset(std.given_name_forms(name) or ())


def same_name(a: str | None, b: str | None) -> bool:
    """Equal, or nickname forms of one name: BILL and WILLIAM, or CHRISSY and TINA (both
    short for CHRISTINA)."""
    return bool(a) and bool(b) and (a == b or not name_forms(a).isdisjoint(name_forms(b)))


@lru_cache(maxsize=200_000)
def _different_names(a: str | None, b: str | None) -> bool:
    """Two real, different names (not an initial, a nickname form or a keying slip)."""
    if not a or not b or a == b or len(a) == 1 or len(b) == 1:
        return False
    if not (std.is_known_given_name(a) and std.is_known_given_name(b)):
        return False
    return not same_name(a, b)


def _goes_by_middle_name(given_a, middle_a, given_b, middle_b) -> bool:
    """One record's given name is the other's middle name (a person known by their middle
    name, or given and middle swapped)."""
    return same_name(given_a, middle_b) or same_name(middle_a, given_b)


def twins_by_name(given_a, middle_a, given_b, middle_b) -> bool:
    """Given or middle names that make two same-DOB, same-family records two people.
    A given/middle swap is one person."""
    if _different_names(given_a, given_b):
        return not _goes_by_middle_name(given_a, middle_a, given_b, middle_b)
    return _different_names(middle_a, middle_b)


def dobs_agree(dob_a, dob_b) -> bool:
    """Both DOBs present and equal or one keying slip apart: day and month transposed, one
    character different, or the same year and month (an unknown day keyed as the 1st)."""
    if dob_a is None or dob_b is None:
        return False
    if dob_a == dob_b or (dob_a.year, dob_a.month) == (dob_b.year, dob_b.month):
        return True
    if (dob_a.year, dob_a.month, dob_a.day) == (dob_b.year, dob_b.day, dob_b.month):
        return True
    return _one_edit_apart(dob_a.isoformat(), dob_b.isoformat())


@lru_cache(maxsize=200_000)
def _one_edit_apart(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or adjacent transposition (Damerau)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def siblings_by_name(given_a, middle_a, dob_a, given_b, middle_b, dob_b) -> bool:
    """Given names that make two records two people unless their DOBs agree: two real,
    different names (not a nickname form, not one keying slip apart, not the other
    record's middle name). A DOB missing on either side (an age only) confirms nothing."""
    if dobs_agree(dob_a, dob_b) or not _different_names(given_a, given_b) or _one_edit_apart(given_a, given_b):
        return False
    return not _goes_by_middle_name(given_a, middle_a, given_b, middle_b)


def birth_years_conflict(dob_a, year_a, dob_b, year_b) -> bool:
    """Birth years (from the DOB, else estimated from an age) two or more apart, and DOBs
    not one keying slip apart: one person has one DOB (an age-based estimate is within
    one year)."""
    if year_a is None or year_b is None or abs(year_a - year_b) < 2:
        return False
    return not dobs_agree(dob_a, dob_b)


@lru_cache(maxsize=500_000)
def separated_by(a: tuple, b: tuple) -> str | None:
    """Why the guards separate two nodes (given, middle, family, dob, birth_year): "dob"
    (conflicting birth years), "given" (twin or sibling guard, different given names),
    "middle" (same given, different middle names: NZ para 102) or None."""
    given_a, middle_a, family_a, dob_a, year_a = a
    given_b, middle_b, family_b, dob_b, year_b = b
    if birth_years_conflict(dob_a, year_a, dob_b, year_b):
        return "dob"
    if dob_a is not None and dob_a == dob_b and family_a is not None and family_a == family_b and twins_by_name(given_a, middle_a, given_b, middle_b):
        return "given" if _different_names(given_a, given_b) else "middle"
    return "given" if siblings_by_name(given_a, middle_a, dob_a, given_b, middle_b, dob_b) else None


def different_people(a: tuple, b: tuple) -> bool:
    """The guards separate two nodes (given, middle, family, dob, birth_year)."""
    return separated_by(a, b) is not None


def _group_forms(signatures) -> frozenset[str]:
    """Every form of every given and middle name in a group of nodes."""
    forms: set[str] = set()
    for given, middle, *_ in signatures:
        forms |= name_forms(given) | name_forms(middle)
    return frozenset(forms)


def groups_conflict(names_a: set[tuple], forms_a: frozenset, names_b: set[tuple], forms_b: frozenset) -> bool:
    """Two groups of nodes are two people when the guard separates a node of each, unless
    (for different given names) either node's given name is a name the other group
    already uses: a person recorded once by their given and once by their middle name
    joins up through a record holding both."""
    for x in names_a:
        for y in names_b:
            reason = separated_by(x, y)
            if reason in ("dob", "middle"):
                return True
            if reason == "given" and name_forms(x[0]).isdisjoint(forms_b) and name_forms(y[0]).isdisjoint(forms_a):
                return True
    return False


SIGNATURE = ("given_name", "middle_name", "family_name", "dob", "birth_year")


def _signatures(records: pl.DataFrame) -> list[tuple]:
    return list(records.select(SIGNATURE).iter_rows())


def _guard_edges(edges: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Drop links between records the guards separate."""
    fields = records.select("unique_id", *SIGNATURE)
    joined = edges.join(fields, left_on="unique_id_l", right_on="unique_id").join(
        fields, left_on="unique_id_r", right_on="unique_id", suffix="_r"
    )
    candidates = joined.filter(
        pl.col("given_name").ne_missing(pl.col("given_name_r"))
        | pl.col("middle_name").ne_missing(pl.col("middle_name_r"))
        | ((pl.col("birth_year") - pl.col("birth_year_r")).abs() >= 2)
    )
    if candidates.is_empty():
        return edges
    left = candidates.select(SIGNATURE).iter_rows()
    right = candidates.select([f"{c}_r" for c in SIGNATURE]).iter_rows()
    separated = [different_people(a, b) for a, b in zip(left, right)]
    blocked = candidates.filter(pl.Series(separated, dtype=pl.Boolean)).select("unique_id_l", "unique_id_r")
    if blocked.is_empty():
        return edges
    return edges.join(blocked, on=["unique_id_l", "unique_id_r"], how="anti")


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _conflicting_components(records: pl.DataFrame, labels: np.ndarray, duplicate_free: np.ndarray) -> set[int]:
    """Components holding two records of a duplicate-free register, or two records the
    guards separate (only components with 2+ given or middle names or birth years can)."""
    frame = records.select(SIGNATURE).with_columns(pl.Series("component", labels), pl.Series("dup_free", duplicate_free))
    bad = set(frame.group_by("component").agg(pl.col("dup_free").sum()).filter(pl.col("dup_free") > 1)["component"].to_list())
    named = (
        frame.unique(["component", *SIGNATURE])
        .filter(
            (pl.col("given_name").n_unique().over("component") > 1)
            | (pl.col("middle_name").n_unique().over("component") > 1)
            | ((pl.col("birth_year").max() - pl.col("birth_year").min()).over("component") >= 2)
        )
        .group_by("component")
        .agg(pl.struct(SIGNATURE).alias("nodes"))
    )
    for component, nodes in named.iter_rows():
        signatures = [tuple(n[c] for c in SIGNATURE) for n in nodes]
        if any(different_people(a, b) for i, a in enumerate(signatures) for b in signatures[i + 1 :]):
            bad.add(component)
    return bad


def _greedy_constrained(
    members: np.ndarray, edges: list[tuple[float, int, int]], signatures: list[tuple], duplicate_free: np.ndarray
) -> dict[int, int]:
    """Union-find over one component's links, strongest first, refusing merges that
    break a constraint. Returns record index -> root index."""
    parent = {int(m): int(m) for m in members}
    dup_count = {int(m): int(duplicate_free[m]) for m in members}
    names: dict[int, set[tuple]] = {int(m): {signatures[m]} for m in members}
    forms: dict[int, frozenset[str]] = {int(m): _group_forms([signatures[m]]) for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, a, b in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
        ra, rb = find(a), find(b)
        if ra == rb or dup_count[ra] + dup_count[rb] > 1:
            continue
        if groups_conflict(names[ra], forms[ra], names[rb], forms[rb]):
            continue
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        parent[drop] = keep
        dup_count[keep] += dup_count[drop]
        names[keep] |= names.pop(drop)
        forms[keep] |= forms.pop(drop)
    return {m: find(m) for m in parent}


def cluster_frame(records: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Cluster ids for nodes (columns of NODE_FIELDS: identities, or records with a
    duplicate_free_records count of 0 or 1) given linked edges (unique_id_l, unique_id_r,
    match_probability). Returns unique_id, cluster_id."""
    records = records.sort("unique_id")
    if "birth_year" not in records.columns:  # nodes without an age-based estimate
        records = records.with_columns(pl.col("dob").dt.year().cast(pl.Int32).alias("birth_year"))
    ids = records["unique_id"].to_numpy()
    edges = _guard_edges(edges.select("unique_id_l", "unique_id_r", "match_probability"), records)
    left = np.searchsorted(ids, edges["unique_id_l"].to_numpy())
    right = np.searchsorted(ids, edges["unique_id_r"].to_numpy())
    labels = _components(len(ids), left, right)
    duplicate_free = records["duplicate_free_records"].fill_null(0).to_numpy()
    bad = _conflicting_components(records, labels, duplicate_free)
    root = np.arange(len(ids))
    # a component's root: its smallest record index (records sorted by unique_id)
    first_index = np.full(labels.max() + 1 if len(labels) else 0, len(ids))
    np.minimum.at(first_index, labels, np.arange(len(ids)))
    root = first_index[labels]
    if bad:
        in_bad = np.isin(labels, list(bad))
        signatures = _signatures(records)
        probability = edges["match_probability"].to_numpy()
        for component in sorted(bad):
            members = np.flatnonzero(labels == component)
            mask = in_bad[left] & (labels[left] == component)
            component_edges = list(zip(probability[mask], left[mask].tolist(), right[mask].tolist()))
            for member, r in _greedy_constrained(members, component_edges, signatures, duplicate_free).items():
                root[member] = r
        # greedy roots are not always the smallest member: take each cluster's minimum
        first = pl.DataFrame({"i": np.arange(len(ids)), "root": root}).with_columns(pl.col("i").min().over("root").alias("first"))
        root = first["first"].to_numpy()
    return pl.DataFrame({"unique_id": ids, "cluster_id": ids[root]})


def record_clusters(records: pl.DataFrame, node_clusters: pl.DataFrame) -> pl.DataFrame:
    """Each record (unique_id, record_ref, identity_id) in its identity's cluster."""
    return records.select("unique_id", "record_ref", "identity_id").join(
        node_clusters.rename({"unique_id": "identity_id"}), on="identity_id", how="left"
    )


def cluster_records(
    con: duckdb.DuckDBPyConnection,
    level: str,
    links_table: str = "linkage.person_links",
    records_table: str = PERSON_RECORDS_TABLE,
    identities_table: str = IDENTITIES_TABLE,
    out_table: str | None = None,
) -> pl.DataFrame:
    """Record clusters at one level ('conservative' or 'less_conservative'): unique_id,
    record_ref, identity_id, cluster_id; written to out_table when given. Every record
    gets a cluster (a singleton identity when unlinked)."""
    nodes = con.sql(f"SELECT {NODE_FIELDS} FROM {identities_table}").pl()
    edges = con.sql(
        f"SELECT unique_id_l, unique_id_r, match_probability FROM {links_table} WHERE is_link_{level}"
    ).pl()
    records = con.sql(f"SELECT unique_id, record_ref, identity_id FROM {records_table}").pl()
    clusters = record_clusters(records, cluster_frame(nodes, edges))
    if out_table:
        write_frame(con, clusters, out_table)
    return clusters


def cluster_size_summary(clusters: pl.DataFrame, implausible_size: int = 200) -> dict:
    """Distribution of cluster sizes and the count of implausibly large clusters (a
    chain of weak links merging many people)."""
    sizes = clusters.group_by("cluster_id").len()["len"]
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
