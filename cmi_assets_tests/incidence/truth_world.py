"""A synthetic world linked perfectly (the truth linkage: every record's person is its
true person, person_key = true_person_id), as event tables in an in-memory DuckDB, and the
truth's own answer to "which lists recorded each maltreated child by age 5", derived from
maltreatment_episodes (the generator's record of who recorded each episode), not from the
records. Shared by the incidence tests and benchmarks/bench_incidence.py."""

from __future__ import annotations

import duckdb
import polars as pl

from cmi_assets_tests.cohorts.test_truth_recovery import _date, _key, load_events, truth_events

AGE_5_DAYS = 5 * 365.25


def truth_event_tables(world) -> dict[str, pl.DataFrame]:
    """truth_events of the cohort tests plus the hospital admissions."""
    tables = truth_events(world)
    dob = world.persons.select(pl.col("true_person_id").alias("person_id"), pl.col("dob_day").alias("_dob"))
    tables["hospitalisation"] = world.hospitalisations.join(dob, on="person_id", how="left").select(
        _key("person_id").alias("person_key"),
        _date("admit_day").alias("admit_date"),
        _date("discharge_day").alias("discharge_date"),
        "diagnosis_code",
        "external_cause_code",
        (pl.col("admit_day") - pl.col("_dob")).cast(pl.Int32).alias("age_days"),
    )
    return tables


def truth_connection(world) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_events(con, truth_event_tables(world))
    return con


def load_both_levels(con, world) -> None:
    """The truth linkage's event tables at both linkage levels (the same rows twice)."""
    from cmi_assets.cohorts.events import LINKAGE_LEVELS, create_event_tables

    create_event_tables(con)
    for table, frame in truth_event_tables(world).items():
        for level in LINKAGE_LEVELS:
            con.register("_t", frame.with_columns(pl.lit(level).alias("linkage_level")))
            con.execute(f"insert into events.{table} by name select * from _t")
            con.unregister("_t")


def study_children(world, birth_years: tuple[int, ...]) -> pl.DataFrame:
    """The world's study population of the birth years (true ids as person_key)."""
    return world.children.filter(pl.col("in_study_population") & pl.col("birth_year").is_in(list(birth_years))).select(
        pl.col("true_person_id").cast(pl.String).alias("person_key"), "true_person_id", "birth_year"
    )


def episode_lists(world, children: pl.DataFrame) -> pl.DataFrame:
    """Per child of `children` whom an agency recorded before age 5: which lists did, from
    the episodes truth table (the day each agency first recorded each episode)."""
    dob = world.persons.select("true_person_id", "dob_day")
    e = world.episodes.join(children.select("true_person_id", "person_key"), on="true_person_id").join(
        dob, on="true_person_id"
    )
    by_5 = {
        name: ((pl.col(f"{name}_day") - pl.col("dob_day")).is_between(0, AGE_5_DAYS, closed="left")).fill_null(False)
        for name in ("cp_finding", "cp_notification", "police_fv", "hospital")
    }
    return (
        e.group_by("person_key")
        .agg(
            (by_5["cp_finding"] | by_5["cp_notification"]).any().alias("cp"),
            by_5["police_fv"].any().alias("police_fv"),
            by_5["hospital"].any().alias("hospital"),
        )
        .filter(pl.any_horizontal("cp", "police_fv", "hospital"))
    )


def maltreated_by_5(world, children: pl.DataFrame) -> pl.DataFrame:
    """person_key of every child of `children` with a true episode before age 5."""
    dob = world.persons.select("true_person_id", "dob_day")
    e = world.episodes.join(children.select("true_person_id", "person_key"), on="true_person_id").join(
        dob, on="true_person_id"
    )
    age = pl.col("episode_day") - pl.col("dob_day")
    return e.filter((age >= 0) & (age < AGE_5_DAYS)).select("person_key").unique()
