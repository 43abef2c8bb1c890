"""A small hand-built world for the linkage tests: families (mothers, listed fathers,
children, some twins with look-alike names), agency records in the spec layouts loaded as
staged DuckDB tables, identity noise from the project's noise module at the default
profile's rates, and the truth (record slot -> true person).

It is independent of the linkage code (only the noise/names modules are shared) so the
linkage is measured against truth it could not have seen.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest

from cmi_assets.reference.names import load_name_pools
from cmi_assets.sources.quick_stage import stage_person_extracts
from cmi_assets.synthetic.noise import PersonColumns, apply_identity_noise, assign_agency_ids, noise_rates_for

TEST_U_MAX_PAIRS = 2e5  # u sampling dominates training time on small worlds


def _dates(rng, n, start: dt.date, end: dt.date) -> list[dt.date]:
    days = rng.integers(0, (end - start).days, n)
    return [start + dt.timedelta(days=int(d)) for d in days]


def build_mini_world(n_families: int = 150, seed: int = 7, noise: bool = True) -> dict[str, pl.DataFrame]:
    """Staged tables (by stg table name) and `truth` (agency, record_type, record_key, slot,
    true_person_id)."""
    rng = np.random.default_rng(seed)
    pools = load_name_pools()
    persons = []
    next_id = 1

    def new_person(sex, family, dob, mother=None, father=None, given=None):
        nonlocal next_id
        g = given or pools.draw_given(rng, np.array([sex]))[0]
        m = pools.draw_given(rng, np.array([sex]))[0]
        persons.append(
            dict(pid=next_id, given=g, middle=m, family=family, dob=dob, sex=sex, mother=mother, father=father)
        )
        next_id += 1
        return persons[-1]

    families = []
    for _ in range(n_families):
        family = pools.draw_family(rng, 1)[0]
        mother = new_person(
            "F",
            pools.draw_family(rng, 1)[0] if rng.random() < 0.5 else family,
            _dates(rng, 1, dt.date(1975, 1, 1), dt.date(1995, 1, 1))[0],
        )
        father = (
            new_person("M", family, _dates(rng, 1, dt.date(1970, 1, 1), dt.date(1993, 1, 1))[0])
            if rng.random() < 0.7
            else None
        )
        children = []
        for _ in range(rng.integers(1, 4)):
            dob = _dates(rng, 1, dt.date(2005, 1, 1), dt.date(2016, 1, 1))[0]
            sex = "M" if rng.random() < 0.5 else "F"
            child = new_person(sex, family, dob, mother["pid"], father["pid"] if father else None)
            children.append(child)
            if rng.random() < 0.08:  # twins: same DOB and family, look-alike given name
                twin_name = pools.draw_similar_given(rng, np.array([child["given"]], dtype=object), np.array([sex]))[0]
                children.append(new_person(sex, family, dob, mother["pid"], child["father"], given=twin_name))
        postcode = f"{rng.integers(10000, 99999)}"
        families.append(
            dict(
                mother=mother,
                father=father,
                children=children,
                postcode=postcode,
                address=f"{rng.integers(1, 999)} Main St",
            )
        )

    tables, truth = {}, []
    rates = {a: noise_rates_for(a) for a in ("births", "benefits", "child_protection", "health")}
    if not noise:
        from cmi_assets.synthetic.noise import NoiseRates

        rates = {a: NoiseRates.zero() for a in rates}

    # births: one registration per child
    rows = []
    for f in families:
        for c in f["children"]:
            key = f"B{len(rows) + 1:09d}"
            father = f["father"]
            rows.append(
                dict(
                    reg_number=key,
                    reg_date=c["dob"] + dt.timedelta(days=30),
                    child_given_names=f"{c['given']} {c['middle']}",
                    child_family_name=c["family"],
                    child_dob=c["dob"],
                    child_sex=c["sex"],
                    mother_given_names=f"{f['mother']['given']} {f['mother']['middle']}",
                    mother_family_name=f["mother"]["family"],
                    mother_dob=f["mother"]["dob"],
                    father_given_names=f"{father['given']} {father['middle']}" if father else None,
                    father_family_name=father["family"] if father else None,
                    father_dob=father["dob"] if father else None,
                    address_line=f["address"],
                    postcode=f["postcode"],
                )
            )
            truth += [
                ("births", "registrations", key, "child", c["pid"]),
                ("births", "registrations", key, "mother", f["mother"]["pid"]),
            ]
            if father:
                truth.append(("births", "registrations", key, "father", father["pid"]))
    births = pl.DataFrame(rows)
    births, _ = apply_identity_noise(
        births,
        [
            PersonColumns(
                "child", given_names="child_given_names", family="child_family_name", dob="child_dob", sex="child_sex"
            ),
            PersonColumns("mother", given_names="mother_given_names", family="mother_family_name", dob="mother_dob"),
            PersonColumns("father", given_names="father_given_names", family="father_family_name", dob="father_dob"),
        ],
        rates["births"],
        rng,
        pools,
        key="reg_number",
        agency="births",
        record_type="registrations",
    )
    tables["stg_births_registrations"] = births

    # benefits: spells for half the mothers, children included on the mother's benefit
    spells, inclusions = [], []
    on_benefit = [f for f in families if rng.random() < 0.5]
    for i, f in enumerate(on_benefit):
        m = f["mother"]
        client_id = f"{100000000 + i:09d}"
        for _ in range(rng.integers(1, 4)):
            key = f"S{len(spells) + 1:010d}"
            spells.append(
                dict(
                    spell_id=key,
                    client_id=client_id,
                    first_name=m["given"],
                    middle_name=m["middle"],
                    surname=m["family"],
                    date_of_birth=m["dob"],
                    gender="F",
                    spell_start=_dates(rng, 1, dt.date(2005, 1, 1), dt.date(2020, 1, 1))[0],
                )
            )
            truth.append(("benefits", "spells", key, "person", m["pid"]))
        for c in f["children"]:
            key = f"C{len(inclusions) + 1:010d}"
            inclusions.append(
                dict(
                    inclusion_id=key,
                    client_id=client_id,
                    child_client_id=f"{500000000 + c['pid']:09d}",
                    child_first_name=c["given"],
                    child_middle_name=c["middle"],
                    child_surname=c["family"],
                    child_dob=c["dob"],
                    child_gender=c["sex"],
                    inclusion_start=c["dob"] + dt.timedelta(days=60),
                )
            )
            truth.append(("benefits", "children", key, "child", c["pid"]))
    spells_df, _ = apply_identity_noise(
        pl.DataFrame(spells),
        [PersonColumns("person", given="first_name", middle="middle_name", family="surname", dob="date_of_birth")],
        rates["benefits"],
        rng,
        pools,
        key="spell_id",
        agency="benefits",
        record_type="spells",
    )
    incl_df, _ = apply_identity_noise(
        pl.DataFrame(inclusions),
        [
            PersonColumns(
                "child", given="child_first_name", middle="child_middle_name", family="child_surname", dob="child_dob"
            )
        ],
        rates["benefits"],
        rng,
        pools,
        key="inclusion_id",
        agency="benefits",
        record_type="children",
    )
    tables["stg_benefits_spells"] = spells_df
    tables["stg_benefits_children"] = incl_df

    # child protection: notifications for a third of the children, caregiver = mother
    notes = []
    for f in families:
        for c in f["children"]:
            if rng.random() < 0.35:
                for d in _dates(rng, int(rng.integers(1, 4)), c["dob"] + dt.timedelta(days=30), dt.date(2021, 6, 1)):
                    key = f"N{len(notes) + 1:010d}"
                    m = f["mother"]
                    notes.append(
                        dict(
                            notification_id=key,
                            true_pid=c["pid"],
                            given_name=c["given"],
                            family_name=c["family"],
                            dob=c["dob"],
                            age_years=None,
                            sex=c["sex"],
                            notification_date=d,
                            caregiver1_given_name=m["given"],
                            caregiver1_family_name=m["family"],
                            caregiver1_dob=m["dob"],
                            caregiver2_given_name=f["father"]["given"] if f["father"] else None,
                            address_line=f["address"],
                            postcode=f["postcode"],
                        )
                    )
                    truth += [
                        ("child_protection", "notifications", key, "person", c["pid"]),
                        ("child_protection", "notifications", key, "caregiver1", m["pid"]),
                    ]
    notes_df = pl.DataFrame(notes, schema_overrides={"age_years": pl.Int64})
    ids, _ = assign_agency_ids(
        notes_df["true_pid"].to_numpy(),
        notes_df["notification_date"].to_numpy(),
        rates["child_protection"].second_identity,
        rng,
        lambda k: np.array([f"P{x:09d}" for x in k], dtype=object),
    )
    notes_df = notes_df.with_columns(pl.Series("cp_person_id", ids, dtype=pl.String)).drop("true_pid")
    notes_df, _ = apply_identity_noise(
        notes_df,
        [
            PersonColumns(
                "child",
                given="given_name",
                family="family_name",
                dob="dob",
                age_years="age_years",
                event_date="notification_date",
                sex="sex",
            ),
            PersonColumns(
                "caregiver1", given="caregiver1_given_name", family="caregiver1_family_name", dob="caregiver1_dob"
            ),
        ],
        rates["child_protection"],
        rng,
        pools,
        key="notification_id",
        agency="child_protection",
        record_type="notifications",
    )
    tables["stg_child_protection_notifications"] = notes_df

    # health: hospitalisations of some children and mothers, one national health ID each
    events = []
    for f in families:
        for p in [f["mother"], *f["children"]]:
            if rng.random() < 0.3:
                for d in _dates(
                    rng,
                    int(rng.integers(1, 3)),
                    max(p["dob"], dt.date(2005, 1, 1)) + dt.timedelta(days=1),
                    dt.date(2021, 6, 1),
                ):
                    key = f"H{len(events) + 1:010d}"
                    events.append(
                        dict(
                            event_id=key,
                            health_id=f"ABC{p['pid']:04d}",
                            given_name=p["given"],
                            family_name=p["family"],
                            dob=p["dob"],
                            sex=p["sex"],
                            admit_date=d,
                        )
                    )
                    truth.append(("health", "hospitalisations", key, "person", p["pid"]))
    events_df, _ = apply_identity_noise(
        pl.DataFrame(events),
        [PersonColumns("person", given="given_name", family="family_name", dob="dob", sex="sex")],
        rates["health"],
        rng,
        pools,
        key="event_id",
        agency="health",
        record_type="hospitalisations",
    )
    tables["stg_health_hospitalisations"] = events_df
    tables["truth"] = pl.DataFrame(
        truth, schema=["agency", "record_type", "record_key", "slot", "true_person_id"], orient="row"
    )
    tables["persons"] = pl.DataFrame(persons).select("pid", "sex", "dob")
    return tables


def load_stg(con: duckdb.DuckDBPyConnection, world: dict[str, pl.DataFrame]) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS stg")
    for name, frame in world.items():
        if name.startswith("stg_"):
            con.register("_frame", frame)
            con.execute(f"CREATE OR REPLACE TABLE stg.{name} AS SELECT * FROM _frame")
            con.unregister("_frame")


@pytest.fixture(scope="session")
def mini_world() -> dict[str, pl.DataFrame]:
    return build_mini_world()


@pytest.fixture
def stg_con(mini_world):
    con = duckdb.connect()
    load_stg(con, mini_world)
    yield con
    con.close()


@pytest.fixture(scope="session")
def linked_mini(mini_world):
    """The mini world linked once (records, model, pairs, links, clusters, spine): read-only
    for the tests that use it."""
    from cmi_assets.linkage.person_records import build_person_records
    from cmi_assets.linkage.spine import link_persons
    from cmi_assets.linkage.train import train_model

    con = duckdb.connect()
    load_stg(con, mini_world)
    build_person_records(con)
    artefact = train_model(con, seed=3, u_max_pairs=TEST_U_MAX_PAIRS)
    summary = link_persons(con, artefact, b"test-secret")
    yield {"con": con, "artefact": artefact, "summary": summary, "world": mini_world}
    con.close()


load_world_stg = stage_person_extracts  # one loader, in cmi_assets.sources.quick_stage


@pytest.fixture(scope="session")
def generated_world(tmp_path_factory):
    """A small world from the project's generator (skipped while it is unavailable)."""
    world = pytest.importorskip("cmi_assets.synthetic.world")
    out = tmp_path_factory.mktemp("world")
    world.generate_world(out, profile="default", scale=GENERATED_WORLD_SCALE, seed=11)
    return out


GENERATED_WORLD_SCALE = 0.002


@pytest.fixture(scope="session")
def stg_loader():
    """load_stg, for tests that build their own connection."""
    return load_stg


@pytest.fixture(scope="session")
def world_stg_loader():
    return load_world_stg
