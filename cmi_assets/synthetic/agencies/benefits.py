"""Benefit extracts (spec: sources/specs/benefits.yaml): spells with types, incapacity
codes and partners; children included in a caregiver's benefit (claims weeks after the
birth, payments backdated: NZ para 153); the client's address history."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.agencies.common import (
    Context,
    Output,
    agency_ids,
    days_to_date,
    formatted,
    noisy,
    record_persons,
    with_identity,
)
from cmi_assets.synthetic.dates import MISSING_DAY, day_number
from cmi_assets.synthetic.noise import PersonColumns

SPELL_COLUMNS = [
    "spell_id",
    "client_id",
    "first_name",
    "middle_name",
    "surname",
    "date_of_birth",
    "gender",
    "benefit_type",
    "spell_start",
    "spell_end",
    "incapacity_code",
    "partner_client_id",
]
CHILD_COLUMNS = [
    "inclusion_id",
    "client_id",
    "child_client_id",
    "child_first_name",
    "child_middle_name",
    "child_surname",
    "child_dob",
    "child_gender",
    "relationship",
    "inclusion_start",
    "inclusion_end",
    "claim_date",
]
ADDRESS_COLUMNS = ["address_id", "client_id", "address_line", "postcode", "effective_from"]


def inclusions(world, ctx: Context) -> pl.DataFrame:
    """Child inclusion rows with the end of the caregiver's spell (or the 18th birthday)."""
    start = day_number(ctx.params["timeline"]["data_start"]["benefits"])
    end = day_number(ctx.params["timeline"]["observation_end"])
    inc = world.births.filter(
        pl.col("benefit_included") & pl.col("claim_day").is_between(start, end) & (pl.col("caregiver_id") >= 0)
    )
    inc = inc.select(
        "child_id", "caregiver_id", "caregiver_relationship", "dob_day", "inclusion_start_day", "claim_day"
    ).sort("inclusion_start_day")
    sp = world.spells.select(
        pl.col("person_id").alias("caregiver_id"),
        pl.col("start_day").alias("inclusion_start_day"),
        pl.col("end_day").alias("spell_end"),
    ).sort("inclusion_start_day")
    inc = inc.join_asof(sp, on="inclusion_start_day", by="caregiver_id", strategy="backward", check_sortedness=False)
    adult = pl.col("dob_day") + 6574
    stop = (
        pl.when(pl.col("spell_end").is_null() | (pl.col("spell_end") == MISSING_DAY))
        .then(pl.when(adult <= end).then(adult).otherwise(MISSING_DAY))
        .otherwise(pl.min_horizontal("spell_end", adult))
    )
    return (
        inc.with_columns(
            pl.max_horizontal("inclusion_start_day", pl.lit(start)).alias("inclusion_start_day"),
            pl.max_horizontal(stop, pl.col("inclusion_start_day")).alias("inclusion_end_day"),
        )
        .with_columns(
            pl.when(pl.col("inclusion_end_day") > end)
            .then(MISSING_DAY)
            .otherwise(pl.col("inclusion_end_day"))
            .alias("inclusion_end_day")
        )
        .sort("claim_day", "child_id")
    )


