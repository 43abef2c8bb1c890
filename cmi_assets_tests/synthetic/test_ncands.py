"""Synthetic NCANDS Child Files: layout and code lists (CFSR R4 rules, section 6), file
assignment by disposition FY, every edge case the rules must handle, DQ noise, truth
tables, the home-state path and determinism."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from cmi_assets.synthetic.ncands import (
    age_at_report,
    child_file_name,
    dq_settings_by_fiscal_year,
    reissue_child_ids,
    rows_for_child_files,
    to_child_file,
    write_ncands,
)
from cmi_assets.synthetic.ncands_histories import REPORT_COLUMNS, StateModel, fiscal_year_start, state_report_rows
from cmi_assets.synthetic.profile import load_profile

SPEC_PATH = Path(__file__).parents[2] / "cmi_assets" / "sources" / "specs" / "child_protection.yaml"
DATE_COLUMNS = ("RPTDT", "INVDATE", "RPTDISDT", "CHBDATE", "INCIDDT")
LEVELS = ("MAL1LEV", "MAL2LEV", "MAL3LEV", "MAL4LEV")
SEED = 11
SCALE = 0.3

# Section 6 of cfsr-r4-rules.md, typed in here independently of the spec YAML.
SECTION_6_CODES = {
    "RPTSRC": [f"{i:02d}" for i in range(1, 14)] + ["88", "99"],
    "RPTDISP": ["01", "02", "03", "04", "05", "06", "07", "88", "99"],
    "NOTIFS": ["1", "2", "3", "4", "8", "9"],
    "CHAGE": list(range(0, 22)) + [77, 99],
    "CHSEX": ["1", "2", "9"],
    **{flag: ["1", "2", "3", "9"] for flag in ("CHRACAI", "CHRACAS", "CHRACBL", "CHRACNH", "CHRACWH", "CHRACUD")},
    "CHETHN": ["1", "2", "3", "9"],
    "CHMIL": ["1", "2", "9"],
    "CHPRIOR": ["1", "2", "9"],
    **{f"CHMAL{i}": [str(c) for c in range(1, 10)] for i in range(1, 5)},
    **{level: [str(c) for c in range(1, 9)] + ["88", "99"] for level in LEVELS},
    "MALDEATH": ["1", "2", "9"],
}


def spec_columns() -> list[dict]:
    return yaml.safe_load(SPEC_PATH.read_text())["record_types"]["ncands_child"]["columns"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ncands")
    summary = write_ncands(out / "landing", out / "truth", load_profile("default"), SCALE, SEED, None)
    assert summary["files"] == 16 * 6
    return out


@pytest.fixture(scope="module")
def rows(world) -> pl.DataFrame:
    """Every row of every file as text, with the file's name."""
    frames = [
        pl.read_csv(path, infer_schema=False).with_columns(file=pl.lit(path.name))
        for path in sorted((world / "landing" / "child_protection").glob("*.csv"))
    ]
    return pl.concat(frames)


@pytest.fixture(scope="module")
def typed(rows) -> pl.DataFrame:
    return rows.with_columns(
        *(pl.col(c).str.to_date("%m%d%Y") for c in DATE_COLUMNS),
        pl.col("CHAGE").cast(pl.Int64),
        pl.col("SUBYR").cast(pl.Int64),
        victim=pl.any_horizontal(*(pl.col(c).is_in(["1", "2"]).fill_null(False) for c in LEVELS))
        | (pl.col("MALDEATH") == "1").fill_null(False),
    )


# --------------------------------------------------------------------------- layout and codes


def test_spec_code_lists_equal_section_6():
    by_name = {c["name"]: c for c in spec_columns()}
    for name, codes in SECTION_6_CODES.items():
        spec_codes = by_name[name]["codes"]
        if name == "CHAGE":
            assert sorted(int(c) for c in spec_codes) == sorted(codes)
        else:
            assert sorted(str(c) for c in spec_codes) == sorted(codes), name


def test_files_have_the_spec_columns_in_order(world):
    expected = ",".join(c["name"] for c in spec_columns())
    for path in (world / "landing" / "child_protection").glob("*.csv"):
        assert path.read_text().splitlines()[0] == expected, path.name
        assert re.fullmatch(r"ncands_child_[A-Z]{2}_FY\d{4}\.csv", path.name)


