"""The area reference table (spec: reference.yaml): postcode -> county FIPS, CP office and
deprivation decile, one file `reference_areas_2021.csv`."""

from __future__ import annotations

import polars as pl

from cmi_assets.synthetic.agencies.common import Output

COLUMNS = ["postcode", "county_fips", "office_code", "deprivation_decile"]
NOISE_LOG = {
    "agency": pl.String,
    "record_type": pl.String,
    "record_key": pl.String,
    "slot": pl.String,
    "field": pl.String,
    "noise_type": pl.String,
}
RECORD_PERSONS = {
    "agency": pl.String,
    "record_type": pl.String,
    "record_key": pl.String,
    "slot": pl.String,
    "true_person_id": pl.Int64,
}


def write_reference(areas: pl.DataFrame) -> Output:
    """Not about persons: no noise, no person slots. Dated 2021-09-30 (the extract date)."""
    frame = areas.select(COLUMNS).with_columns(pl.lit("2021-09-30").str.to_date().alias("_extract_date"))
    return Output(
        "reference",
        "areas",
        frame,
        "_extract_date",
        pl.DataFrame(schema=RECORD_PERSONS),
        pl.DataFrame(schema=NOISE_LOG),
    )
