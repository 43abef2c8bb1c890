"""Corrections sentence records (spec: corrections.yaml): custodial or community, violent
or not, with the other names an offender is known by."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.agencies.common import (
    Context,
    Output,
    agency_ids,
    days_to_date,
    formatted,
    given_names,
    noisy,
    record_persons,
    with_identity,
)
from cmi_assets.synthetic.noise import PersonColumns

COLUMNS = [
    "sentence_id",
    "offender_id",
    "surname",
    "given_names",
    "date_of_birth",
    "gender",
    "aliases",
    "sentence_type",
    "offence_category",
    "sentence_start",
    "sentence_end",
]


def offender_aliases(persons: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Per offender (a share of them): 'GIVEN SURNAME' entries separated by '|': a nickname
    with the surname, the birth surname, or a made-up surname."""
    rng = ctx.rng("aliases")
    pools = ctx.pools
    n = len(persons)
    has = rng.random(n) < ctx.params["corrections"]["alias_share"]
    given = persons["given_name"].to_list()
    family = persons["family_name"].to_list()
    birth = persons["birth_family_name"].to_list()
    made_up = pools.draw_family(rng, n)
    kind = rng.integers(0, 3, n)
    out = []
    for i in range(n):
        if not has[i]:
            out.append(None)
            continue
        nick = pools.nicknames_of(given[i])
        first = nick[int(rng.integers(0, len(nick)))] if nick and kind[i] == 0 else given[i]
        last = birth[i] if kind[i] == 1 and birth[i] != family[i] else (family[i] if kind[i] == 0 else made_up[i])
        entries = [f"{first} {last}"]
        if rng.random() < 0.2:
            entries.append(f"{given[i]} {made_up[(i + 1) % n]}")
        out.append("|".join(entries))
    return persons.select("true_person_id").with_columns(pl.Series("aliases", out, dtype=pl.String))


def write_corrections(world, ctx: Context) -> list[Output]:
    s = world.sentences.sort("start_day", "person_id")
    ids, _ = agency_ids(
        ctx,
        "corrections",
        s["person_id"].to_numpy(),
        s["start_day"].to_numpy(),
        lambda n: formatted("OF", n, 8),
        "offender_id",
    )
    s = s.with_columns(
        pl.Series("sentence_id", formatted("Q", ctx.take("sentence_id", len(s)), 10)),
        pl.Series("offender_id", np.asarray(ids).astype(str).tolist(), dtype=pl.String),
    )
    offenders = world.persons.join(
        s.select(pl.col("person_id").alias("true_person_id")).unique(), on="true_person_id"
    ).sort("true_person_id")
    s = s.join(offender_aliases(offenders, ctx), left_on="person_id", right_on="true_person_id", how="left")
    s = with_identity(s, world.persons, "person_id", "start_day", "p_")
    frame = s.select(
        "sentence_id",
        "offender_id",
        pl.col("p_family").alias("surname"),
        given_names("p_").alias("given_names"),
        pl.col("p_dob").alias("date_of_birth"),
        pl.col("p_sex").alias("gender"),
        "aliases",
        "sentence_type",
        "offence_category",
        days_to_date(pl.col("start_day")).alias("sentence_start"),
        days_to_date(pl.col("end_day")).alias("sentence_end"),
        pl.col("p_alt_family").alias("_alt"),
    )
    frame, log = noisy(
        ctx,
        "corrections",
        "sentences",
        frame,
        [
            PersonColumns(
                slot="offender",
                given_names="given_names",
                family="surname",
                alt_family="_alt",
                dob="date_of_birth",
                sex="gender",
                unknown_sex_code="X",
            )
        ],
        "sentence_id",
    )
    truth = record_persons("corrections", "sentences", s["sentence_id"], "offender", s["person_id"])
    return [Output("corrections", "sentences", frame.select(COLUMNS), "sentence_start", truth, log)]
