"""Drill-downs: the group of each child (hand-checked rows), counts per state and pooled,
DQ states, overlapping maltreatment types and small-cell suppression."""

from __future__ import annotations

import polars as pl
import pytest

from cmi_assets.cfsr.drilldown import (
    county,
    denominator_children,
    drilldown_table,
    initial_report_records,
    maltreatment_types,
    observed_by_group,
    race_ethnicity,
    sex,
)

RACE = ["CHRACAI", "CHRACAS", "CHRACBL", "CHRACNH", "CHRACWH", "CHRACUD"]


def _race_row(ethnicity: str, *yes: str) -> dict:
    return {"CHETHN": ethnicity, **{flag: ("1" if flag in yes else "2") for flag in RACE}}


def test_race_ethnicity_groups_of_section_2_3():
    rows = pl.DataFrame(
        [
            _race_row("1", "CHRACWH"),  # Hispanic of any race
            _race_row("2", "CHRACWH"),
            _race_row("2", "CHRACBL", "CHRACWH"),
            _race_row("9"),  # no race flagged
            _race_row("2", "CHRACUD"),  # unable to determine
            _race_row("2", "CHRACAI"),
            _race_row("2", "CHRACNH"),
            _race_row("3", "CHRACAS"),  # ethnicity undetermined: race decides
        ]
    )
    assert rows.select(race_ethnicity())["race_ethnicity"].to_list() == [
        "hispanic",
        "white",
        "two_or_more",
        "missing",
        "missing",
        "aian",
        "nhpi",
        "asian",
    ]


def test_sex_and_county_codes():
    frame = pl.DataFrame({"CHSEX": ["1", "2", "9", None], "RPTCNTY": ["001", "998", "999", None]})
    out = frame.select(sex(), county())
    assert out["sex"].to_list() == ["male", "female", "unknown", "unknown"]
    assert out["county"].to_list() == ["001", "out of state", "unknown", "unknown"]


def test_maltreatment_types_are_the_substantiated_or_indicated_ones():
    frame = pl.DataFrame(
        {
            "CHMAL1": ["2", "1", "1"],
            "MAL1LEV": ["1", "2", "5"],
            "CHMAL2": ["4", "4", None],
            "MAL2LEV": ["5", "1", None],
            "CHMAL3": [None, None, None],
            "MAL3LEV": [None, None, None],
            "CHMAL4": [None, None, None],
            "MAL4LEV": [None, None, None],
        }
    )
    assert frame.select(maltreatment_types())["maltreatment_type"].to_list() == [
        ["neglect or deprivation"],  # the sexual abuse allegation was unsubstantiated
        ["physical abuse", "sexual abuse"],
        ["death, no finding"],  # a victim by MALDEATH only
    ]


def _children(rows: list[tuple[str, str, int, int]]) -> pl.DataFrame:
    """(state, group, children, of whom recurring) -> one row per child."""
    out = []
    for state, group, n, recurring in rows:
        out += [{"state": state, "sex": group, "recur": i < recurring} for i in range(n)]
    return pl.DataFrame(out)


def test_counts_dq_states_and_suppression_by_hand():
    children = _children([("AA", "female", 12, 3), ("AA", "male", 5, 1), ("BB", "female", 20, 10)])
    dq = pl.DataFrame({"state": ["AA", "BB"], "dq_status": ["pass", "DQ"]})
    table = observed_by_group(children, "sex", dq)
    rows = {(r["state"], r["group"]): r for r in table.iter_rows(named=True)}
    assert rows[("AA", "female")] == {
        "state": "AA",
        "dimension": "sex",
        "group": "female",
        "denominator": 12,
        "numerator": 3,
        "observed": 0.25,
        "suppressed": False,
        "dq_status": "pass",
    }
    # 5 children < 11: no numerator, no rate
    assert rows[("AA", "male")]["denominator"] == 5
    assert rows[("AA", "male")]["numerator"] is None and rows[("AA", "male")]["observed"] is None
    assert rows[("AA", "male")]["suppressed"]
    # DQ state: counts, no observed value
    assert rows[("BB", "female")]["numerator"] == 10 and rows[("BB", "female")]["observed"] is None
    # pooled over DQ-passing states only
    assert rows[("national", "female")]["denominator"] == 12 and rows[("national", "female")]["observed"] == 0.25
    assert rows[("national", "male")]["suppressed"]


