"""Maps and the deprivation gradient of the community indicators, as assets
(cmi_assets/community/maps.py, atlas.py and gradient.py are the library):

  community_indicators (community.indicators, published: suppressed)
    -> community_atlas      county choropleths per indicator and linkage level, offline;
                            one HTML atlas under $CMI_DATA_DIR/reports/community/
    -> community_gradient   report and substantiation rates by deprivation decile and county

Both read the published table only, so a map or a chart shows nothing the table hides.
They write no table; they open the warehouse read-only, and still take the DuckDB pool,
since a read-only connection keeps a writing run out of the file (cmi_assets/storage.py).
"""

import dagster as dg
import polars as pl

from cmi_assets.cfsr.report import png_data_uri
from cmi_assets.community.atlas import build_atlas, write_atlas_html
from cmi_assets.community.gradient import GRADIENT_INDICATORS, decile_ratios, gradient_chart, gradient_table
from cmi_assets.community.maps import COUNTY_SOURCE, SUPPRESSED_LABEL, boundary_source, county_boundaries
from cmi_assets.community.schema import DEFINITIONS_TABLE, INDICATORS_TABLE
from cmi_assets.defs.community.preset import community_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import frame_table, short_key
from cmi_assets.tables import read_table

REPORT_SUBDIR = ("reports", "community")
# Shown inline in the UI at the conservative level (the atlas has every indicator at both):
# the two the gradient reads, the union across agencies, and a strength-based one.
MAIN_INDICATORS = ("reports", "substantiations", "incidence", "full_term_births")
UI_LEVEL = "conservative"


def _read_published(storage: StorageResource) -> tuple[pl.DataFrame, pl.DataFrame]:
    with storage.warehouse(read_only=True) as con:
        table = read_table(con, INDICATORS_TABLE)
        definitions = read_table(con, DEFINITIONS_TABLE)
    if table.is_empty():
        raise dg.Failure(description=f"{INDICATORS_TABLE} is empty or missing: materialize community_indicators first")
    return table, definitions


def _county_codes(table: pl.DataFrame) -> list[str]:
    return sorted(table.filter(pl.col("geography_level") == "county")["geography_code"].unique().to_list())


@community_asset(
    deps=["community_indicators"],
    description=(
        "County choropleths of every community indicator at both linkage levels (the newest period), drawn with "
        "no network from the Census county boundaries the plotly-geo package ships; suppressed counties hatched, "
        f"never coloured. The main indicators ({', '.join(MAIN_INDICATORS)}, {UI_LEVEL} linkage) are shown here; "
        "every map, with its indicator's definition and the suppression note, is in one self-contained HTML atlas "
        "under $CMI_DATA_DIR/reports/community/. Postcode maps too where CMI_AREA_BOUNDARIES names a boundary file "
        "(GeoJSON, shapefile or GeoParquet) and the table has rows at that level."
    ),
    kinds={"html", "matplotlib"},
)
def community_atlas(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    table, definitions = _read_published(storage)
    boundaries = {"county": county_boundaries(_county_codes(table))}
    source = boundary_source()
    if source is not None:
        if table.filter(pl.col("geography_level") == source.geography_level).is_empty():
            context.log.warning(
                f"{source.path.name}: the indicator table has no {source.geography_level} rows; no such maps drawn"
            )
        else:
            boundaries[source.geography_level] = source.read()
    atlas = build_atlas(table, definitions, boundaries)
    path = write_atlas_html(atlas, storage.storage().data_dir.joinpath(*REPORT_SUBDIR))
    context.log.info(f"{len(atlas.maps)} maps in {path.name}")
    shown = {}
    for indicator in MAIN_INDICATORS:
        atlas_map = atlas.find(indicator, UI_LEVEL)
        if atlas_map is not None:
            shown[short_key(f"map_{indicator}")] = dg.MetadataValue.md(atlas_map.image_markdown())
    drawn = pl.DataFrame(
        [
            {
                "indicator": m.indicator,
                "level": m.linkage_level,
                "areas": m.geography_level,
                "period": m.period,
                "drawn": sum(m.counts.get(k, 0) for k in ("rated areas", SUPPRESSED_LABEL, "areas without data")),
                "hatched": m.counts.get("hatched", 0),
            }
            for m in atlas.maps
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "maps": len(atlas.maps),
            **shown,
            "maps_drawn": frame_table(drawn),
            "boundaries": COUNTY_SOURCE
            + (f"; {source.geography_level}: {source.path.name}" if len(boundaries) > 1 else ""),
            "atlas_html": dg.MetadataValue.path(str(path)),
        }
    )


@community_asset(
    deps=["community_indicators"],
    description=(
        "The deprivation gradient, as Philadelphia DHS drew it: report and substantiation rates per 1,000 children by "
        "deprivation decile (state) and by county, with exact 95% intervals, from the published indicator table "
        f"({UI_LEVEL} linkage, newest period); the most deprived decile's rate over the least deprived's with its "
        "exact conditional interval. Suppressed cells are listed, not drawn."
    ),
    kinds={"matplotlib", "polars"},
)
def community_gradient(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    table, _ = _read_published(storage)
    names = {code: b.name for code, b in county_boundaries(_county_codes(table)).items()}
    gradient = gradient_table(table, GRADIENT_INDICATORS, UI_LEVEL, county_names=names)
    if gradient.is_empty():
        raise dg.Failure(description=f"no {', '.join(GRADIENT_INDICATORS)} rows in {INDICATORS_TABLE}")
    period = gradient["period"][0]
    ratios = decile_ratios(gradient)
    png = gradient_chart(gradient, f"Rates by deprivation decile and county, children born {period}")
    shown_columns = ["indicator", "area", "rate_per_1000", "rate_lower", "rate_upper", "suppressed"]
    by = {by: gradient.filter(pl.col("by") == by).select(shown_columns) for by in ("deprivation decile", "county")}
    context.log.info(f"{gradient.height} gradient rows for {period}")
    return dg.MaterializeResult(
        metadata={
            "period": period,
            "decile_10_vs_1": frame_table(ratios),
            "gradient_chart": dg.MetadataValue.md(f"![deprivation gradient, {period}]({png_data_uri(png)})"),
            "by_decile": frame_table(by["deprivation decile"]),
            "by_county": frame_table(by["county"]),
        }
    )


COMMUNITY_MAP_ASSETS = [community_atlas, community_gradient]
