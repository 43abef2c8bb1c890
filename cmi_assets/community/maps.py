"""Choropleth maps of the community indicator table, drawn with no network: county
boundaries come from a package (plotly-geo ships the Census Bureau's 2016 cartographic
boundary file of US counties, `cb_2016_us_county_500k`, read here with pyshp, no GDAL),
postcode boundaries from a file the user names. Suppressed areas are hatched, never
coloured, so a map shows no more than the published table does.

    boundaries = county_boundaries(["09001", "09003"])       # the packaged Census shapes
    values = map_values(table, "reports", "conservative")    # one indicator's county rows
    figure = choropleth_figure(values, boundaries, "Reports, 2012")
    png = png_bytes(figure)

A user's own boundaries (postcodes, or whatever level the table holds codes for):
`CMI_AREA_BOUNDARIES` names a GeoJSON file (a FeatureCollection of Polygon or
MultiPolygon features), a shapefile (`.shp` beside its `.dbf`) or a GeoParquet file (WKB
geometry, as DuckDB's COPY writes it); `CMI_AREA_BOUNDARY_CODE` names the property that
holds the area code (the table's `geography_code`, as text), `CMI_AREA_BOUNDARY_LEVEL`
the table's geography level those codes are (default `postcode`). Coordinates are
longitude and latitude (WGS84 or NAD83, as the Census files are).

The projection is equirectangular, x scaled by the cosine of the mapped areas' central
latitude: over a state the size of Connecticut east-west distances stay within 2% of the
great-circle ones (tested), and it needs no projection library.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from cmi_assets.charts import pyplot

COUNTY_SHAPEFILE = "cb_2016_us_county_500k"
COUNTY_SOURCE = "US Census Bureau, 2016 cartographic boundary file of counties (1:500,000), as shipped by plotly-geo"
BOUNDARIES_ENV = "CMI_AREA_BOUNDARIES"
BOUNDARY_CODE_ENV = "CMI_AREA_BOUNDARY_CODE"
BOUNDARY_LEVEL_ENV = "CMI_AREA_BOUNDARY_LEVEL"
DEFAULT_BOUNDARY_LEVEL = "postcode"

RATE_COLUMN = "rate_per_1000"
COLOURMAP = "YlOrRd"
# Strength-based indicators (higher is better) in green, so red always reads as need.
STRENGTH_COLOURMAP = "YlGn"
NO_DATA_COLOUR = "#d9d9d9"
SUPPRESSED_HATCH = "////"
SUPPRESSED_NOTE = "hatched: suppressed (a small count, or a cell hidden so that none can be worked out)"
# Names are written on a map of few areas (a state's counties); on a postcode map they would
# cover the colours.
MAX_LABELLED_AREAS = 20

# the labels of the three collections a map draws, which tests and callers count
RATED_LABEL, SUPPRESSED_LABEL, NO_DATA_LABEL = "rated areas", "suppressed areas", "areas without data"

Ring = np.ndarray  # (n, 2): longitude, latitude
Polygon = tuple[Ring, ...]  # the exterior ring, then its holes


@dataclass(frozen=True)
class Boundary:
    """One area's outline: its code, a name to print and its polygons in lon/lat."""

    code: str
    name: str
    polygons: tuple[Polygon, ...]

    def points(self) -> np.ndarray:
        return np.concatenate([ring for polygon in self.polygons for ring in polygon])


# --- geometry -----------------------------------------------------------------------------


def signed_area(ring: np.ndarray) -> float:
    """Shoelace area of a closed or open ring; positive when counter-clockwise."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def centroid(boundary: Boundary) -> tuple[float, float]:
    """The area-weighted centroid (x, y) of a boundary's polygons, holes subtracted."""
    total, cx, cy = 0.0, 0.0, 0.0
    for polygon in boundary.polygons:
        for index, ring in enumerate(polygon):
            x, y = ring[:, 0], ring[:, 1]
            cross = x * np.roll(y, -1) - np.roll(x, -1) * y
            area = 0.5 * float(np.sum(cross))
            # the exterior adds, holes subtract, whatever way round the file wrote them
            sign = (1.0 if index == 0 else -1.0) * (1.0 if area >= 0 else -1.0)
            total += sign * area
            cx += sign * float(np.sum((x + np.roll(x, -1)) * cross)) / 6.0
            cy += sign * float(np.sum((y + np.roll(y, -1)) * cross)) / 6.0
    if total == 0:
        raise ValueError(f"area {boundary.code!r} has no area")
    return cx / total, cy / total


