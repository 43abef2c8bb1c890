"""Child-protection extracts of the home jurisdiction (spec: child_protection.yaml):
notifications (incl. police FV referrals and contact records) with caregivers, and the
investigations / assessments with findings by abuse type; plus the home state's
report-child frame handed to ncands.py (CFSR R4 rules, section 6)."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from cmi_assets.synthetic.agencies.common import (
    Context,
    Output,
    address_lines,
    agency_ids,
    days_to_date,
    formatted,
    noisy,
    record_persons,
    with_identity,
)
from cmi_assets.synthetic.dates import MISSING_DAY
from cmi_assets.synthetic.noise import PersonColumns

NOTIFICATION_COLUMNS = [
    "notification_id",
    "cp_person_id",
    "given_name",
    "family_name",
    "dob",
    "age_years",
    "sex",
    "notification_date",
    "source",
    "record_kind",
    "further_action",
    "office_code",
    "caregiver1_given_name",
    "caregiver1_family_name",
    "caregiver1_dob",
    "caregiver2_given_name",
    "caregiver2_family_name",
    "address_line",
    "postcode",
]
INVESTIGATION_COLUMNS = [
    "investigation_id",
    "notification_id",
    "cp_person_id",
    "response",
    "start_date",
    "completed_date",
    "abuse_type",
    "finding",
]

# NCANDS code maps (CFSR R4 rules, section 6)
REPORT_SOURCE = {
    "SOCIAL_SERVICES": "01",
    "HEALTH": "02",
    "POLICE": "04",
    "POLICE_FV": "04",
    "EDUCATION": "05",
    "FAMILY": "10",
    "COMMUNITY": "11",
    "ANONYMOUS": "13",
    "OTHER": "88",
}
MALTREATMENT_TYPE = {"PHYSICAL": "1", "NEGLECT": "2", "SEXUAL": "4", "EMOTIONAL": "5", "BEHAVIOURAL": "8", "NONE": "6"}
RACE_FLAGS = {"CHRACAI": "AIAN", "CHRACAS": "ASIAN", "CHRACBL": "BLACK", "CHRACNH": "NHPI", "CHRACWH": "WHITE"}


def notifications_frame(world, ctx: Context) -> pl.DataFrame:
    """Reports with names as of the notification, caregivers, office and postcode."""
    r = world.reports.sort("notification_day", "report_id")
    home = world.persons.select(pl.col("true_person_id").alias("person_id"), "home_postcode")
    r = r.join(home, on="person_id", how="left").with_columns(
        pl.coalesce("birth_postcode", "home_postcode").alias("postcode")
    )
    r = r.join(ctx.areas.select("postcode", "office_code", "county_fips"), on="postcode", how="left")
    r = with_identity(r, world.persons, "person_id", "notification_day", "c_")
    r = with_identity(r, world.persons, "caregiver1_id", "notification_day", "g1_")
    r = with_identity(r, world.persons, "caregiver2_id", "notification_day", "g2_")
    return r


def write_child_protection(world, ctx: Context) -> tuple[list[Output], pl.DataFrame]:
    r = notifications_frame(world, ctx)
    ids, _ = agency_ids(
        ctx,
        "child_protection",
        r["person_id"].to_numpy(),
        r["notification_day"].to_numpy(),
        lambda n: formatted("P", n, 9),
        "cp_person_id",
    )
    r = r.with_columns(
        pl.Series("notification_id", formatted("N", ctx.take("notification_id", len(r)), 10)),
        pl.Series("cp_person_id", np.asarray(ids).astype(str).tolist(), dtype=pl.String),
    )
    unborn = pl.col("unborn")
    frame = r.select(
        "notification_id",
        "cp_person_id",
        pl.when(unborn).then(None).otherwise(pl.col("c_given")).alias("given_name"),
        pl.when(unborn).then(pl.col("g1_family")).otherwise(pl.col("c_family")).alias("family_name"),
        pl.when(unborn).then(None).otherwise(pl.col("c_dob")).alias("dob"),
        pl.lit(None, dtype=pl.Int64).alias("age_years"),
        pl.when(unborn).then(pl.lit("U")).otherwise(pl.col("c_sex")).alias("sex"),
        days_to_date(pl.col("notification_day")).alias("notification_date"),
        "source",
        "record_kind",
        "further_action",
        pl.col("office_code").fill_null("O01"),
        pl.col("g1_given").alias("caregiver1_given_name"),
        pl.col("g1_family").alias("caregiver1_family_name"),
        pl.col("g1_dob").alias("caregiver1_dob"),
        pl.col("g2_given").alias("caregiver2_given_name"),
        pl.col("g2_family").alias("caregiver2_family_name"),
        pl.Series("address_line", address_lines(ctx, len(r), "cp"), dtype=pl.String).alias("address_line"),
        "postcode",
        pl.coalesce("c_alt_family", "g1_family").alias("_child_alt"),
        pl.col("g1_middle").alias("_g1_middle"),
    )
    frame = frame.with_columns(
        pl.when(pl.col("caregiver1_given_name").is_null())
        .then(None)
        .otherwise(pl.col("address_line"))
        .alias("address_line")
    )
    frame, log = noisy(
        ctx,
        "child_protection",
        "notifications",
        frame,
        [
            PersonColumns(
                slot="child",
                given="given_name",
                family="family_name",
                alt_family="_child_alt",
                dob="dob",
                age_years="age_years",
                event_date="notification_date",
                sex="sex",
            ),
            PersonColumns(
                slot="caregiver1",
                given="caregiver1_given_name",
                middle="_g1_middle",
                family="caregiver1_family_name",
                dob="caregiver1_dob",
            ),
            PersonColumns(slot="caregiver2", given="caregiver2_given_name", family="caregiver2_family_name"),
        ],
        "notification_id",
    )
    truth_n = pl.concat(
        [
            record_persons("child_protection", "notifications", r["notification_id"], "child", r["person_id"]),
            record_persons("child_protection", "notifications", r["notification_id"], "caregiver1", r["caregiver1_id"]),
            record_persons("child_protection", "notifications", r["notification_id"], "caregiver2", r["caregiver2_id"]),
        ]
    )

    # the few columns needed first: filtering and sorting the wide frame (three persons' identities) copied all of it
    inv = r.select(
        "report_id",
        "notification_id",
        "cp_person_id",
        "person_id",
        "response",
        "start_day",
        "completed_day",
        "further_action",
    )
    inv = inv.filter((pl.col("further_action") == "Y") & (pl.col("start_day") != MISSING_DAY)).sort(
        "start_day", "report_id"
    )
    inv = inv.with_columns(pl.Series("investigation_id", formatted("V", ctx.take("investigation_id", len(inv)), 10)))
    rows = (
        inv.select(
            "report_id",
            "investigation_id",
            "notification_id",
            "cp_person_id",
            "person_id",
            "response",
            "start_day",
            "completed_day",
        )
        .join(world.findings, on="report_id", how="inner")
        .sort("start_day", "investigation_id", "abuse_type")
    )
    inv_frame = rows.select(
        "investigation_id",
        "notification_id",
        "cp_person_id",
        "response",
        days_to_date(pl.col("start_day")).alias("start_date"),
        days_to_date(pl.col("completed_day")).alias("completed_date"),
        "abuse_type",
        "finding",
    )
    keys = rows.select(pl.concat_str(["investigation_id", "abuse_type"], separator="|")).to_series()
    truth_i = record_persons("child_protection", "investigations", keys, "child", rows["person_id"])
    outputs = [
        Output(
            "child_protection", "notifications", frame.select(NOTIFICATION_COLUMNS), "notification_date", truth_n, log
        ),
        Output(
            "child_protection",
            "investigations",
            inv_frame.select(INVESTIGATION_COLUMNS),
            "start_date",
            truth_i,
            log.clear(),
        ),
    ]
    return outputs, home_reports(r, rows, world, ctx)


def encrypted_child_id(cp_person_ids: pl.Series, seed: int) -> pl.Series:
    """A stable keyed pseudonym of the CP person ID (NCANDS ChID, <= 12 characters)."""
    key = f"chid:{seed}".encode()
    return pl.Series(
        [hashlib.blake2b(v.encode(), key=key, digest_size=5).hexdigest().upper() for v in cp_person_ids.to_list()],
        dtype=pl.String,
    )


def home_reports(notifications: pl.DataFrame, rows: pl.DataFrame, world, ctx: Context) -> pl.DataFrame:
    """One row per disposed (investigated) report and child for ncands.py: truth values, no
    DQ noise (CFSR R4 rules, section 6 codes)."""
    done = rows.filter(pl.col("completed_day") != MISSING_DAY)
    level = (
        pl.when(pl.col("finding") == "SUBSTANTIATED")
        .then(pl.lit("1"))
        .when(pl.col("response") == "ASSESSMENT")
        .then(pl.when(pl.col("abuse_type") == "NONE").then(pl.lit("4")).otherwise(pl.lit("3")))
        .when(pl.col("finding") == "NOT_SUBSTANTIATED")
        .then(pl.lit("5"))
        .otherwise(pl.lit("7"))
    )
    done = done.with_columns(level.alias("lev"), pl.col("abuse_type").replace_strict(MALTREATMENT_TYPE).alias("mal"))
    rank = {"1": 0, "3": 1, "4": 2, "5": 3, "7": 4}
    done = done.with_columns(pl.col("lev").replace_strict(rank, return_dtype=pl.Int64).alias("_rank")).sort(
        "report_id", "_rank", "mal"
    )
    per = done.group_by("report_id", maintain_order=True).agg(
        pl.col("mal").head(4), pl.col("lev").head(4), pl.min("_rank").alias("best")
    )
    disp = {0: "01", 1: "03", 2: "04", 3: "05", 4: "07"}
    base = notifications.select(
        "report_id",
        "notification_id",
        "cp_person_id",
        "person_id",
        "notification_day",
        "start_day",
        "completed_day",
        "incident_day",
        "source",
        "death",
        "office_code",
        "county_fips",
        "postcode",
    )
    out = base.join(per, on="report_id", how="inner")
    cnty = ctx.areas.select("postcode", pl.col("county_fips").alias("CHCNTY"))
    office_cnty = ctx.areas.group_by("office_code").agg(pl.col("county_fips").first().alias("RPTCNTY"))
    out = out.join(cnty, on="postcode", how="left").join(office_cnty, on="office_code", how="left")
    persons = world.persons.select(pl.col("true_person_id").alias("person_id"), "dob_day", "sex", "ethnicity")
    out = out.join(persons, on="person_id", how="left").sort("report_id")
    victim = pl.col("best") == 0
    afcars = ctx.rng("afcars").random(len(out)) < ctx.params["cp_edge_cases"]["afcars_share_of_victims"]
    exprs = [
        pl.lit(ctx.params["jurisdiction"]["state"]).alias("STATERR"),
        pl.col("notification_id").alias("RPTID"),
        encrypted_child_id(out["cp_person_id"], ctx.seed).alias("CHID"),
        days_to_date(pl.col("notification_day")).alias("RPTDT"),
        days_to_date(pl.col("start_day")).alias("INVDATE"),
        pl.col("source").replace_strict(REPORT_SOURCE).alias("RPTSRC"),
        pl.col("best").replace_strict(disp, return_dtype=pl.String).alias("RPTDISP"),
        days_to_date(pl.col("completed_day")).alias("RPTDISDT"),
        days_to_date(pl.col("dob_day")).alias("CHBDATE"),
        pl.when(pl.col("sex") == "M").then(pl.lit("1")).otherwise(pl.lit("2")).alias("CHSEX"),
        *[
            pl.when(pl.col("ethnicity").str.contains(code)).then(pl.lit("1")).otherwise(pl.lit("2")).alias(flag)
            for flag, code in RACE_FLAGS.items()
        ],
        pl.when(pl.col("ethnicity").str.contains("AIAN|ASIAN|BLACK|NHPI|WHITE"))
        .then(pl.lit("2"))
        .otherwise(pl.lit("1"))
        .alias("CHRACUD"),
        pl.when(pl.col("ethnicity").str.contains("HISPANIC")).then(pl.lit("1")).otherwise(pl.lit("2")).alias("CHETHN"),
        "RPTCNTY",
        "CHCNTY",
        *[pl.col("mal").list.get(k, null_on_oob=True).alias(f"CHMAL{k + 1}") for k in range(4)],
        *[pl.col("lev").list.get(k, null_on_oob=True).alias(f"MAL{k + 1}LEV") for k in range(4)],
        pl.when(pl.col("death")).then(pl.lit("1")).otherwise(pl.lit("2")).alias("MALDEATH"),
        days_to_date(pl.col("incident_day")).alias("INCIDDT"),
        pl.when(victim & pl.Series(afcars))
        .then(pl.concat_str([pl.lit("AF"), pl.col("person_id").cast(pl.String)]))
        .alias("AFCARSID"),
        pl.col("person_id").alias("true_person_id"),
    ]
    return out.select(exprs)
