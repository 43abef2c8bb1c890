"""community_atlas and community_gradient through a real Dagster instance, after
community_indicators on a small world linked perfectly (A2's fixture: the truth linkage at
both levels, one birth cohort's features) in a real warehouse DuckDB file: the atlas has a
map per indicator with county rows and linkage level, each hatching exactly the counties
the published table suppresses, its HTML file stands alone, the main maps are inline in
the metadata; the gradient's decile rows are the published table's."""

from __future__ import annotations

import json
import re

import dagster as dg
import polars as pl
import pytest

from cmi_assets.community.maps import BOUNDARIES_ENV, BOUNDARY_CODE_ENV
from cmi_assets.defs.cohorts.assets import cohort_features, cohort_population
from cmi_assets.defs.community import assets as community_assets
from cmi_assets.defs.community import maps as map_assets
from cmi_assets.defs.resources import StorageResource
from cmi_assets.storage import WAREHOUSE
from cmi_assets_tests.incidence.truth_world import load_both_levels

YEAR = "2012"


@pytest.fixture(scope="module")
def world():
    from cmi_assets.synthetic.profile import load_profile
    from cmi_assets.synthetic.world import simulate_world

    return simulate_world(load_profile("incidence"), 0.02, 4)


def _rows(value) -> list[dict]:
    """A metadata table's rows as text, whether it went in as a table or (too wide for the
    UI's value column) as markdown."""
    if hasattr(value, "records"):
        return [{k: "" if v is None else str(v) for k, v in r.data.items()} for r in value.records]
    lines = [line.strip().strip("|").split("|") for line in value.value.splitlines() if line.startswith("|")]
    header = [h.strip() for h in lines[0]]
    return [dict(zip(header, (c.strip() for c in cells))) for cells in lines[2:]]


def test_maps_read_the_published_table_only():
    # group, owners, kinds, pool and automation: test_asset_policy.py, for every asset
    for asset in map_assets.COMMUNITY_MAP_ASSETS:
        spec = next(iter(asset.specs))
        assert {d.asset_key for d in spec.deps} == {dg.AssetKey("community_indicators")}


def test_atlas_and_gradient_materialize_from_the_published_table(storage_env, world, tmp_path, monkeypatch):
    # a user's postcode boundaries: the analysis zone has no postcode rows, so the atlas says
    # so and draws the county maps only
    postcodes = tmp_path / "postcodes.geojson"
    square = [[-73.0, 41.5], [-72.9, 41.5], [-72.9, 41.6], [-73.0, 41.5]]
    feature = {
        "type": "Feature",
        "properties": {"ZIP": "06001"},
        "geometry": {"type": "Polygon", "coordinates": [square]},
    }
    postcodes.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    monkeypatch.setenv(BOUNDARIES_ENV, str(postcodes))
    monkeypatch.setenv(BOUNDARY_CODE_ENV, "ZIP")
    with storage_env.connect(WAREHOUSE) as con:
        load_both_levels(con, world)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"storage": StorageResource()}
    assert dg.materialize(
        [cohort_population, cohort_features], partition_key=YEAR, instance=instance, resources=resources
    ).success
    assert dg.materialize([community_assets.community_indicators], instance=instance, resources=resources).success
    result = dg.materialize(map_assets.COMMUNITY_MAP_ASSETS, instance=instance, resources=resources)
    assert result.success

    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        table = con.execute("select * from community.indicators").pl()
    counties = table.filter((pl.col("geography_level") == "county") & (pl.col("group_type") == "all"))
    expected_maps = counties.select("indicator", "linkage_level").unique().height
    assert expected_maps >= 20  # every child indicator at both levels (recurrence is by state only)

    atlas = result.asset_materializations_for_node("community_atlas")[0].metadata
    assert atlas["maps"].value == expected_maps
    drawn = {(r["indicator"], r["level"]): r for r in _rows(atlas["maps_drawn"])}
    assert len(drawn) == expected_maps
    # the small world's counties are small: the published table hides some, and the maps hatch them
    assert sum(int(r["hatched"]) for r in drawn.values()) > 0
    for (indicator, level), row in drawn.items():
        rows = counties.filter(
            (pl.col("indicator") == indicator)
            & (pl.col("linkage_level") == level)
            & (pl.col("period") == row["period"])
        )
        assert int(row["drawn"]) == rows.height and int(row["hatched"]) == rows["suppressed"].sum(), (indicator, level)
    for indicator in map_assets.MAIN_INDICATORS:
        assert (
            atlas[f"map_{indicator}"].value.startswith("![")
            and "data:image/png;base64," in atlas[f"map_{indicator}"].value
        )
    page = open(atlas["atlas_html"].value, encoding="utf-8").read()
    assert len(re.findall(r"src='data:image/png;base64,", page)) == expected_maps
    assert "https://" not in page and "http://" not in page
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("postcodes.geojson: the indicator table has no postcode rows" in m for m in messages)

    gradient = result.asset_materializations_for_node("community_gradient")[0].metadata
    period = gradient["period"].value
    published = table.filter(
        (pl.col("indicator") == "reports")
        & (pl.col("linkage_level") == "conservative")
        & (pl.col("period") == period)
        & (pl.col("geography_level") == "state")
        & (pl.col("group_type") == "deprivation_decile")
    )
    published_rates = {r["group_value"]: r["rate_per_1000"] for r in published.iter_rows(named=True)}
    reports = {r["area"]: r["rate_per_1000"] for r in _rows(gradient["by_decile"]) if r["indicator"] == "reports"}
    assert set(reports) == set(published_rates) and len(reports) == 10
    for decile, rate in reports.items():
        if published_rates[decile] is None:
            assert rate == ""
        else:
            assert float(rate) == pytest.approx(published_rates[decile], rel=1e-3)
    assert "data:image/png;base64," in gradient["gradient_chart"].value