def test_threshold_is_eleven_children():
    dq = pl.DataFrame({"state": ["AA"], "dq_status": ["pass"]})
    table = observed_by_group(_children([("AA", "female", 11, 2), ("AA", "male", 10, 2)]), "sex", dq)
    shown = dict(table.filter(pl.col("state") == "AA").select("group", "suppressed").iter_rows())
    assert shown == {"female": False, "male": True}


def test_a_child_with_two_types_counts_in_both_groups():
    children = pl.DataFrame(
        {
            "state": ["AA"] * 12,
            "recur": [True] + [False] * 11,
            "maltreatment_type": [["neglect or deprivation", "physical abuse"]] + [["neglect or deprivation"]] * 11,
        }
    )
    table = observed_by_group(children, "maltreatment_type", pl.DataFrame({"state": ["AA"], "dq_status": ["pass"]}))
    aa = {
        r["group"]: (r["denominator"], r["numerator"])
        for r in table.filter(pl.col("state") == "AA").iter_rows(named=True)
    }
    assert aa == {"neglect or deprivation": (12, 1), "physical abuse": (1, None)}


def test_unknown_dimension_is_an_error():
    with pytest.raises(ValueError):
        observed_by_group(_children([("AA", "female", 1, 0)]), "income", pl.DataFrame({"state": [], "dq_status": []}))


def _record(subyr: int, rptid: str, chid: str, county_code: str, **codes) -> dict:
    base = {
        "SUBYR": subyr,
        "STATERR": "AA",
        "RPTID": rptid,
        "CHID": chid,
        "RPTCNTY": county_code,
        "CHSEX": "2",
        "CHETHN": "2",
        **{flag: "2" for flag in RACE},
        "CHRACWH": "1",
        "MALDEATH": "2",
        **{f"CHMAL{i}": None for i in range(1, 5)},
        **{f"MAL{i}LEV": None for i in range(1, 5)},
        "CHMAL1": "2",
        "MAL1LEV": "1",
    }
    return base | codes


def test_children_get_the_attributes_of_their_initial_report_from_the_later_file():
    file_t = pl.DataFrame([_record(2019, "R1", "C1", "001"), _record(2019, "R2", "C2", "003")])
    # R1/C1 re-submitted in file t+1 with a corrected county: the later submission wins.
    file_t1 = pl.DataFrame([_record(2020, "R1", "C1", "005"), _record(2020, "R3", "C1", "007")])
    audit = pl.DataFrame(
        {
            "STATERR": ["AA", "AA"],
            "CHID": ["C1", "C2"],
            "initial_rptid": ["R1", "R2"],
            "in_denominator": [True, False],
            "recur": [True, False],
            "age_group": ["1-5 y", "17 y"],
        }
    )
    children = denominator_children(audit, initial_report_records(file_t, file_t1))
    assert children.to_dicts() == [
        {
            "state": "AA",
            "recur": True,
            "age_group": "1-5 y",
            "race_ethnicity": "white",
            "sex": "female",
            "county": "005",
            "maltreatment_type": ["neglect or deprivation"],
        }
    ]
    assert not {"CHID", "RPTID", "initial_rptid"} & set(children.columns)


def test_drilldown_table_stacks_every_dimension():
    children = _children([("AA", "female", 12, 3)]).with_columns(
        age_group=pl.lit("1-5 y"),
        race_ethnicity=pl.lit("white"),
        county=pl.lit("001"),
        maltreatment_type=pl.lit(["neglect or deprivation"]),
    )
    table = drilldown_table(children, pl.DataFrame({"state": ["AA"], "dq_status": ["pass"]}))
    assert sorted(table["dimension"].unique()) == ["age_group", "county", "maltreatment_type", "race_ethnicity", "sex"]
    assert table.filter(pl.col("state") == "AA")["denominator"].to_list() == [12] * 5