def _polygons_of(geometry: Mapping, where: str) -> tuple[Polygon, ...]:
    """Polygon or MultiPolygon coordinates (GeoJSON layout) as arrays."""
    kind = geometry.get("type") if geometry else None
    if kind == "Polygon":
        coordinates = [geometry["coordinates"]]
    elif kind == "MultiPolygon":
        coordinates = geometry["coordinates"]
    else:
        raise ValueError(f"{where}: a {kind or 'missing'} geometry; area boundaries must be Polygon or MultiPolygon")
    return tuple(tuple(np.asarray(ring, dtype=float)[:, :2] for ring in polygon) for polygon in coordinates if polygon)


@dataclass(frozen=True)
class Projection:
    """Equirectangular: x = (lon - lon0) cos(lat0), y = lat - lat0, in degrees of latitude."""

    lon0: float
    lat0: float

    @property
    def x_scale(self) -> float:
        return math.cos(math.radians(self.lat0))

    def forward(self, lonlat: np.ndarray) -> np.ndarray:
        return np.column_stack([(lonlat[:, 0] - self.lon0) * self.x_scale, lonlat[:, 1] - self.lat0])

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] / self.x_scale + self.lon0, xy[:, 1] + self.lat0])

    def project(self, boundary: Boundary) -> Boundary:
        polygons = tuple(tuple(self.forward(ring) for ring in polygon) for polygon in boundary.polygons)
        return Boundary(boundary.code, boundary.name, polygons)


def projection_for(boundaries: Iterable[Boundary]) -> Projection:
    """Centred on the areas' bounding box, scaled at its mean latitude."""
    points = np.concatenate([b.points() for b in boundaries])
    return Projection(
        lon0=float((points[:, 0].min() + points[:, 0].max()) / 2),
        lat0=float((points[:, 1].min() + points[:, 1].max()) / 2),
    )


# --- the packaged county boundaries -------------------------------------------------------


