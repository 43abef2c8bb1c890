"""Checks that travel with the person spine (SQL over the identified zone; counts and rates
in the metadata, never a value):

  link_rate_per_source  at each level, the share of each source's records linked to at least
                        one other record lies within bounds (too low: a source stopped
                        linking, e.g. a changed date format; too high is configurable);
  max_cluster_size      no cluster holds more records than a plausible person (a chain of
                        weak links merging many people); the largest persons are listed;
  key_stability         the share of records keeping their person_key since the previous
                        spine (keys must persist across runs; a relink that reshuffles them
                        breaks every analysis keyed on them);
  review_decisions_honoured  every reviewer's current match has its two records under one
                        person_key at both levels and every non_match has them apart
                        (decisions that contradict one another cannot all hold).
"""

import dagster as dg

from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.linkage import IMPLAUSIBLE_CLUSTER_RECORDS
from cmi_assets.linkage.tables import CLUSTERS_TABLE, PREVIOUS_SPINE_TABLE, SPINE_TABLE
from cmi_assets.linkage.tables import PERSON_RECORDS_TABLE as RECORDS_TABLE
from cmi_assets.markdown import markdown_table
from cmi_assets.metadata import number
from cmi_assets.tables import table_exists

# every check here reads the spine's identified tables, inside the one-writer pool
spine_check = dg.asset_check(asset="person_spine", pool=DUCKDB_WRITE_POOL)


class LinkRateConfig(dg.Config):
    # measured on the small and demo worlds: 0.21 (hospitalisations, conservative) to 1.0
    min_link_rate: float = 0.10
    max_link_rate: float = 1.0


class ClusterSizeConfig(dg.Config):
    # the limit the spine's "implausibly_large" counts against (cmi_assets.linkage)
    max_records_per_cluster: int = IMPLAUSIBLE_CLUSTER_RECORDS


class KeyStabilityConfig(dg.Config):
    min_unchanged_share: float = 0.9


@spine_check
def link_rate_per_source(config: LinkRateConfig, storage: StorageResource) -> dg.AssetCheckResult:
    """At each level, every source's share of records linked to another record lies within bounds."""
    with storage.identified(read_only=True) as con:
        rows = con.execute(
            f"""WITH c AS (SELECT c.level, c.cluster_id, r.source_dataset FROM {CLUSTERS_TABLE} c JOIN {RECORDS_TABLE} r USING (unique_id)),
                     sizes AS (SELECT level, cluster_id, count(*) AS n FROM c GROUP BY ALL)
                SELECT level, source_dataset, count(*) AS records, count(*) FILTER (WHERE n > 1) AS linked
                FROM c JOIN sizes USING (level, cluster_id) GROUP BY ALL ORDER BY level, source_dataset"""
        ).fetchall()
    table = [
        (level, source, records, linked, linked / records if records else 0.0)
        for level, source, records, linked in rows
    ]
    outside = [
        f"{source} ({level}): {rate:.3f}"
        for level, source, _, _, rate in table
        if not config.min_link_rate <= rate <= config.max_link_rate
    ]
    return dg.AssetCheckResult(
        passed=not outside and bool(table),
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"link rates outside [{config.min_link_rate}, {config.max_link_rate}]: " + "; ".join(outside))
        if outside
        else f"{len(table)} source-level link rates within [{config.min_link_rate}, {config.max_link_rate}]",
        metadata={
            "sources_outside_bounds": len(outside),
            "min_link_rate": number(min((r[4] for r in table), default=0.0)),
            "link_rates": dg.MetadataValue.md(
                markdown_table(["level", "source", "records", "linked", "link rate"], table)
            ),
        },
    )


@spine_check
def max_cluster_size(config: ClusterSizeConfig, storage: StorageResource) -> dg.AssetCheckResult:
    """No cluster at either level holds more records than a configured maximum."""
    with storage.identified(read_only=True) as con:
        rows = con.execute(
            f"""SELECT level, count(*) AS clusters, max(n) AS largest, count(*) FILTER (WHERE n > ?) AS too_large
                FROM (SELECT level, cluster_id, count(*) AS n FROM {CLUSTERS_TABLE} GROUP BY ALL) GROUP BY level ORDER BY level""",
            [config.max_records_per_cluster],
        ).fetchall()
        largest = largest_persons(con)
    too_large = sum(r[3] for r in rows)
    return dg.AssetCheckResult(
        passed=too_large == 0 and bool(rows),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{too_large} clusters with more than {config.max_records_per_cluster} records",
        metadata={
            "clusters_too_large": too_large,
            "largest_cluster_records": max((r[2] for r in rows), default=0),
            "by_level": dg.MetadataValue.md(
                markdown_table(["level", "clusters", "largest (records)", "too large"], rows)
            ),
            "largest_persons": dg.MetadataValue.md(
                markdown_table(["level", "person_key", "records", "identities", "records by agency"], largest)
            ),
        },
    )