def test_postcode_maps_from_a_user_boundary_file(storage_env, tmp_path, monkeypatch):
    """A table with postcode rows (the level a deployment with postcodes in its analysis zone
    publishes) and a GeoParquet file of those postcodes: the atlas draws them beside the
    counties, hatching the suppressed postcodes."""
    import duckdb

    from cmi_assets.tables import replace_table
    from cmi_assets_tests.community.map_fixtures import indicator_row, long_table

    codes = [f"{6001 + i:05d}" for i in range(4)]
    hidden = {"06002"}
    postcode_rows = [
        indicator_row(ind, level, "2012", "postcode", code, "09003", "all", "all", 40 + i, 900, code in hidden)
        for ind in ("reports", "substantiations")
        for level in ("conservative", "less_conservative")
        for i, code in enumerate(codes)
    ]
    table = pl.concat([long_table(), pl.DataFrame(postcode_rows, schema=long_table().schema)])
    with storage_env.connect(WAREHOUSE) as con:
        replace_table(con, "community.indicators", table)
    boundaries = tmp_path / "postcodes.parquet"
    squares = ", ".join(
        f"('{code}', 'POLYGON(({x} 41.7, {x + 0.1} 41.7, {x + 0.1} 41.8, {x} 41.8, {x} 41.7))'::GEOMETRY)"
        for code, x in zip(codes, (-72.8, -72.7, -72.6, -72.5))
    )
    with duckdb.connect() as con:
        con.execute(f"copy (select * from (values {squares}) t(zcta, geometry)) to '{boundaries}'")
    monkeypatch.setenv(BOUNDARIES_ENV, str(boundaries))
    monkeypatch.setenv(BOUNDARY_CODE_ENV, "zcta")

    result = dg.materialize(
        [map_assets.community_atlas], instance=dg.DagsterInstance.ephemeral(), resources={"storage": StorageResource()}
    )
    assert result.success
    atlas = result.asset_materializations_for_node("community_atlas")[0].metadata
    drawn = _rows(atlas["maps_drawn"])
    assert atlas["maps"].value == len(drawn) == 8  # 2 indicators x 2 linkage levels x county and postcode
    postcode_maps = [r for r in drawn if r["areas"] == "postcode"]
    assert len(postcode_maps) == 4
    assert all((int(r["drawn"]), int(r["hatched"])) == (4, 1) for r in postcode_maps)
    assert "postcodes.parquet" in atlas["boundaries"].value
