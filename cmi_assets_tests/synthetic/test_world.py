"""The synthetic world end to end on small worlds: determinism, every landed file valid
against its spec (checked by a small validator written here from the YAML, independent of
cmi_assets.sources), truth coverage of every person slot, the family structures and CP
edge cases the issue lists, and realised identity-noise rates against the profile."""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from cmi_assets.synthetic.noise import noise_rates_for
from cmi_assets.synthetic.profile import load_profile
from cmi_assets.synthetic.world import block_slices, generate_world, plan_world, simulate_world

SMALL_SCALE = 0.003

SPECS = Path(__file__).resolve().parents[2] / "cmi_assets" / "sources" / "specs"


def load_specs() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in SPECS.glob("*.yaml")}


def record_type_for(spec: dict, file_name: str) -> tuple[str, dict] | None:
    for name, rt in spec["record_types"].items():
        if fnmatch.fnmatch(file_name, rt["file_pattern"]):
            return name, rt
    return None


def check_file(path: Path, rt: dict) -> list[str]:
    """Problems found in one file (empty list = valid). Messages name column and rule only."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ["not UTF-8"]
    columns = [c["name"] for c in rt["columns"]]
    header = text.split("\n", 1)[0].split(rt.get("delimiter", ","))
    if header != columns:
        return [f"header {header} != spec {columns}"]
    frame = pl.read_csv(io.StringIO(text), infer_schema=False, separator=rt.get("delimiter", ","))
    if frame.height == 0:
        return ["no rows"]
    problems = []
    default_format = rt.get("date_format", "%Y-%m-%d")
    for col in rt["columns"]:
        name = col["name"]
        values = frame[name]
        present = values.is_not_null() & (values != "")
        if col.get("required") and (~present).any():
            problems.append(f"{name}: required value missing in {int((~present).sum())} rows")
        v = values.filter(present)
        if v.len() == 0:
            continue
        kind = col["type"]
        if kind == "date":
            parsed = v.str.strptime(pl.Date, col.get("date_format", default_format), strict=False)
            if parsed.is_null().any():
                problems.append(f"{name}: {int(parsed.is_null().sum())} values not in format")
        elif kind in ("int", "float"):
            parsed = v.cast(pl.Int64 if kind == "int" else pl.Float64, strict=False)
            if parsed.is_null().any():
                problems.append(f"{name}: {int(parsed.is_null().sum())} values not {kind}")
            if "min" in col and (parsed < col["min"]).any():
                problems.append(f"{name}: below min")
            if "max" in col and (parsed > col["max"]).any():
                problems.append(f"{name}: above max")
            if "codes" in col and not parsed.is_in([int(c) for c in col["codes"]]).all():
                problems.append(f"{name}: code not in list")
        else:
            if "codes" in col:
                codes = [str(c) for c in col["codes"]]
                items = v.str.split(col["multi_codes"]).explode() if "multi_codes" in col else v
                if not items.is_in(codes).all():
                    problems.append(f"{name}: code not in list")
            if "pattern" in col and not v.str.contains(f"^(?:{col['pattern']})$").all():
                problems.append(f"{name}: pattern mismatch")
    if frame.select(rt["key"]).is_duplicated().any():
        problems.append(f"key {rt['key']} not unique")
    return problems


# ---------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    summary = generate_world(out, scale=SMALL_SCALE, seed=11)
    return out, summary


def read_extracts(out: Path, agency: str, glob: str) -> pl.DataFrame:
    files = sorted((out / "landing" / agency).glob(glob))
    return pl.concat([pl.read_csv(f, infer_schema=False) for f in files], how="vertical")


def truth(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / f"{name}.parquet")


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------
# determinism and file validity
# ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a = generate_world(tmp_path / "a", scale=SMALL_SCALE, seed=5)
    b = generate_world(tmp_path / "b", scale=SMALL_SCALE, seed=5)
    c = generate_world(tmp_path / "c", scale=SMALL_SCALE, seed=6)
    ha, hb, hc = (file_hashes(tmp_path / x / "landing") for x in "abc")
    assert ha == hb and len(ha) > 50
    for name in ("persons", "record_persons", "children", "noise_log"):
        assert (
            file_hashes(tmp_path / "a" / "truth")[f"{name}.parquet"]
            == file_hashes(tmp_path / "b" / "truth")[f"{name}.parquet"]
        )
    assert a["rows"] == b["rows"]
    differing = [k for k in ha if k in hc and ha[k] != hc[k]]
    assert len(differing) > 0.9 * len(ha)
    assert c["rows"] != a["rows"]


def test_tiny_worlds_generate(tmp_path):
    """At scale 0.001 the smallest NCANDS states scale below one report: they get no file,
    the rest of the world is still written."""
    summary = generate_world(tmp_path, scale=0.001, seed=1)
    assert summary["births"] > 0 and summary["ncands"]["rows"] > 0
    states = truth(tmp_path, "ncands_states")
    with_files = {p.name.split("_")[2] for p in (tmp_path / "landing" / "child_protection").glob("ncands_child_*.csv")}
    home = states.filter(pl.col("is_home"))["state"].to_list()
    assert set(home) <= with_files < set(states["state"])


def test_blocks_keep_families_whole_and_share_the_cohort_mix():
    plan = plan_world(load_profile(), 0.02, 3)
    used = np.unique(plan.events["mother_index"].to_numpy())
    blocks = block_slices(plan, mothers_per_block=4_000)
    assert len(blocks) == int(np.ceil(used.size / 4_000)) and max(b.size for b in blocks) <= 4_000
    assert np.array_equal(np.sort(np.concatenate(blocks)), used)  # each mother (family) in exactly one block
    # every block spans the mothers' birth years alike (not the oldest mothers in the first block)
    mean_dob = [plan.mothers.dob[b].mean() for b in blocks]
    assert max(mean_dob) - min(mean_dob) < 365


def test_every_landed_file_matches_its_spec(small_world):
    out, summary = small_world
    specs = load_specs()
    seen: dict[tuple[str, str], list[str]] = {}
    for agency, spec in specs.items():
        for path in sorted((out / "landing" / agency).glob("*")):
            match = record_type_for(spec, path.name)
            assert match is not None, f"{path.name} matches no record type of {agency}"
            assert check_file(path, match[1]) == [], path.name
            seen.setdefault((agency, match[0]), []).append(path.name)
    expected = {(a, rt) for a, spec in specs.items() for rt in spec["record_types"]}
    assert set(seen) == expected
    # one history file up to 2009 then one per calendar year 2010..2021
    assert sorted(seen[("child_protection", "notifications")]) == ["cp_notifications_1990-2009.csv"] + [
        f"cp_notifications_{y}.csv" for y in range(2010, 2022)
    ]
    assert "benefits_spells_1993-2009.csv" in seen[("benefits", "spells")]
    assert "corrections_sentences_1995-2009.csv" in seen[("corrections", "sentences")]
    assert "health_maternity_2000-2009.csv" in seen[("health", "maternity")]
    assert seen[("reference", "areas")] == ["reference_areas_2021.csv"]
    assert sum(summary["files"].values()) >= len(expected) + 12 * 11


def test_the_validator_catches_violations(small_world, tmp_path):
    out, _ = small_world
    spec = load_specs()["births"]["record_types"]["registrations"]
    source = out / "landing" / "births" / "births_registrations_2012.csv"
    lines = source.read_text().splitlines()
    fields = lines[1].split(",")
    bad_date, bad_code, dup = list(fields), list(fields), lines[1]
    bad_date[4] = "03/12/2011"  # child_dob in the wrong format
    bad_code[5] = "X"  # child_sex
    broken = tmp_path / "births_registrations_2012.csv"
    broken.write_text("\n".join([lines[0], ",".join(bad_date), ",".join(bad_code), dup, dup]) + "\n")
    problems = " ".join(check_file(broken, spec))
    assert "child_dob" in problems and "child_sex" in problems and "key" in problems


# ---------------------------------------------------------------------------------------
# truth
# ---------------------------------------------------------------------------------------

PRIMARY_SLOTS = {
    ("births", "births_registrations_*.csv", "registrations", ("reg_number",)): ["child", "mother"],
    ("benefits", "benefits_spells_*.csv", "spells", ("spell_id",)): ["client"],
    ("benefits", "benefits_children_*.csv", "children", ("inclusion_id",)): ["client", "child"],
    ("benefits", "benefits_addresses_*.csv", "addresses", ("address_id",)): ["client"],
    ("child_protection", "cp_notifications_*.csv", "notifications", ("notification_id",)): ["child"],
    ("child_protection", "cp_investigations_*.csv", "investigations", ("investigation_id", "abuse_type")): ["child"],
    ("corrections", "corrections_sentences_*.csv", "sentences", ("sentence_id",)): ["offender"],
    ("health", "health_maternity_*.csv", "maternity", ("maternity_id",)): ["mother"],
    ("health", "health_hospitalisations_*.csv", "hospitalisations", ("event_id",)): ["patient"],
    ("health", "health_mental_health_*.csv", "mental_health", ("contact_id",)): ["patient"],
}


def test_truth_covers_every_person_slot_of_every_record(small_world):
    out, _ = small_world
    rp = truth(out, "record_persons")
    persons = truth(out, "persons")
    assert rp["true_person_id"].is_in(persons["true_person_id"].implode()).all()
    assert not rp.select("agency", "record_type", "record_key", "slot").is_duplicated().any()
    for (agency, glob, record_type, key), slots in PRIMARY_SLOTS.items():
        rows = read_extracts(out, agency, glob)
        keys = rows.select(pl.concat_str(list(key), separator="|").alias("record_key"))
        for slot in slots:
            covered = rp.filter(
                (pl.col("agency") == agency) & (pl.col("record_type") == record_type) & (pl.col("slot") == slot)
            )
            assert keys["record_key"].is_in(covered["record_key"].implode()).all(), (agency, record_type, slot)
            assert covered["record_key"].is_in(keys["record_key"].implode()).all(), (agency, record_type, slot)
    # optional slots: a father row exactly where the registration names a father
    births = read_extracts(out, "births", "births_registrations_*.csv")
    fathers = rp.filter((pl.col("record_type") == "registrations") & (pl.col("slot") == "father"))
    named = births.filter(pl.col("father_given_names").is_not_null())["reg_number"]
    assert set(named.to_list()) == set(fathers["record_key"].to_list())
    # the truth is the truth: registered child DOBs match the true DOBs (births noise spares child DOBs almost always)
    child = (
        rp.filter((pl.col("record_type") == "registrations") & (pl.col("slot") == "child"))
        .join(births.select(pl.col("reg_number").alias("record_key"), "child_dob"), on="record_key")
        .join(persons.select("true_person_id", pl.col("dob").cast(pl.String).alias("true_dob")), on="true_person_id")
    )
    assert (child["child_dob"] == child["true_dob"]).mean() > 0.99


def test_children_truth_table_has_the_study_columns(small_world):
    out, _ = small_world
    children = truth(out, "children")
    for column in [
        "true_person_id",
        "dob",
        "birth_year",
        "in_study_population",
        "p_finding_by_age_2",
        "p_finding_by_age_5",
        "true_maltreatment_by_age_2",
        "true_maltreatment_by_age_5",
        "n_findings_by_age_5",
        "n_notifications_by_age_5",
        "parenting_demands",
        "family_violence",
        "single_parent",
        "caregiver_not_birth_parent",
        "caregiver_age",
        "caregiver_time_on_benefit_5y",
        "mental_health_5y",
        "address_changes_last_year",
        "corrections_5y",
        "office",
    ]:
        assert column in children.columns, column
    for age in range(1, 6):
        assert {f"finding_by_age_{age}", f"notification_by_age_{age}"} <= set(children.columns)
    assert children["birth_year"].min() == 2000 and children["birth_year"].max() == 2020
    assert set(children["parenting_demands"].unique()) == {"high", "none", "other"}
    assert set(children["caregiver_age"].unique()) <= {"<20", "20-24", "25-29", "30-34", "35-39", "40+"}
    # findings are a subset of notifications; true maltreatment includes every recorded finding
    seen = children.filter(pl.col("finding_by_age_5").is_not_null())
    assert (seen["finding_by_age_5"] <= seen["notification_by_age_5"]).all()
    assert (seen["finding_by_age_5"] <= seen["true_maltreatment_by_age_5"]).all()
    assert (children["p_finding_by_age_5"] >= children["p_finding_by_age_2"]).all()
    # outcomes not yet observable at the observation end (born after Sep 2016 for age 5) are null
    assert (
        children.filter(pl.col("birth_year") == 2020)["finding_by_age_2"].null_count()
        == children.filter(pl.col("birth_year") == 2020).height
    )


# ---------------------------------------------------------------------------------------
# families and edge cases
# ---------------------------------------------------------------------------------------


def test_family_structures_the_issue_lists(small_world):
    out, _ = small_world
    persons = truth(out, "persons")
    kids = persons.filter(pl.col("is_child"))
    twins = (
        kids.group_by("mother_id", "dob")
        .agg(pl.col("given_name"), pl.col("middle_name"), pl.len().alias("n"))
        .filter(pl.col("n") == 2)
    )
    assert twins.height > 0
    similar = twins.filter(
        pl.col("given_name").list.first().str.slice(0, 1) == pl.col("given_name").list.last().str.slice(0, 1)
    )
    assert similar.height >= 0.5 * twins.height  # look-alike names (same first letter), NZ para 102
    births = read_extracts(out, "births", "births_registrations_*.csv")
    assert births["father_given_names"].null_count() > 0.03 * births.height  # fathers not listed
    assert (births["previous_children_same_parents"].cast(pl.Int64) > 0).any()
    half_siblings = (
        kids.group_by("mother_id").agg(pl.col("father_id").n_unique().alias("fathers")).filter(pl.col("fathers") > 1)
    )
    assert half_siblings.height > 0  # new partners
    inclusions = read_extracts(out, "benefits", "benefits_children_*.csv")
    rel = set(inclusions["relationship"].unique().to_list())
    assert {"PARENT", "GRANDPARENT", "STEP"} <= rel
    # a grandparent client is the child's mother's mother figure, not a birth parent
    rp = truth(out, "record_persons").filter(pl.col("record_type") == "children")
    wide = rp.pivot(on="slot", index="record_key", values="true_person_id")
    wide = wide.join(persons.select(pl.col("true_person_id").alias("child"), "mother_id", "father_id"), on="child")
    not_parent = wide.filter((pl.col("client") != pl.col("mother_id")) & (pl.col("client") != pl.col("father_id")))
    roles = persons.filter(pl.col("true_person_id").is_in(not_parent["client"].implode()))["role"].unique().to_list()
    assert {"grandparent", "step_parent"} <= set(roles)
    # the benefit claim lags the birth (NZ para 153)
    lag = inclusions.select(
        (
            pl.col("claim_date").str.to_date("%d/%m/%Y") - pl.col("child_dob").str.to_date("%d/%m/%Y", strict=False)
        ).dt.total_days()
    )
    assert lag.to_series().drop_nulls().median() > 7


@pytest.fixture(scope="module")
def edge_world(tmp_path_factory):
    """A small world with the rare CP events made common, so each occurs."""
    from cmi_assets.synthetic.world import write_world

    profile = load_profile()
    profile["world"]["outcomes"].update(death_per_finding_under_5=0.05, report_18_plus_share=0.3)
    world = simulate_world(profile, 0.004, 3)
    out = tmp_path_factory.mktemp("edge")
    write_world(world, out)
    return world, out


def test_child_protection_edge_cases_occur(edge_world):
    world, out = edge_world
    notes = read_extracts(out, "child_protection", "cp_notifications_*.csv")
    inv = read_extracts(out, "child_protection", "cp_investigations_*.csv")
    rp = truth(out, "record_persons").filter((pl.col("record_type") == "notifications") & (pl.col("slot") == "child"))
    persons = truth(out, "persons").select("true_person_id", "role", pl.col("dob").alias("true_dob"))
    n = notes.join(
        rp.select(pl.col("record_key").alias("notification_id"), "true_person_id"), on="notification_id"
    ).join(persons, on="true_person_id")
    n = n.with_columns(pl.col("notification_date").str.to_date())
    # police FV notifications and (after July 2010) contact records
    assert (n["source"] == "POLICE_FV").any() and (n["record_kind"] == "FV_CONTACT_RECORD").any()
    assert n.filter(pl.col("record_kind") == "FV_CONTACT_RECORD")["notification_date"].min() >= dt.date(2010, 7, 1)
    # re-reports of the same child inside 14 days
    gaps = n.sort("true_person_id", "notification_date").with_columns(
        (pl.col("notification_date") - pl.col("notification_date").shift(1).over("true_person_id"))
        .dt.total_days()
        .alias("gap")
    )
    assert gaps.filter(pl.col("gap").is_between(1, 14) & (pl.col("source") != "POLICE_FV")).height > 0
    # unborn (prenatal) reports: no DOB, notified before the true birth
    unborn = n.filter(pl.col("notification_date") < pl.col("true_dob"))
    assert unborn.height > 0 and unborn["dob"].null_count() == unborn.height
    # children reported at 18+, and parents' own childhood records
    age = (pl.col("notification_date") - pl.col("true_dob")).dt.total_days() / 365.25
    assert n.filter((pl.col("role") == "child") & (age >= 18)).height > 0
    assert n.filter(pl.col("role").is_in(["mother", "father"]) & (age < 18)).height > 0
    # findings by abuse type incl. behavioural; alternative response without finding
    assert "BEHAVIOURAL" in inv.filter(pl.col("finding") == "SUBSTANTIATED")["abuse_type"].to_list()
    assert inv.filter((pl.col("response") == "ASSESSMENT") & (pl.col("finding") == "NO_FINDING")).height > 0
    # reports disposed after the fiscal year end (started by Sep 30, completed from Oct 1)
    dates = inv.with_columns(pl.col("start_date").str.to_date(), pl.col("completed_date").str.to_date())
    fy = lambda c: pl.col(c).dt.year() + (pl.col(c).dt.month() >= 10).cast(pl.Int32)  # noqa: E731
    assert dates.filter(fy("completed_date") > fy("start_date")).height > 0
    # same-incident duplicates and deaths reach the home state's NCANDS frame
    r = world.reports
    assert (r["origin"] == "same_incident_duplicate").any()
    assert r.filter(pl.col("death")).height > 0


def test_home_reports_frame_for_ncands(edge_world):
    from cmi_assets.reference.names import load_name_pools
    from cmi_assets.synthetic.agencies.child_protection import write_child_protection
    from cmi_assets.synthetic.agencies.common import Context

    world, _ = edge_world
    _, home = write_child_protection(world, Context(world.profile, world.seed, load_name_pools(), world.areas))
    expected = {
        "STATERR": pl.String,
        "RPTID": pl.String,
        "CHID": pl.String,
        "RPTDT": pl.Date,
        "INVDATE": pl.Date,
        "RPTSRC": pl.String,
        "RPTDISP": pl.String,
        "RPTDISDT": pl.Date,
        "CHBDATE": pl.Date,
        "CHSEX": pl.String,
        "CHETHN": pl.String,
        "RPTCNTY": pl.String,
        "CHCNTY": pl.String,
        "MALDEATH": pl.String,
        "INCIDDT": pl.Date,
        "AFCARSID": pl.String,
        "true_person_id": pl.Int64,
    }
    expected |= {f: pl.String for f in ("CHRACAI", "CHRACAS", "CHRACBL", "CHRACNH", "CHRACWH", "CHRACUD")}
    expected |= {f"CHMAL{k}": pl.String for k in range(1, 5)} | {f"MAL{k}LEV": pl.String for k in range(1, 5)}
    assert dict(home.schema) == expected
    assert set(home["RPTDISP"].unique()) <= {"01", "03", "04", "05", "07"}
    assert {"01", "03", "04", "05"} <= set(home["RPTDISP"].unique())
    victims = home.filter(pl.col("RPTDISP") == "01")
    assert (victims.select(pl.any_horizontal([pl.col(f"MAL{k}LEV") == "1" for k in range(1, 5)]))).to_series().all()
    assert (
        home.filter(pl.col("RPTDISP") != "01")
        .select(pl.any_horizontal([pl.col(f"MAL{k}LEV") == "1" for k in range(1, 5)]))
        .to_series()
        .sum()
        == 0
    )
    assert (home["MALDEATH"] == "1").any() and (home["RPTDISDT"] >= home["RPTDT"]).all()
    assert home.select("STATERR", "RPTID", "CHID").is_duplicated().sum() == 0
    assert (home["CHBDATE"] > home["RPTDT"]).any()  # unborn at the report: CHAGE 77 downstream
    dup = home.filter(pl.col("INCIDDT").is_not_null()).group_by("CHID", "INCIDDT").len().filter(pl.col("len") > 1)
    assert dup.height > 0  # duplicate reports of the same incident
    assert (
        home["CHID"].str.contains("^[A-Za-z0-9]{1,12}$").all()
        and home["RPTID"].str.contains("^[A-Za-z0-9]{1,12}$").all()
    )


# ---------------------------------------------------------------------------------------
# identity noise: realised rates against the profile (measured from the extracts, the noise
# log and the truth on a mid-size world)
# ---------------------------------------------------------------------------------------


def within(realised: float, rate: float, n: int, slack: float = 0.1) -> bool:
    """Binomial 4 sigma plus a relative slack (hits where the noise was impossible)."""
    sigma = np.sqrt(max(rate * (1 - rate), 1e-9) / max(n, 1))
    return abs(realised - rate) <= 4 * sigma + slack * rate + 1e-4


@pytest.mark.slow
def test_noise_rates_match_the_profile(tmp_path_factory):
    out = tmp_path_factory.mktemp("mid")
    generate_world(out, scale=0.05, seed=21)
    profile = load_profile()
    cp = noise_rates_for("child_protection", profile)
    persons = truth(out, "persons").select(
        "true_person_id", pl.col("dob").alias("true_dob"), pl.col("sex").alias("true_sex")
    )
    rp = truth(out, "record_persons")
    log = truth(out, "noise_log")

    notes = read_extracts(out, "child_protection", "cp_notifications_*.csv")
    child = rp.filter((pl.col("record_type") == "notifications") & (pl.col("slot") == "child")).select(
        pl.col("record_key").alias("notification_id"), "true_person_id"
    )
    n = (
        notes.join(child, on="notification_id")
        .join(persons, on="true_person_id")
        .with_columns(pl.col("dob").str.to_date())
    )
    born = n.filter(
        pl.col("given_name").is_not_null() | pl.col("dob").is_not_null() | pl.col("age_years").is_not_null()
    )
    total = born.height
    # the four DOB noises are one categorical draw per DOB cell
    missing = born.filter(pl.col("dob").is_null() & pl.col("age_years").is_null()).height / total
    age_only = born.filter(pl.col("dob").is_null() & pl.col("age_years").is_not_null()).height / total
    assert within(missing, cp.dob_missing, total), missing
    assert within(age_only, cp.dob_age_only, total), age_only
    day1 = born.filter(pl.col("true_dob").dt.day() != 1)
    first = day1.filter(pl.col("dob") == pl.col("true_dob").dt.truncate("1mo")).height / day1.height
    assert within(first, cp.dob_first_of_month, day1.height), first
    swappable = born.filter(
        (pl.col("true_dob").dt.day() <= 12) & (pl.col("true_dob").dt.day() != pl.col("true_dob").dt.month())
    )
    swapped = (
        swappable.filter(
            (pl.col("dob").dt.day() == pl.col("true_dob").dt.month())
            & (pl.col("dob").dt.month() == pl.col("true_dob").dt.day())
            & (pl.col("dob").dt.year() == pl.col("true_dob").dt.year())
        ).height
        / swappable.height
    )
    assert within(swapped, cp.dob_day_month_swap, swappable.height), swapped
    unknown_sex = born.filter(pl.col("sex") == "U").height / total
    assert within(unknown_sex, cp.sex_unknown, total), unknown_sex
    # second CP identities: persons with 2+ notifications holding two person IDs
    ids = (
        n.group_by("true_person_id")
        .agg(pl.len().alias("rows"), pl.col("cp_person_id").n_unique().alias("ids"))
        .filter(pl.col("rows") >= 2)
    )
    second = (ids["ids"] > 1).mean()
    assert within(second, cp.second_identity, ids.height, slack=0.15), second

    # name noises from the log, per slot-record where the field exists
    for agency, record_type, slot, field, noise_type, eligible in (
        ("child_protection", "notifications", "child", "given_name", "typo", notes["given_name"].is_not_null().sum()),
        ("benefits", "spells", "client", "surname", "surname_change", None),
        ("corrections", "sentences", "offender", "given_names", "typo", None),
        ("health", "hospitalisations", "patient", "given_name", "typo", None),
    ):
        rate = getattr(noise_rates_for(agency, profile), noise_type)
        hits = (
            log.filter(
                (pl.col("agency") == agency)
                & (pl.col("record_type") == record_type)
                & (pl.col("slot") == slot)
                & (pl.col("field") == field)
                & (pl.col("noise_type") == noise_type)
            )
            .select("record_key")
            .n_unique()
        )
        if eligible is None:
            eligible = rp.filter(
                (pl.col("agency") == agency) & (pl.col("record_type") == record_type) & (pl.col("slot") == slot)
            ).height
        assert within(hits / eligible, rate, int(eligible), slack=0.2), (agency, noise_type, hits / eligible, rate)

    # the remaining name noises, over the rows where each was possible (true names from the truth)
    from cmi_assets.reference.names import load_name_pools

    pools = load_name_pools()
    names = truth(out, "persons").select("true_person_id", "given_name", "middle_name")
    clients = rp.filter(
        (pl.col("agency") == "benefits") & (pl.col("record_type") == "spells") & (pl.col("slot") == "client")
    )
    clients = clients.join(names, on="true_person_id")
    has_nickname = clients["given_name"].map_elements(lambda g: bool(pools.nicknames_of(g)), return_dtype=pl.Boolean)
    benefits = noise_rates_for("benefits", profile)
    for noise_type, eligible, rate in (
        ("nickname", int(has_nickname.sum()), benefits.nickname),
        ("given_middle_swap", int(clients["middle_name"].is_not_null().sum()), benefits.given_middle_swap),
    ):
        hits = (
            log.filter(
                (pl.col("agency") == "benefits")
                & (pl.col("record_type") == "spells")
                & (pl.col("slot") == "client")
                & (pl.col("noise_type") == noise_type)
            )
            .select("record_key")
            .n_unique()
        )
        assert within(hits / eligible, rate, eligible, slack=0.2), (noise_type, hits / eligible, rate)
    informal = (
        log.filter(
            (pl.col("agency") == "child_protection")
            & (pl.col("noise_type") == "informal_name")
            & (pl.col("slot") == "child")
        )
        .select("record_key")
        .n_unique()
    )
    child_rows = rp.filter((pl.col("record_type") == "notifications") & (pl.col("slot") == "child")).height
    assert within(informal / child_rows, cp.informal_name, child_rows, slack=0.2), informal / child_rows
