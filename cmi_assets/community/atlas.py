"""The community atlas: a county choropleth per indicator and linkage level (and a
postcode one where the user supplied boundaries), each with the indicator's definition
and the suppression note, as one self-contained HTML file (PNGs embedded as base64, as
the CFSR and incidence reports do).

    atlas = build_atlas(indicators, definitions, county_boundaries(codes))
    path = write_atlas_html(atlas, out_dir)
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cmi_assets.charts import png_bytes, png_data_uri
from cmi_assets.community.maps import (
    COLOURMAP,
    STRENGTH_COLOURMAP,
    SUPPRESSED_NOTE,
    Boundary,
    choropleth_figure,
    drawn_counts,
    map_values,
)

ATLAS_FILE = "community_atlas.html"
SUPPRESSION_NOTE = (
    "Hatched areas are suppressed: their count is under the publication threshold, or their value is hidden so "
    "that no suppressed count can be worked out from the totals. Hatched areas are never coloured."
)


@dataclass
class AtlasMap:
    indicator: str
    title: str
    linkage_level: str
    geography_level: str
    period: str
    png: bytes
    counts: dict[str, int]
    definition: str = ""
    unit: str = ""
    colourmap: str = COLOURMAP

    @property
    def caption(self) -> str:
        return f"{self.title}, {self.geography_level}, {self.linkage_level.replace('_', ' ')} linkage, {self.period}"

    def image_markdown(self) -> str:
        return f"![{self.caption}]({png_data_uri(self.png)})"


@dataclass
class Atlas:
    maps: list[AtlasMap] = field(default_factory=list)

    def find(self, indicator: str, linkage_level: str, geography_level: str = "county") -> AtlasMap | None:
        return next(
            (
                m
                for m in self.maps
                if (m.indicator, m.linkage_level, m.geography_level) == (indicator, linkage_level, geography_level)
            ),
            None,
        )


def _definitions_by_id(definitions: pl.DataFrame | None) -> dict[str, dict]:
    if definitions is None or definitions.is_empty():
        return {}
    return {row["indicator"]: row for row in definitions.iter_rows(named=True)}


def build_atlas(
    table: pl.DataFrame,
    definitions: pl.DataFrame | None,
    boundaries: Mapping[str, Mapping[str, Boundary]],
    indicators: Sequence[str] | None = None,
    linkage_levels: Sequence[str] | None = None,
) -> Atlas:
    """One map per indicator, linkage level and geography level that `boundaries` holds
    (e.g. {"county": county_boundaries(...), "postcode": read_boundaries(...)}); an
    indicator with no rows at a level (CFSR recurrence is by state) gets no map there."""
    by_id = _definitions_by_id(definitions)
    # the definitions' order (the indicator module's), then any indicator they lack
    present = table["indicator"].unique(maintain_order=True).to_list()
    indicators = list(indicators or [i for i in by_id if i in present] + [i for i in present if i not in by_id])
    linkage_levels = list(linkage_levels or sorted(table["linkage_level"].unique().to_list()))
    atlas = Atlas()
    for indicator in indicators:
        info = by_id.get(indicator, {})
        title = info.get("title") or indicator.replace("_", " ")
        for level in linkage_levels:
            for geography_level, areas in boundaries.items():
                values = map_values(table, indicator, level, geography_level)
                if values.is_empty():
                    continue
                period = values["period"][0]
                colourmap = STRENGTH_COLOURMAP if info.get("strength_based") else COLOURMAP
                figure = choropleth_figure(
                    values,
                    areas,
                    f"{title}\n{geography_level}, {level.replace('_', ' ')} linkage, {period}",
                    value_label=info.get("unit") or "rate per 1,000",
                    colourmap=colourmap,
                )
                counts = drawn_counts(figure)
                atlas.maps.append(
                    AtlasMap(
                        indicator,
                        title,
                        level,
                        geography_level,
                        period,
                        png_bytes(figure),
                        counts,
                        definition=info.get("definition") or "",
                        unit=info.get("unit") or "",
                        colourmap=colourmap,
                    )
                )
    return atlas


def atlas_html(atlas: Atlas) -> str:
    """The atlas as one HTML page: per map its caption, the image, the indicator's unit and
    definition, and the suppression note."""
    body = [
        "<h1>Community indicators: atlas</h1>",
        f"<p>{html.escape(SUPPRESSION_NOTE)}</p>",
        "<p>Boundaries: US Census Bureau cartographic boundary files, drawn offline.</p>",
    ]
    for atlas_map in atlas.maps:
        body += [
            f"<section><h2>{html.escape(atlas_map.caption)}</h2>",
            f"<img src='{png_data_uri(atlas_map.png)}' alt='{html.escape(atlas_map.caption)}'>",
            f"<p><strong>Unit:</strong> {html.escape(atlas_map.unit or 'rate per 1,000')}</p>",
            f"<p><strong>Suppression:</strong> {html.escape(SUPPRESSED_NOTE)}; "
            f"{atlas_map.counts.get('suppressed areas', 0)} of {sum(atlas_map.counts.get(k, 0) for k in ('rated areas', 'suppressed areas', 'areas without data'))} areas suppressed.</p>",
            f"<details><summary>Definition</summary><pre>{html.escape(atlas_map.definition)}</pre></details></section>",
        ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Community atlas</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "pre{white-space:pre-wrap;font-size:85%}</style></head><body>" + "\n".join(body) + "</body></html>"
    )


def write_atlas_html(atlas: Atlas, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ATLAS_FILE
    path.write_text(atlas_html(atlas), encoding="utf-8")
    return path