def write_benefits(world, ctx: Context) -> list[Output]:
    end = day_number(ctx.params["timeline"]["observation_end"])
    spells = world.spells.filter(pl.col("start_day") <= end).sort("start_day", "person_id")
    inc = inclusions(world, ctx)
    addrs = world.addresses.filter(pl.col("effective_day") <= end).sort("effective_day", "person_id")

    # one client-ID stream over every row that names a person, in time order
    stream = pl.concat(
        [
            spells.select(pl.col("person_id"), pl.col("start_day").alias("day")),
            spells.filter(pl.col("partner_id").is_not_null()).select(
                pl.col("partner_id").alias("person_id"), pl.col("start_day").alias("day")
            ),
            inc.select(pl.col("caregiver_id").alias("person_id"), pl.col("claim_day").alias("day")),
            inc.select(pl.col("child_id").alias("person_id"), pl.col("claim_day").alias("day")),
            addrs.select("person_id", pl.col("effective_day").alias("day")),
        ]
    )
    ids, _ = agency_ids(
        ctx,
        "benefits",
        stream["person_id"].to_numpy(),
        stream["day"].to_numpy(),
        lambda n: formatted("", n, 9),
        "client_id",
    )
    parts = np.cumsum([0, len(spells), spells["partner_id"].is_not_null().sum(), len(inc), len(inc), len(addrs)])
    cut = lambda k: pl.Series(np.asarray(ids[parts[k] : parts[k + 1]]).astype(str).tolist(), dtype=pl.String)  # noqa: E731

    spells = spells.with_columns(
        pl.Series("spell_id", formatted("S", ctx.take("spell_id", len(spells)), 10)), cut(0).alias("client_id")
    )
    partner_ids = np.full(len(spells), None, dtype=object)
    partner_ids[np.flatnonzero(spells["partner_id"].is_not_null().to_numpy())] = cut(1).to_numpy()
    spells = spells.with_columns(pl.Series("partner_client_id", partner_ids.tolist(), dtype=pl.String))
    s = with_identity(spells, world.persons, "person_id", "start_day", "p_")
    spell_frame = s.select(
        "spell_id",
        "client_id",
        pl.col("p_given").alias("first_name"),
        pl.col("p_middle").alias("middle_name"),
        pl.col("p_family").alias("surname"),
        pl.col("p_dob").alias("date_of_birth"),
        pl.col("p_sex").alias("gender"),
        "benefit_type",
        days_to_date(pl.col("start_day")).alias("spell_start"),
        days_to_date(pl.col("end_day")).alias("spell_end"),
        "incapacity_code",
        "partner_client_id",
        pl.col("p_alt_family").alias("_alt"),
    )
    spell_frame, spell_log = noisy(
        ctx,
        "benefits",
        "spells",
        spell_frame,
        [
            PersonColumns(
                slot="client",
                given="first_name",
                middle="middle_name",
                family="surname",
                alt_family="_alt",
                dob="date_of_birth",
            )
        ],
        "spell_id",
    )
    spell_truth = pl.concat(
        [
            record_persons("benefits", "spells", spells["spell_id"], "client", spells["person_id"]),
            record_persons("benefits", "spells", spells["spell_id"], "partner", spells["partner_id"]),
        ]
    )

    inc = inc.with_columns(
        pl.Series("inclusion_id", formatted("C", ctx.take("inclusion_id", len(inc)), 10)),
        cut(2).alias("client_id"),
        cut(3).alias("child_client_id"),
    )
    c = with_identity(inc, world.persons, "child_id", "claim_day", "c_")
    child_frame = c.select(
        "inclusion_id",
        "client_id",
        "child_client_id",
        pl.col("c_given").alias("child_first_name"),
        pl.col("c_middle").alias("child_middle_name"),
        pl.col("c_family").alias("child_surname"),
        pl.col("c_dob").alias("child_dob"),
        pl.col("c_sex").alias("child_gender"),
        pl.col("caregiver_relationship").alias("relationship"),
        days_to_date(pl.col("inclusion_start_day")).alias("inclusion_start"),
        days_to_date(pl.col("inclusion_end_day")).alias("inclusion_end"),
        days_to_date(pl.col("claim_day")).alias("claim_date"),
    )
    child_frame, child_log = noisy(
        ctx,
        "benefits",
        "children",
        child_frame,
        [
            PersonColumns(
                slot="child",
                given="child_first_name",
                middle="child_middle_name",
                family="child_surname",
                dob="child_dob",
            )
        ],
        "inclusion_id",
    )
    child_truth = pl.concat(
        [
            record_persons("benefits", "children", inc["inclusion_id"], "client", inc["caregiver_id"]),
            record_persons("benefits", "children", inc["inclusion_id"], "child", inc["child_id"]),
        ]
    )

    addrs = addrs.with_columns(
        pl.Series("address_id", formatted("A", ctx.take("address_id", len(addrs)), 10)), cut(4).alias("client_id")
    )
    addr_frame = addrs.select(
        "address_id",
        "client_id",
        "address_line",
        "postcode",
        days_to_date(pl.col("effective_day")).alias("effective_from"),
    )
    addr_truth = record_persons("benefits", "addresses", addrs["address_id"], "client", addrs["person_id"])
    empty_log = spell_log.clear()
    return [
        Output("benefits", "spells", spell_frame.select(SPELL_COLUMNS), "spell_start", spell_truth, spell_log),
        Output("benefits", "children", child_frame.select(CHILD_COLUMNS), "claim_date", child_truth, child_log),
        Output("benefits", "addresses", addr_frame.select(ADDRESS_COLUMNS), "effective_from", addr_truth, empty_log),
    ]