def test_every_value_meets_the_spec(rows):
    for column in spec_columns():
        name = column["name"]
        values = rows[name]
        if column.get("required"):
            assert values.null_count() == 0, name
        present = values.drop_nulls()
        if "codes" in column:
            allowed = {str(c) for c in column["codes"]}
            assert set(present.unique().to_list()) <= allowed, name
            assert set(present.unique().to_list()) <= {str(c) for c in SECTION_6_CODES.get(name, allowed)}, name
        if "pattern" in column:
            assert present.str.contains(f"^(?:{column['pattern']})$").all(), name
        if column["type"] == "date":
            assert present.str.contains(r"^\d{8}$").all(), name
            parsed = present.str.to_date("%m%d%Y", strict=False)
            assert parsed.null_count() == 0, name
        if column["type"] == "int":
            ints = present.cast(pl.Int64)
            if "min" in column:
                assert ints.min() >= column["min"] and ints.max() <= column["max"], name


def test_key_is_unique_within_each_file(rows):
    assert rows.select("file", "STATERR", "RPTID", "CHID").is_duplicated().sum() == 0


def test_submission_year_is_fiscal_year_of_disposition_and_names_the_file(typed):
    fy = typed["RPTDISDT"].dt.year() + (typed["RPTDISDT"].dt.month() >= 10).cast(pl.Int32)
    assert (fy == typed["SUBYR"]).all()
    expected_name = pl.format("ncands_child_{}_FY{}.csv", "STATERR", "SUBYR")
    assert typed.select((expected_name == pl.col("file")).all()).item()
    assert set(typed["SUBYR"].unique().to_list()) == set(range(2016, 2022))


def test_dates_are_consistent(typed):
    assert (typed["RPTDISDT"] >= typed["RPTDT"]).all()
    assert (typed["INVDATE"].drop_nulls() >= typed.filter(pl.col("INVDATE").is_not_null())["RPTDT"]).all()
    assert (
        typed.filter(pl.col("INCIDDT").is_not_null()).select(pl.col("INCIDDT") <= pl.col("RPTDT")).to_series()
    ).all()


def test_report_disposition_agrees_with_maltreatment_levels(typed):
    victim_by_level = pl.any_horizontal(*(pl.col(c).is_in(["1", "2"]).fill_null(False) for c in LEVELS))
    disposition_says_victim = pl.col("RPTDISP").is_in(["01", "02"])
    assert typed.select((victim_by_level == disposition_says_victim).all()).item()
    # AR dispositions carry AR levels, never a finding.
    ar = typed.filter(pl.col("RPTDISP").is_in(["03", "04"]))
    assert ar.height > 0 and not ar["victim"].any()


# --------------------------------------------------------------------------- edge cases


def _victims(typed):
    return typed.filter(pl.col("victim")).sort("STATERR", "CHID", "RPTDT")


def test_rereports_within_14_days_and_same_incident_duplicates_occur(typed):
    v = _victims(typed).with_columns(
        gap=(pl.col("RPTDT") - pl.col("RPTDT").shift(1)).dt.total_days().over("STATERR", "CHID"),
        same_incident=(pl.col("INCIDDT") == pl.col("INCIDDT").shift(1)).over("STATERR", "CHID"),
    )
    assert v.filter(pl.col("gap").is_between(0, 14)).height > 50
    assert v.filter(pl.col("same_incident").fill_null(False) & (pl.col("gap") > 14)).height > 20


def test_reports_disposed_after_the_fiscal_year_land_in_the_next_file(typed):
    report_fy = typed["RPTDT"].dt.year() + (typed["RPTDT"].dt.month() >= 10).cast(pl.Int32)
    late = (report_fy < typed["SUBYR"]).mean()
    assert 0.02 < late < 0.2


