"""The HTML atlas: one map per indicator and linkage level that has county rows, each
image embedded (the page stands alone), with its definition, unit and the suppression
note; the counts of hatched areas are those the table suppresses."""

from __future__ import annotations

import base64
import re

import polars as pl

from cmi_assets.community.atlas import SUPPRESSION_NOTE, build_atlas, write_atlas_html
from cmi_assets.community.maps import COLOURMAP, STRENGTH_COLOURMAP, county_boundaries
from cmi_assets_tests.community.map_fixtures import CT_COUNTIES, definitions, long_table


def test_atlas_has_a_map_per_indicator_and_level_with_definition_and_note(tmp_path):
    table = long_table()
    atlas = build_atlas(table, definitions(), {"county": county_boundaries(CT_COUNTIES)})
    assert [(m.indicator, m.linkage_level) for m in atlas.maps] == [
        ("reports", "conservative"),
        ("reports", "less_conservative"),
        ("substantiations", "conservative"),
        ("substantiations", "less_conservative"),
    ]
    for atlas_map in atlas.maps:
        rows = table.filter(
            (pl.col("indicator") == atlas_map.indicator)
            & (pl.col("linkage_level") == atlas_map.linkage_level)
            & (pl.col("period") == atlas_map.period)
            & (pl.col("geography_level") == "county")
        )
        assert atlas_map.period == "2012"
        assert atlas_map.counts["hatched"] == rows["suppressed"].sum() == 2
    path = write_atlas_html(atlas, tmp_path / "reports")
    page = path.read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 4 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened
    assert page.count("cmi_assets.community.indicators.reports") == 2
    assert SUPPRESSION_NOTE in page and page.count("2 of 8 areas suppressed") == 4
    assert atlas.find("reports", "conservative").image_markdown().startswith("![Reported by age 5")


def test_maps_follow_the_definitions_order_and_strength_based_ones_are_green():
    table = long_table()
    defs = definitions().reverse().with_columns(strength_based=pl.Series([True, False]))
    atlas = build_atlas(table, defs, {"county": county_boundaries(CT_COUNTIES)}, linkage_levels=["conservative"])
    assert [m.indicator for m in atlas.maps] == ["substantiations", "reports"]
    assert atlas.find("substantiations", "conservative").colourmap == STRENGTH_COLOURMAP
    assert atlas.find("reports", "conservative").colourmap == COLOURMAP


def test_indicator_without_county_rows_gets_no_map():
    table = long_table().filter(~((pl.col("indicator") == "substantiations") & (pl.col("geography_level") == "county")))
    atlas = build_atlas(table, None, {"county": county_boundaries(CT_COUNTIES)}, linkage_levels=["conservative"])
    assert [m.indicator for m in atlas.maps] == ["reports"]
    assert atlas.maps[0].title == "reports"
