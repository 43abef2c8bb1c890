"""The cohorts group through Dagster on the hand-built events world of the cohort library's
tests (cmi_assets_tests/cohorts/conftest.py, birth cohort 2010): both linkage levels land in
the analysis zone's cohorts schema, a rerun replaces its birth year, and the metadata carries
the counts and the Table 8 profile."""

from __future__ import annotations

import dagster as dg

from cmi_assets.cohorts import cohort_features, cohort_outcomes, cohort_population
from cmi_assets.defs.cohorts import assets as cohort_assets
from cmi_assets.defs.cohorts.partitions import BIRTH_YEARS, parse_cohort_years
from cmi_assets.defs.resources import StorageResource
from cmi_assets.storage import WAREHOUSE
from cmi_assets_tests.cohorts.conftest import build_world

YEAR = "2010"


def test_parse_cohort_years():
    assert parse_cohort_years("2004-2006") == [2004, 2005, 2006]
    assert parse_cohort_years("2010, 2007,2008-2009") == [2007, 2008, 2009, 2010]
    assert "2004" in BIRTH_YEARS.get_partition_keys() and "2016" in BIRTH_YEARS.get_partition_keys()


def test_assets_are_partitioned_by_birth_year():
    # group, owners, kinds, pool and automation: test_asset_policy.py, for every asset
    for asset in cohort_assets.COHORT_ASSETS:
        assert asset.partitions_def == BIRTH_YEARS


def test_cohort_tables_per_level_match_the_library(storage_env):
    with storage_env.connect(WAREHOUSE) as con:
        build_world().load(con)
        expected = {
            level: (
                cohort_population(con, 2010, level),
                cohort_features(con, 2010, level),
                cohort_outcomes(con, 2010, level),
            )
            for level in ("conservative", "less_conservative")
        }
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):  # a rerun replaces the partition's rows
        result = dg.materialize(
            cohort_assets.COHORT_ASSETS, partition_key=YEAR, instance=instance, resources={"storage": StorageResource()}
        )
        assert result.success
    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        for level, (population, features, outcomes) in expected.items():
            for table, frame in (("population", population), ("features", features), ("outcomes", outcomes)):
                stored = con.execute(
                    f"select person_key from cohorts.{table} where linkage_level = ? order by person_key", [level]
                ).pl()
                assert stored["person_key"].to_list() == sorted(frame["person_key"].to_list()), (table, level)
        stored = con.execute(
            "select person_key, finding_by_age_2 from cohorts.outcomes where linkage_level = 'conservative' order by 1"
        ).pl()
        # the declared column schemas (shown in the UI before anything runs) are the tables written
        for asset, table in (
            ("cohort_population", "population"),
            ("cohort_features", "features"),
            ("cohort_outcomes", "outcomes"),
        ):
            declared = (
                next(a for a in cohort_assets.COHORT_ASSETS if a.key.to_user_string() == asset)
                .specs_by_key[dg.AssetKey(asset)]
                .metadata["dagster/column_schema"]
                .columns
            )
            described = con.execute(f"describe cohorts.{table}").fetchall()
            assert [(c.name, c.type) for c in declared] == [(row[0], row[1]) for row in described], table
            assert all(c.description for c in declared)
    want = expected["conservative"][2].sort("person_key")
    assert stored["finding_by_age_2"].to_list() == want["finding_by_age_2"].to_list()
    meta = result.asset_materializations_for_node("cohort_outcomes")[0].metadata
    assert meta["rows_conservative"].value == expected["conservative"][2].height
    assert "Male child" in repr(meta["table8_conservative"].value)
    population_meta = result.asset_materializations_for_node("cohort_population")[0].metadata
    assert 0 < population_meta["study_share_conservative"].value <= 1