def largest_persons(con, per_level: int = 5) -> list[tuple]:
    """The persons with the most records at each level, by pseudonymous key, with how many
    distinct identities (name and DOB variants) and which agencies' records they hold: what
    a reviewer needs to tell a busy caregiver from a chain of wrong links."""
    return con.execute(
        f"""WITH r AS (SELECT level, person_key, split_part(record_ref, '|', 1) AS agency, identity_id FROM {SPINE_TABLE}),
                sizes AS (SELECT level, person_key, count(*) AS n, count(DISTINCT identity_id) AS identities FROM r
                          GROUP BY level, person_key QUALIFY row_number() OVER (PARTITION BY level ORDER BY count(*) DESC, person_key) <= ?),
                by_agency AS (SELECT level, person_key, agency, count(*) AS k FROM r JOIN sizes USING (level, person_key) GROUP BY ALL)
            SELECT level, person_key, n, identities, string_agg(agency || ' ' || k, ', ' ORDER BY k DESC, agency)
            FROM sizes JOIN by_agency USING (level, person_key) GROUP BY ALL ORDER BY level, n DESC, person_key""",
        [per_level],
    ).fetchall()


@spine_check
def key_stability(config: KeyStabilityConfig, storage: StorageResource) -> dg.AssetCheckResult:
    """The share of records whose person_key is unchanged since the previous spine, at each level."""
    with storage.identified(read_only=True) as con:
        if not table_exists(con, PREVIOUS_SPINE_TABLE):
            return dg.AssetCheckResult(
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                description="first spine: no previous keys to compare",
                metadata={"previous_records": 0},
            )
        rows = con.execute(
            f"""SELECT p.level, count(*) AS previous_records, count(c.person_key) AS still_present,
                       count(*) FILTER (WHERE c.person_key = p.person_key) AS unchanged,
                       count(DISTINCT p.person_key) AS previous_keys,
                       count(DISTINCT p.person_key) FILTER (WHERE p.person_key IN (SELECT person_key FROM {SPINE_TABLE} s WHERE s.level = p.level)) AS keys_kept
                FROM {PREVIOUS_SPINE_TABLE} p LEFT JOIN {SPINE_TABLE} c USING (level, record_ref)
                GROUP BY p.level ORDER BY p.level"""
        ).fetchall()
    table = [
        (level, prev, present, unchanged, unchanged / present if present else 1.0, keys, kept)
        for level, prev, present, unchanged, keys, kept in rows
    ]
    worst = min((r[4] for r in table), default=1.0)
    return dg.AssetCheckResult(
        passed=worst >= config.min_unchanged_share,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"lowest share of records keeping their key: {worst:.4f} (minimum {config.min_unchanged_share})",
        metadata={
            "min_unchanged_share": number(worst),
            "by_level": dg.MetadataValue.md(
                markdown_table(
                    [
                        "level",
                        "previous records",
                        "still present",
                        "key unchanged",
                        "share unchanged",
                        "previous keys",
                        "keys kept",
                    ],
                    table,
                )
            ),
        },
    )


@spine_check
def review_decisions_honoured(storage: StorageResource) -> dg.AssetCheckResult:
    """Every current clerical match joins its two records at both levels and every non_match parts them."""
    from cmi_assets.linkage.review import decisions_honoured

    with storage.identified(read_only=True) as con:
        rows = decisions_honoured(con)
    missed = sum(r["matches"] - r["matches_together"] + r["non_matches"] - r["non_matches_apart"] for r in rows)
    columns = ["level", "matches", "matches_together", "non_matches", "non_matches_apart"]
    return dg.AssetCheckResult(
        passed=missed == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{missed} decisions not honoured" if rows else "no clerical decisions recorded",
        metadata={
            "decisions_not_honoured": missed,
            "by_level": dg.MetadataValue.md(markdown_table(columns, [[r[c] for c in columns] for r in rows])),
        },
    )


LINKAGE_CHECKS = [link_rate_per_source, max_cluster_size, key_stability, review_decisions_honoured]