def county_shapefile() -> Path:
    """The county shapefile inside the installed plotly-geo package."""
    spec = importlib.util.find_spec("_plotly_geo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the county boundaries come from the plotly-geo package, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / f"{COUNTY_SHAPEFILE}.shp"
    if not path.is_file():
        raise RuntimeError(f"plotly-geo is installed but has no {path.name}")
    return path


@cache
def _all_counties() -> dict[str, Boundary]:
    """Every county of the file, by 5-digit FIPS (GEOID): read once per process, since the
    file holds every US county and a run draws many maps."""
    import shapefile

    counties = {}
    with shapefile.Reader(str(county_shapefile())) as reader:
        for item in reader.iterShapeRecords():
            code = item.record["GEOID"]
            counties[code] = Boundary(
                code, item.record["NAME"], _polygons_of(item.shape.__geo_interface__, f"county {code}")
            )
    return counties


def county_boundaries(fips_codes: Iterable[str]) -> dict[str, Boundary]:
    """The boundaries of the named counties (5-digit FIPS: state and county), in the order
    given; an unknown code raises, naming it."""
    codes = list(dict.fromkeys(str(code) for code in fips_codes))
    malformed = [code for code in codes if len(code) != 5 or not code.isdigit()]
    if malformed:
        raise ValueError(
            f"county codes must be 5-digit FIPS (2 of state, 3 of county), not {', '.join(map(repr, malformed))}"
        )
    counties = _all_counties()
    unknown = [code for code in codes if code not in counties]
    if unknown:
        raise ValueError(f"unknown county FIPS code(s) {', '.join(unknown)}: not in the {COUNTY_SOURCE}")
    return {code: counties[code] for code in codes}


# --- a user's boundary file ---------------------------------------------------------------


def parse_wkb(data: bytes) -> tuple[Polygon, ...]:
    """The polygons of a WKB Polygon or MultiPolygon (either byte order; Z and M
    coordinates, ISO or EWKB flagged, are read and dropped; an EWKB SRID is skipped)."""
    polygons, end = _wkb_geometry(memoryview(data), 0)
    if end != len(data):
        raise ValueError(f"WKB has {len(data) - end} bytes after its geometry")
    return polygons


_WKB_POLYGON, _WKB_MULTIPOLYGON = 3, 6
_EWKB_Z, _EWKB_M, _EWKB_SRID = 0x80000000, 0x40000000, 0x20000000


def _wkb_geometry(data: memoryview, offset: int) -> tuple[tuple[Polygon, ...], int]:
    order = {0: ">", 1: "<"}.get(data[offset])
    if order is None:
        raise ValueError(f"WKB byte order {data[offset]} at byte {offset} is neither 0 nor 1")
    (code,) = struct.unpack_from(order + "I", data, offset + 1)
    offset += 5
    dims = 2 + bool(code & _EWKB_Z) + bool(code & _EWKB_M)
    if code & _EWKB_SRID:
        offset += 4
    code &= 0x0FFFFFFF
    iso_dims, kind = divmod(code, 1000)  # ISO: 1000 Z, 2000 M, 3000 ZM
    dims += {0: 0, 1: 1, 2: 1, 3: 2}[iso_dims]
    if kind == _WKB_POLYGON:
        polygon, offset = _wkb_rings(data, offset, order, dims)
        return (polygon,), offset
    if kind == _WKB_MULTIPOLYGON:
        (count,) = struct.unpack_from(order + "I", data, offset)
        offset += 4
        polygons = []
        for _ in range(count):
            parts, offset = _wkb_geometry(data, offset)
            polygons.extend(parts)
        return tuple(polygons), offset
    raise ValueError(f"WKB geometry type {kind} is not a Polygon (3) or MultiPolygon (6)")


def _wkb_rings(data: memoryview, offset: int, order: str, dims: int) -> tuple[Polygon, int]:
    (n_rings,) = struct.unpack_from(order + "I", data, offset)
    offset += 4
    rings = []
    for _ in range(n_rings):
        (n_points,) = struct.unpack_from(order + "I", data, offset)
        offset += 4
        values = np.frombuffer(data, dtype=np.dtype(order + "f8"), count=n_points * dims, offset=offset)
        rings.append(values.reshape(n_points, dims)[:, :2].astype(float))
        offset += 8 * n_points * dims
    return tuple(rings), offset


def _read_geojson(path: Path, code_property: str) -> dict[str, Boundary]:
    collection = json.loads(path.read_text(encoding="utf-8"))
    features = collection.get("features") if isinstance(collection, dict) else None
    if features is None:
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection")
    boundaries = {}
    for number, feature in enumerate(features, 1):
        code = _code((feature.get("properties") or {}).get(code_property), path, code_property, number)
        boundaries[code] = Boundary(code, code, _polygons_of(feature.get("geometry"), f"{path} feature {number}"))
    return boundaries


def _read_shapefile(path: Path, code_property: str) -> dict[str, Boundary]:
    import shapefile

    boundaries = {}
    with shapefile.Reader(str(path)) as reader:
        fields = [field[0] for field in reader.fields[1:]]
        if code_property not in fields:
            raise ValueError(f"{path}: no field {code_property!r} (fields: {', '.join(fields)})")
        for number, item in enumerate(reader.iterShapeRecords(), 1):
            code = _code(item.record[code_property], path, code_property, number)
            geometry = item.shape.__geo_interface__
            boundaries[code] = Boundary(code, code, _polygons_of(geometry, f"{path} shape {number}"))
    return boundaries


def _read_geoparquet(path: Path, code_property: str) -> dict[str, Boundary]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"{}"))
    column = geo.get("primary_column", "geometry")
    encoding = geo.get("columns", {}).get(column, {}).get("encoding", "WKB")
    if encoding.upper() != "WKB":
        raise ValueError(f"{path}: geometry encoding {encoding!r}; only WKB GeoParquet is read")
    for name in (column, code_property):
        if name not in table.column_names:
            raise ValueError(f"{path}: no column {name!r} (columns: {', '.join(table.column_names)})")
    boundaries = {}
    rows = zip(table.column(code_property).to_pylist(), table.column(column).to_pylist())
    for number, (raw_code, wkb) in enumerate(rows, 1):
        code = _code(raw_code, path, code_property, number)
        if wkb is None:
            raise ValueError(f"{path} row {number}: no geometry")
        boundaries[code] = Boundary(code, code, parse_wkb(bytes(wkb)))
    return boundaries


