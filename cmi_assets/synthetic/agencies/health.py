"""Health extracts (spec: health.yaml): maternity records, hospital admissions (injury,
maltreatment and birth-abnormality codes; mothers' assaults) and mental health / addiction
service contacts. One national health ID per person across the three."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.agencies.common import (
    Context,
    Output,
    agency_ids,
    days_to_date,
    formatted,
    health_id,
    noisy,
    record_persons,
    with_identity,
)
from cmi_assets.synthetic.noise import PersonColumns

MATERNITY_COLUMNS = [
    "maternity_id",
    "mother_health_id",
    "mother_given_name",
    "mother_family_name",
    "mother_dob",
    "baby_dob",
    "plurality",
    "gestation_weeks",
    "smoking_at_booking",
    "postcode",
]
HOSPITAL_COLUMNS = [
    "event_id",
    "health_id",
    "given_name",
    "family_name",
    "dob",
    "sex",
    "admit_date",
    "discharge_date",
    "diagnosis_code",
    "external_cause_code",
]
MH_COLUMNS = [
    "contact_id",
    "health_id",
    "given_name",
    "family_name",
    "dob",
    "sex",
    "contact_date",
    "service_type",
    "diagnosis_group",
]


def write_health(world, ctx: Context) -> list[Output]:
    mat = world.maternity.sort("dob_day", "person_id")
    hosp = world.hospitalisations.sort("admit_day", "person_id", "diagnosis_code")
    mh = world.mental_health.sort("contact_day", "person_id")
    stream = pl.concat(
        [
            mat.select("person_id", pl.col("dob_day").alias("day")),
            hosp.select("person_id", pl.col("admit_day").alias("day")),
            mh.select("person_id", pl.col("contact_day").alias("day")),
        ]
    )
    ids, _ = agency_ids(ctx, "health", stream["person_id"].to_numpy(), stream["day"].to_numpy(), health_id, "health_id")
    parts = np.cumsum([0, len(mat), len(hosp), len(mh)])
    cut = lambda k: pl.Series(np.asarray(ids[parts[k] : parts[k + 1]]).astype(str).tolist(), dtype=pl.String)  # noqa: E731
    outputs = []

    mat = mat.with_columns(
        pl.Series("maternity_id", formatted("M", ctx.take("maternity_id", len(mat)), 10)),
        cut(0).alias("mother_health_id"),
    )
    m = with_identity(mat, world.persons, "person_id", "dob_day", "p_")
    frame = m.select(
        "maternity_id",
        "mother_health_id",
        pl.col("p_given").alias("mother_given_name"),
        pl.col("p_family").alias("mother_family_name"),
        pl.col("p_dob").alias("mother_dob"),
        days_to_date(pl.col("dob_day")).alias("baby_dob"),
        "plurality",
        "gestation_weeks",
        "smoking_at_booking",
        "postcode",
        pl.col("p_alt_family").alias("_alt"),
        pl.col("p_middle").alias("_middle"),
    )
    frame, log = noisy(
        ctx,
        "health",
        "maternity",
        frame,
        [
            PersonColumns(
                slot="mother",
                given="mother_given_name",
                middle="_middle",
                family="mother_family_name",
                alt_family="_alt",
                dob="mother_dob",
            )
        ],
        "maternity_id",
    )
    outputs.append(
        Output(
            "health",
            "maternity",
            frame.select(MATERNITY_COLUMNS),
            "baby_dob",
            record_persons("health", "maternity", mat["maternity_id"], "mother", mat["person_id"]),
            log,
        )
    )

    for name, data, id_name, prefix, day, columns, date_col in (
        ("hospitalisations", hosp, "event_id", "H", "admit_day", HOSPITAL_COLUMNS, "admit_date"),
        ("mental_health", mh, "contact_id", "K", "contact_day", MH_COLUMNS, "contact_date"),
    ):
        k = 1 if name == "hospitalisations" else 2
        data = data.with_columns(
            pl.Series(id_name, formatted(prefix, ctx.take(id_name, len(data)), 10)), cut(k).alias("health_id")
        )
        d = with_identity(data, world.persons, "person_id", day, "p_")
        base = [
            id_name,
            "health_id",
            pl.col("p_given").alias("given_name"),
            pl.col("p_family").alias("family_name"),
            pl.col("p_dob").alias("dob"),
            pl.col("p_sex").alias("sex"),
        ]
        if name == "hospitalisations":
            rest = [
                days_to_date(pl.col("admit_day")).alias("admit_date"),
                days_to_date(pl.col("discharge_day")).alias("discharge_date"),
                "diagnosis_code",
                "external_cause_code",
            ]
        else:
            rest = [days_to_date(pl.col("contact_day")).alias("contact_date"), "service_type", "diagnosis_group"]
        frame = d.select(*base, *rest, pl.col("p_alt_family").alias("_alt"), pl.col("p_middle").alias("_middle"))
        frame, log = noisy(
            ctx,
            "health",
            name,
            frame,
            [
                PersonColumns(
                    slot="patient",
                    given="given_name",
                    middle="_middle",
                    family="family_name",
                    alt_family="_alt",
                    dob="dob",
                    sex="sex",
                )
            ],
            id_name,
        )
        outputs.append(
            Output(
                "health",
                name,
                frame.select(columns),
                date_col,
                record_persons("health", name, data[id_name], "patient", data["person_id"]),
                log,
            )
        )
    return outputs