def test_age_edge_cases_occur(typed):
    v = typed.filter(pl.col("victim"))
    assert v.filter(pl.col("CHAGE") == 77).height > 0  # unborn
    assert v.filter(pl.col("CHAGE") >= 18).height > 0  # adults
    assert v.filter(pl.col("CHAGE").is_null()).height > 0  # blank age
    assert v.filter(pl.col("CHAGE") == 99).height > 0  # unknown age
    assert v.filter((pl.col("CHAGE") == 0) & pl.col("CHBDATE").is_null()).height > 0  # infants without DOB
    # Unborn means a DOB after the report date where a DOB is given.
    unborn = v.filter((pl.col("CHAGE") == 77) & pl.col("CHBDATE").is_not_null())
    assert (unborn["CHBDATE"] > unborn["RPTDT"]).all()


def test_deaths_ar_indicated_and_several_maltreatments_occur(typed):
    deaths = typed.filter(pl.col("MALDEATH") == "1")
    assert deaths.height > 0
    no_finding = ~pl.any_horizontal(*(pl.col(c).is_in(["1", "2"]).fill_null(False) for c in LEVELS))
    assert deaths.filter(no_finding).height > 0  # victims only through MALDEATH
    assert set(typed["RPTDISP"].unique().to_list()) >= {"01", "02", "03", "04", "05", "07"}
    assert (typed["CHMAL2"].is_not_null().mean()) > 0.1
    assert typed.filter(pl.col("CHMAL4").is_not_null()).height > 0
    assert typed.filter((pl.col("CHMAL1") == "6") & (pl.col("MAL1LEV") == "8")).height > 0


def test_counties_afcars_and_incident_dates(typed):
    assert typed.filter(pl.col("CHCNTY") == "998").height > 0
    assert typed.filter(pl.col("RPTCNTY") == "998").height > 0
    v = typed.filter(pl.col("victim"))
    assert 0.05 < v["AFCARSID"].is_not_null().mean() < 0.3
    assert 0.8 < typed["INCIDDT"].is_not_null().mean() < 0.97


def test_child_ids_change_and_dob_sex_conflict_across_years(world, typed):
    truth = pl.read_parquet(world / "truth" / "ncands_record_persons.parquet")
    keyed = typed.with_columns(record_key=pl.concat_str("STATERR", "RPTID", "CHID", separator="|")).join(
        truth.select("record_key", "true_person_id"), on="record_key"
    )
    assert keyed.height == typed.height
    ids_per_person = keyed.group_by("true_person_id").agg(pl.col("CHID").n_unique().alias("n"))
    assert ids_per_person.filter(pl.col("n") > 1).height > 0
    per_file = keyed.group_by("STATERR", "CHID", "SUBYR").agg(pl.col("CHSEX").first(), pl.col("CHBDATE").first())
    pairs = per_file.join(per_file.with_columns(pl.col("SUBYR") - 1), on=["STATERR", "CHID", "SUBYR"], suffix="_next")
    assert (
        pairs.filter(
            pl.col("CHSEX").is_in(["1", "2"])
            & pl.col("CHSEX_next").is_in(["1", "2"])
            & (pl.col("CHSEX") != pl.col("CHSEX_next"))
        ).height
        > 0
    )
    assert pairs.filter(pl.col("CHBDATE") != pl.col("CHBDATE_next")).height > 0


def test_designed_dq_scenarios_show_in_their_files(typed):
    """KY re-issues every ID in FY2020 (DQ check 1), OK loses ages in FY2020 (check 3),
    MI's FY2020 file disagrees on sex/DOB (check 2); clean states stay under the limits."""

    def victim_ids(state, fy):
        return set(typed.filter((pl.col("STATERR") == state) & (pl.col("SUBYR") == fy) & pl.col("victim"))["CHID"])

    assert not victim_ids("KY", 2019) & victim_ids("KY", 2020)
    assert len(victim_ids("KY", 2018) & victim_ids("KY", 2019)) > 0
    v = typed.filter(pl.col("victim")).with_columns(missing=pl.col("CHAGE").is_null() | (pl.col("CHAGE") == 99))
    ok_2020 = v.filter((pl.col("STATERR") == "OK") & (pl.col("SUBYR") == 2020))["missing"].mean()
    assert ok_2020 > 0.05
    assert v.filter(pl.col("STATERR") != "OK")["missing"].mean() < 0.015  # clean: about 0.6%


# --------------------------------------------------------------------------- truth, determinism