def _code(value, path: Path, code_property: str, number: int) -> str:
    if value is None or str(value).strip() == "":
        raise ValueError(f"{path} feature {number}: no {code_property!r}")
    return str(value).strip()


READERS = {
    ".geojson": _read_geojson,
    ".json": _read_geojson,
    ".shp": _read_shapefile,
    ".parquet": _read_geoparquet,
    ".geoparquet": _read_geoparquet,
}


def read_boundaries(path: str | Path, code_property: str) -> dict[str, Boundary]:
    """Areas of a GeoJSON, shapefile or GeoParquet file by the text of `code_property`."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: boundary files are {', '.join(sorted(READERS))}, not {path.suffix or 'no suffix'}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such boundary file")
    return reader(path, code_property)


@dataclass(frozen=True)
class BoundarySource:
    """The user's boundary file, as the environment names it."""

    path: Path
    code_property: str
    geography_level: str

    def read(self) -> dict[str, Boundary]:
        return read_boundaries(self.path, self.code_property)


def boundary_source(environ: Mapping[str, str] | None = None) -> BoundarySource | None:
    """The boundary file CMI_AREA_BOUNDARIES names (None when unset); a file named without
    CMI_AREA_BOUNDARY_CODE is an error, since no property is a safe guess."""
    environ = os.environ if environ is None else environ
    path = environ.get(BOUNDARIES_ENV, "").strip()
    if not path:
        return None
    code_property = environ.get(BOUNDARY_CODE_ENV, "").strip()
    if not code_property:
        raise ValueError(f"{BOUNDARIES_ENV} is set: {BOUNDARY_CODE_ENV} must name the property holding the area code")
    level = environ.get(BOUNDARY_LEVEL_ENV, "").strip() or DEFAULT_BOUNDARY_LEVEL
    return BoundarySource(Path(path), code_property, level)


def select_boundaries(boundaries: Mapping[str, Boundary], codes: Iterable[str], what: str) -> dict[str, Boundary]:
    """The named areas of a boundary set; codes it lacks raise, naming a few."""
    codes = list(dict.fromkeys(str(code) for code in codes))
    missing = [code for code in codes if code not in boundaries]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        sample = ", ".join(list(boundaries)[:3])
        raise ValueError(f"{what} has no area for code(s) {shown} (its codes look like: {sample})")
    return {code: boundaries[code] for code in codes}


# --- values -------------------------------------------------------------------------------


def map_values(
    table: pl.DataFrame,
    indicator: str,
    linkage_level: str,
    geography_level: str = "county",
    period: str | None = None,
    value_column: str = RATE_COLUMN,
) -> pl.DataFrame:
    """One indicator's areas (all children, no subgroup) of one period, the newest when
    none is named: geography_code, period, value, suppressed, reliability, count,
    population."""
    rows = table.filter(
        (pl.col("indicator") == indicator)
        & (pl.col("linkage_level") == linkage_level)
        & (pl.col("geography_level") == geography_level)
        & (pl.col("group_type") == "all")
    )
    if period is None and not rows.is_empty():
        period = rows["period"].max()
    if period is not None:
        rows = rows.filter(pl.col("period") == period)
    return rows.select(
        "geography_code",
        "period",
        pl.col(value_column).alias("value"),
        pl.col("suppressed").fill_null(False),
        "reliability",
        "count",
        "population",
    ).sort("geography_code")


# --- drawing ------------------------------------------------------------------------------


def _area_path(boundary: Boundary):
    """One compound path per area: exteriors counter-clockwise and holes clockwise, so the
    non-zero fill rule leaves the holes (an enclosed county) open whatever the file's
    winding."""
    from matplotlib.path import Path as MplPath

    vertices, codes = [], []
    for polygon in boundary.polygons:
        for index, ring in enumerate(polygon):
            counter_clockwise = signed_area(ring) > 0
            if counter_clockwise != (index == 0):
                ring = ring[::-1]
            vertices.append(ring)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(ring) - 1))
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


