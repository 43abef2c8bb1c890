"""Birth registrations (spec: sources/specs/births.yaml): the child, the mother (with her
birth family name), the father when listed, the registration date (some late, some
never: NZ section 11) and previous children of the same parents."""

from __future__ import annotations

import polars as pl

from cmi_assets.synthetic.agencies.common import (
    Context,
    Output,
    address_lines,
    days_to_date,
    formatted,
    given_names,
    noisy,
    record_persons,
    with_identity,
)
from cmi_assets.synthetic.dates import MISSING_DAY, day_number
from cmi_assets.synthetic.noise import PersonColumns

COLUMNS = [
    "reg_number",
    "reg_date",
    "child_given_names",
    "child_family_name",
    "child_dob",
    "child_sex",
    "birth_weight_g",
    "gestation_weeks",
    "plurality",
    "ethnicity",
    "mother_given_names",
    "mother_family_name",
    "mother_birth_family_name",
    "mother_dob",
    "father_given_names",
    "father_family_name",
    "father_dob",
    "previous_children_same_parents",
    "address_line",
    "postcode",
]


def registrations(world, ctx: Context) -> Output:
    start = day_number(ctx.params["timeline"]["data_start"]["births"])
    b = world.births.filter((pl.col("reg_day") != MISSING_DAY) & (pl.col("dob_day") >= start)).sort(
        "reg_day", "child_id"
    )
    b = b.with_columns(pl.Series("reg_number", formatted("B", ctx.take("reg_number", len(b)), 9)))
    b = with_identity(b, world.persons, "child_id", "dob_day", "c_")
    b = with_identity(b, world.persons, "mother_id", "dob_day", "m_")
    b = with_identity(b, world.persons, "father_id", "dob_day", "f_")
    eth = world.persons.select(pl.col("true_person_id").alias("child_id"), "ethnicity")
    b = b.join(eth, on="child_id", how="left")
    frame = b.select(
        "reg_number",
        days_to_date(pl.col("reg_day")).alias("reg_date"),
        given_names("c_").alias("child_given_names"),
        pl.col("c_family").alias("child_family_name"),
        pl.col("c_dob").alias("child_dob"),
        pl.col("sex").alias("child_sex"),
        "birth_weight_g",
        "gestation_weeks",
        "plurality",
        "ethnicity",
        given_names("m_").alias("mother_given_names"),
        pl.col("m_family").alias("mother_family_name"),
        pl.col("m_alt_family").fill_null(pl.col("m_family")).alias("mother_birth_family_name"),
        pl.col("m_dob").alias("mother_dob"),
        pl.when(pl.col("father_listed")).then(given_names("f_")).alias("father_given_names"),
        pl.when(pl.col("father_listed")).then(pl.col("f_family")).alias("father_family_name"),
        pl.when(pl.col("father_listed")).then(pl.col("f_dob")).alias("father_dob"),
        "previous_children_same_parents",
        pl.Series("address_line", address_lines(ctx, len(b), "births"), dtype=pl.String),
        pl.col("birth_postcode").alias("postcode"),
        pl.col("m_alt_family").alias("_mother_alt"),
    )
    # the birth family name column holds the mother's maiden name: true, not noise
    frame = frame.with_columns(
        pl.when(pl.col("mother_family_name") == pl.col("mother_birth_family_name"))
        .then(None)
        .otherwise(pl.col("mother_birth_family_name"))
        .alias("mother_birth_family_name")
    )
    slots = [
        PersonColumns(
            slot="child",
            given_names="child_given_names",
            family="child_family_name",
            dob="child_dob",
            sex="child_sex",
            unknown_sex_code="I",
        ),
        PersonColumns(
            slot="mother",
            given_names="mother_given_names",
            family="mother_family_name",
            alt_family="_mother_alt",
            dob="mother_dob",
        ),
        PersonColumns(slot="father", given_names="father_given_names", family="father_family_name", dob="father_dob"),
    ]
    frame, log = noisy(ctx, "births", "registrations", frame, slots, "reg_number")
    truth = pl.concat(
        [
            record_persons("births", "registrations", b["reg_number"], "child", b["child_id"]),
            record_persons("births", "registrations", b["reg_number"], "mother", b["mother_id"]),
            record_persons(
                "births",
                "registrations",
                b["reg_number"],
                "father",
                b.select(pl.when(pl.col("father_listed")).then(pl.col("father_id"))).to_series(),
            ),
        ]
    )
    return Output("births", "registrations", frame.select(COLUMNS), "reg_date", truth, log)


def write_births(world, ctx: Context) -> list[Output]:
    return [registrations(world, ctx)]