def test_truth_tables(world, rows):
    persons = pl.read_parquet(world / "truth" / "ncands_record_persons.parquet")
    assert persons.height == rows.height
    assert set(persons["agency"].unique()) == {"child_protection"}
    assert set(persons["record_type"].unique()) == {"ncands_child"}
    assert set(persons["slot"].unique()) == {"child"}
    keys = rows.select(pl.concat_str("STATERR", "RPTID", "CHID", separator="|")).to_series()
    assert set(keys) == set(persons["record_key"])
    states = pl.read_parquet(world / "truth" / "ncands_states.parquet")
    assert states.height == 16
    assert set(states.filter(pl.col("dq_scenario") != "clean")["state"]) == {"KY", "OK", "MI"}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.csv")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files_and_other_seed_other_files(tmp_path):
    profile = load_profile("default")
    profile["ncands"]["states"] = [s for s in profile["ncands"]["states"] if s["state"] in ("CT", "KY", "VT")]
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_ncands(tmp_path / name / "landing", tmp_path / name / "truth", profile, 1.0, seed, None)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


# --------------------------------------------------------------------------- the Child File step


def _home_rows() -> pl.DataFrame:
    """Three report-child rows of a home state, truth values (the world simulator's schema)."""
    base = {
        "STATERR": "CT",
        "INVDATE": None,
        "RPTSRC": "04",
        "CHSEX": "2",
        "CHRACAI": "2",
        "CHRACAS": "2",
        "CHRACBL": "1",
        "CHRACNH": "2",
        "CHRACWH": "2",
        "CHRACUD": "2",
        "CHETHN": "2",
        "RPTCNTY": "003",
        "CHCNTY": "003",
        "CHMAL1": "2",
        "CHMAL2": None,
        "MAL2LEV": None,
        "CHMAL3": None,
        "MAL3LEV": None,
        "CHMAL4": None,
        "MAL4LEV": None,
        "MALDEATH": "2",
        "INCIDDT": None,
        "AFCARSID": None,
    }
    rows = [
        # unborn at the report: DOB after RPTDT -> CHAGE 77; disposed in FY2020
        {
            **base,
            "RPTID": "R1",
            "CHID": "C1",
            "RPTDT": dt.date(2019, 11, 1),
            "RPTDISDT": dt.date(2019, 12, 1),
            "CHBDATE": dt.date(2020, 1, 15),
            "RPTDISP": "01",
            "MAL1LEV": "1",
            "true_person_id": 101,
        },
        # 9th birthday the day after the report -> 8; report in FY2019, disposed in FY2020
        {
            **base,
            "RPTID": "R2",
            "CHID": "C2",
            "RPTDT": dt.date(2019, 9, 20),
            "RPTDISDT": dt.date(2019, 10, 5),
            "CHBDATE": dt.date(2010, 9, 21),
            "RPTDISP": "05",
            "MAL1LEV": "5",
            "true_person_id": 102,
        },
        # disposed in FY2022: outside the files, not written
        {
            **base,
            "RPTID": "R3",
            "CHID": "C2",
            "RPTDT": dt.date(2021, 9, 20),
            "RPTDISDT": dt.date(2021, 10, 5),
            "CHBDATE": dt.date(2010, 9, 21),
            "RPTDISP": "05",
            "MAL1LEV": "5",
            "true_person_id": 102,
        },
    ]
    return pl.DataFrame(rows).with_columns(pl.col("INVDATE", "INCIDDT").cast(pl.Date)).select(REPORT_COLUMNS)


def _clean_dq(cfg: dict) -> dict:
    dq = {key: 0.0 for key in cfg["dq"]}
    dq["id_reissue_from_fy"] = None
    return {fy: dict(dq) for fy in range(2016, 2022)}


def test_to_child_file_computes_age_and_submission_year():
    cfg = load_profile("default")["ncands"]
    out = to_child_file(_home_rows(), _clean_dq(cfg), cfg["reports"], np.random.default_rng(0))
    assert out["RPTID"].to_list() == ["R2", "R1"]  # sorted by report date; R3 is after FY2021
    assert out["SUBYR"].to_list() == ["2020", "2020"]
    assert out["CHAGE"].to_list() == ["8", "77"]
    assert out["RPTDT"].to_list() == ["09202019", "11012019"]
    assert out["true_person_id"].to_list() == [102, 101]
    assert out["INVDATE"].to_list() == [None, None]