def choropleth_figure(
    values: pl.DataFrame,
    boundaries: Mapping[str, Boundary],
    title: str,
    value_label: str = "rate per 1,000",
    labelled: bool | None = None,
    colourmap: str = COLOURMAP,
):
    """A choropleth of `values` (map_values' columns) over the named areas: rated areas
    coloured on one scale with a colour bar, suppressed areas hatched and uncoloured,
    areas with neither (no children) grey; a legend says which is which."""
    from matplotlib.collections import PathCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch
    from matplotlib.patheffects import withStroke

    plt = pyplot()
    drawn = select_boundaries(boundaries, values["geography_code"], "the boundary set")
    projection = projection_for(drawn.values())
    projected = {code: projection.project(b) for code, b in drawn.items()}
    rows = list(values.iter_rows(named=True))
    rated = [r for r in rows if not r["suppressed"] and r["value"] is not None]
    suppressed = [r for r in rows if r["suppressed"]]
    no_data = [r for r in rows if not r["suppressed"] and r["value"] is None]

    figure, axes = plt.subplots(figsize=(7.0, 5.2), dpi=90)
    known = [r["value"] for r in rated]
    norm = Normalize(vmin=min(known, default=0.0), vmax=max(known, default=1.0))
    if norm.vmin == norm.vmax:
        norm = Normalize(vmin=norm.vmin - 0.5, vmax=norm.vmax + 0.5)

    def collection(group, label, **style):
        paths = [_area_path(projected[r["geography_code"]]) for r in group]
        drawn_collection = PathCollection(paths, label=label, edgecolor="#555555", linewidth=0.6, **style)
        drawn_collection.set_transform(axes.transData)
        axes.add_collection(drawn_collection)
        return drawn_collection

    coloured = collection(rated, RATED_LABEL, cmap=colourmap, norm=norm)
    coloured.set_array(np.asarray(known, dtype=float))
    collection(suppressed, SUPPRESSED_LABEL, facecolor="white", hatch=SUPPRESSED_HATCH)
    collection(no_data, NO_DATA_LABEL, facecolor=NO_DATA_COLOUR)

    points = np.concatenate([b.points() for b in projected.values()])
    pad = 0.03 * max(np.ptp(points[:, 0]), np.ptp(points[:, 1]))
    axes.set_xlim(points[:, 0].min() - pad, points[:, 0].max() + pad)
    axes.set_ylim(points[:, 1].min() - pad, points[:, 1].max() + pad)
    axes.set_aspect("equal")
    axes.set_axis_off()
    if labelled if labelled is not None else len(projected) <= MAX_LABELLED_AREAS:
        for boundary in projected.values():
            x, y = centroid(boundary)
            axes.annotate(
                boundary.name,
                (x, y),
                ha="center",
                va="center",
                fontsize=7,
                color="#222222",
                path_effects=[withStroke(linewidth=2, foreground="white")],  # legible on the darkest colour
            )
    colourbar = figure.colorbar(coloured, ax=axes, shrink=0.7, pad=0.02)
    colourbar.set_label(value_label, fontsize=8)
    colourbar.ax.tick_params(labelsize=7)
    legend = [Patch(facecolor="white", edgecolor="#555555", hatch=SUPPRESSED_HATCH, label=SUPPRESSED_NOTE)]
    if no_data:
        legend.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#555555", label="no children in the area"))
    axes.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7, frameon=False)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def drawn_counts(figure) -> dict[str, int]:
    """Areas drawn per collection label (rated, suppressed, without data), and how many of
    the suppressed are hatched: what a map shows, counted from its artists."""
    counts = {}
    for drawn_collection in figure.axes[0].collections:
        label = drawn_collection.get_label()
        if label in (RATED_LABEL, SUPPRESSED_LABEL, NO_DATA_LABEL):
            counts[label] = len(drawn_collection.get_paths())
            if label == SUPPRESSED_LABEL:
                counts["hatched"] = counts[label] if drawn_collection.get_hatch() else 0
    return counts


def area_names(boundaries: Mapping[str, Boundary], codes: Sequence[str]) -> dict[str, str]:
    """Code -> printed name ("Hartford"); a code without a boundary keeps its code."""
    return {code: boundaries[code].name if code in boundaries else code for code in codes}
