import datetime as dt

import duckdb
import polars as pl

from cmi_assets.linkage.person_records import build_person_records, slot_name, standardise_person_records
from cmi_assets.sources.spec import PersonSpec, parse_spec


def test_slot_names_from_column_prefixes():
    assert slot_name(PersonSpec(role="adult", given_names="mother_given_names"), 1) == "mother"
    assert slot_name(PersonSpec(role="adult", given_name="caregiver1_given_name"), 1) == "caregiver1"
    assert slot_name(PersonSpec(role="child", given_name="child_first_name"), 0) == "child"
    assert slot_name(PersonSpec(role="adult", given_name="first_name"), 0) == "person"


def test_one_record_per_person_slot(stg_con, mini_world):
    counts = build_person_records(stg_con)
    births = mini_world["stg_births_registrations"]
    by = counts["by_source_role"]
    assert by["births__registrations:child"] == births.height
    # mother always, father only where listed
    assert by["births__registrations:adult"] == births.height + births["father_given_names"].is_not_null().sum()
    assert counts["records"] == mini_world["truth"].height  # every truth slot, nothing more
    refs = stg_con.sql(
        "SELECT count(DISTINCT record_ref), count(DISTINCT unique_id), count(*) FROM linkage.person_records"
    ).fetchone()
    assert refs[0] == refs[1] == refs[2]


def test_standardised_fields(stg_con, mini_world):
    build_person_records(stg_con)
    rec = stg_con.sql("SELECT * FROM linkage.person_records").pl()
    births = mini_world["stg_births_registrations"].row(0, named=True)
    child = rec.filter((pl.col("record_key") == births["reg_number"]) & (pl.col("slot") == "child")).row(0, named=True)
    given, middle = births["child_given_names"].upper().split(" ")[:2]
    assert child["given_name"] == given.replace("'", "").replace("-", " ").split(" ")[0]
    assert child["dob"] == births["child_dob"]
    assert child["birth_year"] == births["child_dob"].year
    assert child["parent1_given"] == births["mother_given_names"].upper().replace("'", "").split(" ")[0].split("-")[0]
    assert child["role"] == "child"
    # CP sex code U is unknown (null), never a third sex
    cp = mini_world["stg_child_protection_notifications"]
    unknown = cp.filter(pl.col("sex") == "U")["notification_id"].to_list()
    if unknown:
        assert rec.filter(pl.col("record_key").is_in(unknown) & (pl.col("slot") == "person"))[
            "sex"
        ].null_count() == len(unknown)


def test_benefit_children_get_caregiver_names_from_spells(stg_con, mini_world):
    """benefits children carry the caregiver's client_id; the caregiver's given name comes
    from the spells records with that client_id (for the conservative rule, NZ para 88)."""
    build_person_records(stg_con)
    rec = stg_con.sql(
        "SELECT record_key, parent1_given FROM linkage.person_records WHERE source_dataset = 'benefits__children'"
    ).pl()
    spells = mini_world["stg_benefits_spells"].select("client_id", pl.col("first_name").str.to_uppercase())
    children = mini_world["stg_benefits_children"].select("inclusion_id", "client_id")
    expected = children.join(spells.group_by("client_id").agg("first_name"), on="client_id")
    joined = rec.join(expected, left_on="record_key", right_on="inclusion_id")
    assert joined.height == children.height
    assert all(p in names for p, names in zip(joined["parent1_given"], joined["first_name"]))


def test_by_age_role_and_estimated_birth_year():
    raw = pl.DataFrame(
        {
            "agency": ["h", "h", "cp"],
            "record_type": ["e", "e", "n"],
            "record_key": ["1", "2", "3"],
            "slot": ["person"] * 3,
            "spec_role": ["by_age", "by_age", "child"],
            "person_id": ["a", "b", "c"],
            "given_raw": ["Ann", "Bo", "Cy"],
            "middle_raw": [None] * 3,
            "family_raw": ["X", "Y", "Z"],
            "dob": [dt.date(2010, 6, 2), dt.date(1980, 1, 1), None],
            "age_years": [None, None, 7],
            "sex_raw": ["F", None, "M"],
            "parent1_given_raw": [None] * 3,
            "parent1_dob": [None] * 3,
            "parent2_given_raw": [None] * 3,
            "parent2_dob": [None] * 3,
            "address_raw": [None] * 3,
            "postcode": ["", "12345", None],
            "event_date": [dt.date(2028, 6, 1), dt.date(2000, 1, 1), dt.date(2015, 3, 1)],
        },
        schema_overrides={"parent1_dob": pl.Date, "parent2_dob": pl.Date, "age_years": pl.Int64},
    )
    out = standardise_person_records(raw).sort("record_key")
    assert out["role"].to_list() == ["child", "adult", "child"]  # 17 (birthday the next day), 20, spec child
    assert out["birth_year"].to_list() == [2010, 1980, 2008]
    assert out["postcode"].to_list() == [None, "12345", None]


def test_a_new_agency_yaml_just_works():
    spec = parse_spec(
        {
            "agency": "education",
            "description": "school enrolments",
            "record_types": {
                "enrolments": {
                    "file_pattern": "edu_*.csv",
                    "key": ["enrol_id"],
                    "columns": [
                        {"name": n, "type": t}
                        for n, t in [
                            ("enrol_id", "string"),
                            ("pupil_names", "string"),
                            ("pupil_surname", "string"),
                            ("pupil_dob", "date"),
                            ("pupil_sex", "string"),
                            ("guardian_given", "string"),
                        ]
                    ],
                    "persons": [
                        {
                            "role": "child",
                            "given_names": "pupil_names",
                            "family_name": "pupil_surname",
                            "dob": "pupil_dob",
                            "sex": "pupil_sex",
                            "sex_map": {"1": "M", "2": "F"},
                            "parent1_given_names": "guardian_given",
                        }
                    ],
                }
            },
        }
    )
    con = duckdb.connect()
    con.execute("CREATE SCHEMA stg")
    con.execute("""CREATE TABLE stg.stg_education_enrolments AS SELECT * FROM (VALUES
        ('E1', 'Amy Rose', 'Lee', DATE '2012-04-05', '2', 'Kim'), ('E2', 'Ben', 'Ng', DATE '2013-01-01', '9', NULL))
        t(enrol_id, pupil_names, pupil_surname, pupil_dob, pupil_sex, guardian_given)""")
    counts = build_person_records(con, specs={"education": spec})
    assert counts["records"] == 2
    rows = con.sql(
        "SELECT record_ref, given_name, middle_name, sex, parent_given_forms FROM linkage.person_records ORDER BY record_ref"
    ).fetchall()
    assert rows[0][:4] == ("education|enrolments|E1|person", "AMY", "ROSE", "F")
    assert "KIM" in rows[0][4]
    assert rows[1][3] is None  # code 9 is outside the map
