"""community_indicators through a real Dagster instance on a small world linked perfectly
(the truth linkage at both levels) in a real warehouse DuckDB file, with the cohort
features of one birth year materialized first: the table has the contract's columns, at
least 10 indicators and 2 strength-based ones at state and county level, it is suppressed
through the project's one disclosure function and its checks pass, its definitions land,
no person_key reaches the table or the metadata, and a reader who solves the published
margins recovers no hidden count."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from cmi_assets.community.geography import home_state
from cmi_assets.community.indicators import INDICATORS
from cmi_assets.community.schema import INDICATOR_COLUMNS
from cmi_assets.community.table import indicator_table, published_table
from cmi_assets.defs.cohorts.assets import cohort_features, cohort_population
from cmi_assets.defs.community import assets as community_assets
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.tables import LEVELS
from cmi_assets.publish.disclosure import SUPPRESS_BELOW
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import read_table
from cmi_assets_tests.incidence.truth_world import load_both_levels
from cmi_assets_tests.publish.attacker import recovered_cells

YEAR = "2012"


@pytest.fixture(scope="module")
def world():
    from cmi_assets.synthetic.profile import load_profile
    from cmi_assets.synthetic.world import simulate_world

    return simulate_world(load_profile("incidence"), 0.02, 4)


def test_description_shows_every_indicator_definition():
    # group, owners, kinds, pool and automation: test_asset_policy.py, for every asset
    spec = next(iter(community_assets.community_indicators.specs))
    assert all(ind in spec.description for ind in ("substantiations", "full_term_births", "cfsr_recurrence"))


def test_indicators_materialize_with_checks(storage_env, world):
    with storage_env.connect(WAREHOUSE) as con:
        load_both_levels(con, world)
        # cfsr_recurrence's by-state rows (the columns community reads), one suppressed upstream
        con.execute("create schema cfsr")
        con.execute(
            "create table cfsr.recurrence_by_state as select * from (values "
            "(2019, 'CT', 'FY19-20', 1200, 96), (2019, 'OK', 'FY19-20', 900, 81), (2019, 'VT', 'FY19-20', 8, null)"
            ") v(period_fy, state, period, denominator, numerator)"
        )
    instance = dg.DagsterInstance.ephemeral()
    resources = {"storage": StorageResource()}
    cohorts = dg.materialize(
        [cohort_population, cohort_features], partition_key=YEAR, instance=instance, resources=resources
    )
    assert cohorts.success
    result = dg.materialize([community_assets.community_indicators], instance=instance, resources=resources)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["margins_hold_before_suppression"].passed
    assert checks["rates_within_intervals"].passed
    assert checks["no_small_counts_published"].passed

    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        table = con.execute("select * from community.indicators").pl()
        definitions = con.execute("select * from community.indicator_definitions").pl()
        described = con.execute("describe community.indicators").fetchall()
        person_keys = set(
            con.execute("select person_key from events.person where length(person_key) >= 5 limit 200").pl()[
                "person_key"
            ]
        )
    assert [(r[0], r[1]) for r in described] == [(name, kind) for name, kind, _ in INDICATOR_COLUMNS]
    declared = community_assets.community_indicators.specs_by_key[dg.AssetKey("community_indicators")].metadata
    assert [c.name for c in declared["dagster/column_schema"].columns] == [r[0] for r in described]

    # suppressed through the project's disclosure control: hidden values null, reasons set
    hidden = table.filter(pl.col("suppressed"))
    assert hidden.height > 0 and set(hidden["suppression_reason"]) == {"primary", "complementary"}
    assert (
        hidden["count"].null_count() == hidden.height and hidden["smoothed_rate_per_1000"].null_count() == hidden.height
    )
    assert set(hidden["reliability"]) == {"suppressed"}
    assert (
        table.filter(~pl.col("suppressed"))["suppression_reason"].null_count()
        == table.filter(~pl.col("suppressed")).height
    )
    shown = table.filter(~pl.col("suppressed"))
    assert set(shown["reliability"]) == {"reliable", "unreliable"}
    assert (shown.filter(pl.col("reliability") == "reliable")["count"] >= 20).all()
    cohort = table.filter((pl.col("period") == YEAR) & (pl.col("linkage_level") == "conservative"))
    assert cohort["indicator"].n_unique() >= 10
    assert cohort.filter(pl.col("strength_based"))["indicator"].n_unique() >= 2
    assert set(cohort["geography_level"]) == {"state", "county"}
    assert set(cohort["group_type"]) == {"all", "sex", "ethnicity", "deprivation_decile"}
    assert set(definitions["indicator"]) == set(table["indicator"]) == {i.id for i in INDICATORS}
    assert definitions["definition"].str.contains("cmi_assets.").all()
    state = cohort.filter(
        (pl.col("indicator") == "substantiations")
        & (pl.col("geography_level") == "state")
        & (pl.col("group_type") == "all")
    ).row(0, named=True)
    assert state["population"] > 0 and state["geography_code"] == "CT"
    counties = cohort.filter(pl.col("geography_level") == "county")["geography_code"]
    assert counties.str.len_chars().eq(5).all() and counties.str.starts_with("09").all()
    # recurrence is by state only, at both levels (NCANDS is not linked); the suppressed row stays out
    recurrence = table.filter(pl.col("indicator") == "cfsr_recurrence").sort("linkage_level", "geography_code")
    assert set(recurrence["geography_level"]) == {"state"}
    assert recurrence.select("linkage_level", "geography_code", "count", "population").rows() == [
        ("conservative", "CT", 96, 1200),
        ("conservative", "OK", 81, 900),
        ("less_conservative", "CT", 96, 1200),
        ("less_conservative", "OK", 81, 900),
    ]
    assert recurrence["rate_per_1000"].to_list()[:2] == pytest.approx([80.0, 90.0])
    assert not (set(table.columns) & {"person_key", "child_key"})
    for event in result.all_events:
        text = str(event.event_specific_data)
        assert not [key for key in person_keys if f"'{key}'" in text], text[:300]

    # a reader who solves every published margin by integer programming recovers no hidden
    # count of this world's table (published_table is what the asset published, in the same order)
    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        before = indicator_table(
            con,
            home_state(),
            community_assets._birth_years(con),
            LEVELS,
            community_assets._features(con),
            read_table(con, community_assets.RECURRENCE_TABLE),
        )
    published = published_table(before)
    assert published.sort(published.columns).equals(table.select(published.columns).sort(published.columns))
    assert recovered_cells(published, before, SUPPRESS_BELOW) == []
