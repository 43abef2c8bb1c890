"""Clusters of person records at each linkage level: connected components of the linked
pairs, with two constraints that components alone break.

- One-to-one where a register is duplicate-free: two birth registrations are two children,
  however alike (a register keeps one registration per child).
- Twin guard (NZ study para 102): records with the same DOB and family name but different
  given or middle names are different people (twins named alike were merged in the NZ
  data under both linkages). "Different" means two real names that are neither equal nor
  a nickname of each other: a keying slip ("JASNO") is not a different name.

Nodes are identities (records equal on every compared field; person_records.py): the
links join identities, and a record takes its identity's cluster. Components are found
with scipy over all links; only the (rare) components that break a constraint are
re-clustered greedily, strongest link first, refusing any merge that would break one. A
cluster's id is its smallest identity id.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import duckdb
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cmi_assets.linkage import standardise as std
from cmi_assets.linkage.person_records import IDENTITIES_TABLE, PERSON_RECORDS_TABLE

NODE_FIELDS = "unique_id, dob, family_name, given_name, middle_name, duplicate_free_records"


@lru_cache(maxsize=200_000)
def _different_names(a: str | None, b: str | None) -> bool:
    """Two real, different names (not an initial, a nickname pair or a keying slip)."""
    if not a or not b or a == b or len(a) == 1 or len(b) == 1:
        return False
    if not (std.is_known_given_name(a) and std.is_known_given_name(b)):
        return False
    return not std.are_nickname_pair(a, b)


def twins_by_name(given_a, middle_a, given_b, middle_b) -> bool:
    """Given or middle names that make two same-DOB, same-family records two people.
    A given/middle swap is one person."""
    if given_a and middle_a and given_a == middle_b and middle_a == given_b:
        return False
    return _different_names(given_a, given_b) or _different_names(middle_a, middle_b)


def _guard_edges(edges: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Drop links between records the twin guard separates."""
    fields = records.select("unique_id", "dob", "family_name", "given_name", "middle_name")
    joined = edges.join(fields, left_on="unique_id_l", right_on="unique_id").join(
        fields, left_on="unique_id_r", right_on="unique_id", suffix="_r"
    )
    candidates = joined.filter(
        (pl.col("dob") == pl.col("dob_r"))
        & (pl.col("family_name") == pl.col("family_name_r"))
        & ((pl.col("given_name") != pl.col("given_name_r")) | (pl.col("middle_name") != pl.col("middle_name_r")))
    )
    if candidates.is_empty():
        return edges
    blocked = [
        (row["unique_id_l"], row["unique_id_r"])
        for row in candidates.iter_rows(named=True)
        if twins_by_name(row["given_name"], row["middle_name"], row["given_name_r"], row["middle_name_r"])
    ]
    if not blocked:
        return edges
    blocked_frame = pl.DataFrame(blocked, schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64}, orient="row")
    return edges.join(blocked_frame, on=["unique_id_l", "unique_id_r"], how="anti")


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _conflicting_components(records: pl.DataFrame, labels: np.ndarray, duplicate_free: np.ndarray) -> set[int]:
    """Components holding two records of a duplicate-free register, or two records the
    twin guard separates."""
    frame = records.select("dob", "family_name", "given_name", "middle_name").with_columns(
        pl.Series("component", labels), pl.Series("dup_free", duplicate_free)
    )
    bad = set(frame.group_by("component").agg(pl.col("dup_free").sum()).filter(pl.col("dup_free") > 1)["component"].to_list())
    groups = (
        frame.filter(pl.col("dob").is_not_null() & pl.col("family_name").is_not_null())
        .unique(["component", "dob", "family_name", "given_name", "middle_name"])
        .filter(pl.len().over("component", "dob", "family_name") > 1)
        .group_by("component", "dob", "family_name")
        .agg("given_name", "middle_name")
    )
    for row in groups.iter_rows(named=True):
        names = list(zip(row["given_name"], row["middle_name"]))
        if any(twins_by_name(*a, *b) for i, a in enumerate(names) for b in names[i + 1 :]):
            bad.add(row["component"])
    return bad


def _greedy_constrained(
    members: np.ndarray, edges: list[tuple[float, int, int]], records: pl.DataFrame, duplicate_free: np.ndarray
) -> dict[int, int]:
    """Union-find over one component's links, strongest first, refusing merges that
    break a constraint. Returns record index -> root index."""
    parent = {int(m): int(m) for m in members}
    dup_count = {int(m): int(duplicate_free[m]) for m in members}
    dob = records["dob"].to_list()
    family = records["family_name"].to_list()
    given = records["given_name"].to_list()
    middle = records["middle_name"].to_list()
    twin_keys: dict[int, dict] = defaultdict(lambda: defaultdict(set))
    for m in members:
        if dob[m] is not None and family[m] is not None:
            twin_keys[int(m)][(dob[m], family[m])].add((given[m], middle[m]))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, a, b in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
        ra, rb = find(a), find(b)
        if ra == rb or dup_count[ra] + dup_count[rb] > 1:
            continue
        keys_a, keys_b = twin_keys.get(ra, {}), twin_keys.get(rb, {})
        conflict = any(
            twins_by_name(*na, *nb) for key in set(keys_a) & set(keys_b) for na in keys_a[key] for nb in keys_b[key]
        )
        if conflict:
            continue
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        parent[drop] = keep
        dup_count[keep] += dup_count[drop]
        if drop in twin_keys:
            for key, names in twin_keys.pop(drop).items():
                twin_keys[keep][key] |= names
    return {m: find(m) for m in parent}


def cluster_frame(records: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Cluster ids for nodes (columns of NODE_FIELDS: identities, or records with a
    duplicate_free_records count of 0 or 1) given linked edges (unique_id_l, unique_id_r,
    match_probability). Returns unique_id, cluster_id."""
    records = records.sort("unique_id")
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
        probability = edges["match_probability"].to_numpy()
        for component in sorted(bad):
            members = np.flatnonzero(labels == component)
            mask = in_bad[left] & (labels[left] == component)
            component_edges = list(zip(probability[mask], left[mask].tolist(), right[mask].tolist()))
            for member, r in _greedy_constrained(members, component_edges, records, duplicate_free).items():
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