def test_age_at_report_by_hand():
    frame = pl.DataFrame(
        {
            "CHBDATE": [dt.date(2004, 2, 29), dt.date(2004, 2, 29), None, dt.date(2020, 5, 2)],
            "RPTDT": [dt.date(2022, 2, 28), dt.date(2022, 3, 1), dt.date(2020, 1, 1), dt.date(2020, 5, 1)],
        }
    )
    assert age_at_report(frame)["CHAGE"].to_list() == [17, 18, 99, 77]


def test_id_reissue_from_a_fiscal_year_changes_every_id_from_then_on():
    cfg = load_profile("default")["ncands"]
    dq = _clean_dq(cfg)
    for fy in dq:
        dq[fy]["id_reissue_from_fy"] = 2019
    frame = pl.DataFrame({"CHID": ["A", "A", "B", "B"], "SUBYR": [2018, 2019, 2018, 2020]})
    out = reissue_child_ids(frame, dq, np.random.default_rng(0))
    assert out["CHID"][0] == "A" and out["CHID"][2] == "B"
    assert out["CHID"][1] not in ("A", "B") and out["CHID"][3] not in ("A", "B", out["CHID"][1])


def test_dq_overrides_apply_only_to_their_files():
    cfg = load_profile("default")["ncands"]
    entry = {"state": "XX", "dq_fiscal_years": [2020], "dq": {"missing_age": 0.5}}
    by_fy = dq_settings_by_fiscal_year(cfg, entry)
    assert by_fy[2020]["missing_age"] == 0.5
    assert by_fy[2019]["missing_age"] == cfg["dq"]["missing_age"]
    with pytest.raises(ValueError):
        dq_settings_by_fiscal_year(cfg, {"state": "XX", "dq": {"no_such_rate": 1}})


def test_home_reports_replace_generation_for_their_state(tmp_path):
    profile = load_profile("default")
    profile["ncands"]["states"] = [s for s in profile["ncands"]["states"] if s["state"] in ("CT", "VT")]
    summary = write_ncands(tmp_path / "landing", tmp_path / "truth", profile, 1.0, 5, _home_rows())
    ct_files = sorted((tmp_path / "landing" / "child_protection").glob("ncands_child_CT_*.csv"))
    assert [p.name for p in ct_files] == [child_file_name("CT", 2020)]
    ct = pl.read_csv(ct_files[0], infer_schema=False)
    assert ct.height == 2
    persons = pl.read_parquet(tmp_path / "truth" / "ncands_record_persons.parquet")
    ct_persons = persons.filter(pl.col("record_key").str.starts_with("CT|"))
    assert sorted(ct_persons["true_person_id"].to_list()) == [101, 102]
    states = pl.read_parquet(tmp_path / "truth" / "ncands_states.parquet")
    assert states.filter(pl.col("is_home"))["state"].to_list() == ["CT"]
    assert summary["files"] == 6 + 1  # VT generated for every FY, CT only where it has rows


def test_rows_for_child_files_give_the_same_child_file():
    """The home state's rows are cut block by block to those its files can use (writer.py);
    the Child File must come out the same as from the whole history."""
    cfg = load_profile("default")["ncands"]
    state = StateModel("VT", 45, size=300.0, state_effect=-2.4, expected_rate=0.08, indicated_share=0.1)
    reports = state_report_rows(
        state,
        cfg,
        fiscal_year_start(2008),
        fiscal_year_start(2008),
        fiscal_year_start(2023) - 1,
        np.random.default_rng(3),
    )
    dq = dq_settings_by_fiscal_year(cfg, None)
    kept = rows_for_child_files(reports, list(dq))
    assert 0 < kept.height < reports.height  # reports before FY2016 and after FY2021 exist and go
    whole = to_child_file(reports, dq, cfg["reports"], np.random.default_rng(4))
    cut = to_child_file(kept, dq, cfg["reports"], np.random.default_rng(4))
    assert whole.equals(cut)
    assert (whole["CHPRIOR"] == "1").any()  # earlier victimizations still count
