"""County and postcode maps: the packaged Census county shapes drawn with the network
disabled (every socket connect and urlopen raises in the drawing process), counted from
the figure's artists; the selection and projection of a known county against its
published location and a great-circle distance; unknown codes named; a user's
boundaries read alike from GeoJSON, shapefile and GeoParquet (written by DuckDB); WKB
against DuckDB's writer and a big-endian hand-built geometry."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from cmi_assets.community import maps
from cmi_assets_tests.community.map_fixtures import CT_COUNTIES, long_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_EWKB_POLYGON_Z_SRID = 0x80000000 | 0x20000000 | 3  # PostGIS's flags, written out here

NO_NETWORK = """
import socket, urllib.request
def _refuse(*args, **kwargs):
    raise OSError("network disabled in this test")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
urllib.request.urlopen = _refuse
try:
    socket.create_connection(("example.org", 80))
    raise SystemExit("the network is still reachable")
except OSError:
    pass
"""

DRAW = """
import json, sys
from cmi_assets.charts import png_bytes
from cmi_assets.community import maps
from cmi_assets_tests.community.map_fixtures import long_table
table = long_table()
values = maps.map_values(table, "reports", "conservative")
figure = maps.choropleth_figure(values, maps.county_boundaries(values["geography_code"]), "Reports")
counts = maps.drawn_counts(figure)
open(sys.argv[1], "wb").write(png_bytes(figure))
print(json.dumps(counts))
"""


def test_county_map_renders_with_the_network_disabled(tmp_path):
    png = tmp_path / "reports.png"
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK + DRAW, str(png)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    suppressed = long_table().filter(
        (pl.col("indicator") == "reports")
        & (pl.col("linkage_level") == "conservative")
        & (pl.col("period") == "2012")
        & (pl.col("geography_level") == "county")
    )["suppressed"]
    assert counts == {
        maps.RATED_LABEL: int((~suppressed).sum()),
        maps.SUPPRESSED_LABEL: int(suppressed.sum()),
        "hatched": int(suppressed.sum()),
        maps.NO_DATA_LABEL: 0,
    }
    assert counts[maps.RATED_LABEL] == 6 and counts["hatched"] == 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_hatched_areas_carry_no_colour_and_rated_ones_their_rate():
    values = maps.map_values(long_table(), "reports", "conservative")
    figure = maps.choropleth_figure(values, maps.county_boundaries(CT_COUNTIES), "Reports")
    by_label = {c.get_label(): c for c in figure.axes[0].collections}
    rated, hidden = by_label[maps.RATED_LABEL], by_label[maps.SUPPRESSED_LABEL]
    shown = values.filter(~pl.col("suppressed"))
    assert np.allclose(rated.get_array(), shown["value"].to_numpy())
    assert hidden.get_array() is None and hidden.get_hatch() == maps.SUPPRESSED_HATCH
    assert np.allclose(hidden.get_facecolor()[:, :3], 1.0)  # white, never the colour scale
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [maps.SUPPRESSED_NOTE]
    colourbar_axes = figure.axes[1]
    assert colourbar_axes.get_ylabel() == "rate per 1,000"
    assert rated.get_cmap().name == maps.COLOURMAP
    maps.pyplot().close(figure)
    green = maps.choropleth_figure(
        values, maps.county_boundaries(CT_COUNTIES), "Full term", colourmap=maps.STRENGTH_COLOURMAP
    )
    assert {c.get_label(): c for c in green.axes[0].collections}[maps.RATED_LABEL].get_cmap().name == "YlGn"
    maps.pyplot().close(green)


def haversine_km(lon1, lat1, lon2, lat2) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def test_known_county_centroid_and_projection():
    hartford = maps.county_boundaries(["09003"])["09003"]
    assert hartford.name == "Hartford"
    lon, lat = maps.centroid(hartford)
    # Census Gazetteer internal point of Hartford County: 41.806 N, 72.733 W; its neighbours'
    # centroids lie 0.3 degrees or more away
    assert abs(lat - 41.806) < 0.05 and abs(lon + 72.733) < 0.05
    projection = maps.projection_for(maps.county_boundaries(CT_COUNTIES).values())
    assert 41.0 < projection.lat0 < 42.1
    projected = projection.project(hartford)
    back = projection.inverse(np.array([maps.centroid(projected)]))[0]
    assert abs(back[0] - lon) < 0.01 and abs(back[1] - lat) < 0.01
    # an east-west distance at the mean latitude: the projection's is the great-circle one
    a, b = np.array([[-73.5, projection.lat0], [-72.0, projection.lat0]])
    xy = projection.forward(np.array([a, b]))
    km_per_degree = math.pi * 6371.0 / 180
    assert abs(np.linalg.norm(xy[1] - xy[0]) * km_per_degree / haversine_km(*a, *b) - 1) < 0.001
    # at the state's northern and southern edges the scale drifts, within 2%
    points = np.concatenate([b.points() for b in maps.county_boundaries(CT_COUNTIES).values()])
    west, east = points[:, 0].min(), points[:, 0].max()
    for lat in (points[:, 1].min(), points[:, 1].max()):
        xy = projection.forward(np.array([[west, lat], [east, lat]]))
        ratio = np.linalg.norm(xy[1] - xy[0]) * km_per_degree / haversine_km(west, lat, east, lat)
        assert 0.98 < ratio < 1.02, (lat, ratio)


def test_unknown_and_malformed_fips_are_named():
    with pytest.raises(ValueError, match="99999"):
        maps.county_boundaries(["09003", "99999"])
    with pytest.raises(ValueError, match="'001'"):
        maps.county_boundaries(["001"])


def test_county_file_is_read_once_per_process():
    maps.county_boundaries(["09001"])
    before = maps._all_counties.cache_info()
    maps.county_boundaries(["09003", "17031"])
    after = maps._all_counties.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 1


# --- a user's boundaries ------------------------------------------------------------------


def _squares(n: int = 6) -> dict[str, list]:
    """Postcode squares in a row over Connecticut, the third with a square hole."""
    out = {}
    for i in range(n):
        x0, y0 = -73.5 + 0.2 * i, 41.5
        outer = [[x0, y0], [x0 + 0.2, y0], [x0 + 0.2, y0 + 0.2], [x0, y0 + 0.2], [x0, y0]]
        rings = [outer]
        if i == 2:
            rings.append([[x0 + 0.05, y0 + 0.05], [x0 + 0.05, y0 + 0.1], [x0 + 0.1, y0 + 0.1], [x0 + 0.1, y0 + 0.05]])
            rings[-1].append(rings[-1][0])
        out[f"{6001 + i:05d}"] = rings
    return out


def _wkt(rings) -> str:
    return "POLYGON(" + ", ".join("(" + ", ".join(f"{x} {y}" for x, y in ring) + ")" for ring in rings) + ")"


@pytest.fixture
def boundary_files(tmp_path):
    import shapefile

    squares = _squares()
    geojson = tmp_path / "postcodes.geojson"
    features = [
        {"type": "Feature", "properties": {"ZIP": code}, "geometry": {"type": "Polygon", "coordinates": rings}}
        for code, rings in squares.items()
    ]
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    shp = tmp_path / "postcodes.shp"
    with shapefile.Writer(str(shp), shapeType=shapefile.POLYGON) as writer:
        writer.field("ZIP", "C", size=5)
        for code, rings in squares.items():
            # shapefiles wind exteriors clockwise and holes counter-clockwise
            writer.poly([ring[::-1] for ring in rings])
            writer.record(code)
    parquet = tmp_path / "postcodes.parquet"
    with duckdb.connect() as con:
        rows = ", ".join(f"('{code}', '{_wkt(rings)}'::GEOMETRY)" for code, rings in squares.items())
        con.execute(f"copy (select * from (values {rows}) t(ZIP, geometry)) to '{parquet}'")
    return squares, {"geojson": geojson, "shapefile": shp, "geoparquet": parquet}


def _area(boundary) -> float:
    return sum(abs(maps.signed_area(p[0])) - sum(abs(maps.signed_area(h)) for h in p[1:]) for p in boundary.polygons)


def test_user_boundaries_read_alike_in_every_format(boundary_files):
    squares, files = boundary_files
    read = {kind: maps.read_boundaries(path, "ZIP") for kind, path in files.items()}
    for kind, boundaries in read.items():
        assert sorted(boundaries) == sorted(squares), kind
        assert abs(_area(boundaries["06003"]) - (0.04 - 0.0025)) < 1e-9, kind
        assert abs(_area(boundaries["06001"]) - 0.04) < 1e-9, kind
        centre = maps.centroid(boundaries["06001"])
        assert abs(centre[0] + 73.4) < 1e-9 and abs(centre[1] - 41.6) < 1e-9, kind


def test_postcode_map_from_a_user_file_hatches_the_suppressed(boundary_files, monkeypatch):
    _, files = boundary_files
    monkeypatch.setenv(maps.BOUNDARIES_ENV, str(files["geoparquet"]))
    monkeypatch.setenv(maps.BOUNDARY_CODE_ENV, "ZIP")
    source = maps.boundary_source()
    assert source.geography_level == "postcode"
    codes = [f"{6001 + i:05d}" for i in range(6)]
    values = pl.DataFrame(
        {
            "geography_code": codes,
            "value": [3.0, None, 5.0, 8.0, None, 1.0],
            "suppressed": [False, True, False, False, False, False],
        }
    )
    figure = maps.choropleth_figure(values, source.read(), "Postcodes")
    assert maps.drawn_counts(figure) == {
        maps.RATED_LABEL: 4,
        maps.SUPPRESSED_LABEL: 1,
        "hatched": 1,
        maps.NO_DATA_LABEL: 1,
    }
    maps.pyplot().close(figure)
    with pytest.raises(ValueError, match="06099"):
        maps.choropleth_figure(values.with_columns(pl.lit("06099").alias("geography_code")), source.read(), "x")


def test_boundary_file_without_code_property_is_refused(tmp_path):
    with pytest.raises(ValueError, match=maps.BOUNDARY_CODE_ENV):
        maps.boundary_source({maps.BOUNDARIES_ENV: str(tmp_path / "a.geojson")})
    assert maps.boundary_source({}) is None


def test_wkb_matches_duckdb_and_a_big_endian_hand_built_polygon():
    multipolygon = "MULTIPOLYGON(((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 1 2, 2 2, 2 1, 1 1)), ((5 5, 6 5, 6 6, 5 5)))"
    with duckdb.connect() as con:
        wkb = con.execute(f"select st_aswkb('{multipolygon}'::GEOMETRY)").fetchone()[0]
    polygons = maps.parse_wkb(bytes(wkb))
    assert [len(p) for p in polygons] == [2, 1]
    assert polygons[0][1].tolist() == [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]
    assert polygons[1][0].tolist() == [[5, 5], [6, 5], [6, 6], [5, 5]]
    ring = [(30.0, 10.0), (40.0, 40.0), (20.0, 40.0), (30.0, 10.0)]
    # big-endian, ISO Polygon Z (1003): the z values are read and dropped
    big = struct.pack(">BII", 0, 1003, 1) + struct.pack(">I", len(ring))
    big += b"".join(struct.pack(">ddd", x, y, 7.0) for x, y in ring)
    assert maps.parse_wkb(big)[0][0].tolist() == [list(p) for p in ring]
    # EWKB (PostGIS): the Z flag and an SRID before the rings
    ewkb = struct.pack("<BII", 1, _EWKB_POLYGON_Z_SRID, 4326) + struct.pack("<II", 1, len(ring))
    ewkb += b"".join(struct.pack("<ddd", x, y, 7.0) for x, y in ring)
    assert maps.parse_wkb(ewkb)[0][0].tolist() == [list(p) for p in ring]
    with pytest.raises(ValueError, match="type 1"):
        maps.parse_wkb(struct.pack("<BIdd", 1, 1, 0.0, 0.0))
