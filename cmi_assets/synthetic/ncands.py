"""Synthetic NCANDS Child Files for every state, calibrated to CFSR Round 4.

`write_ncands` writes one Child File per state per submission year (SUBYR = federal FY
of the disposition date RPTDISDT, CFSR R4 rules, section 2.1 step 1) into
`landing/child_protection/ncands_child_<ST>_FY<YYYY>.csv`, in the layout of
sources/specs/child_protection.yaml (record type `ncands_child`, section 6), plus the
truth tables `ncands_states.parquet` and `ncands_record_persons.parquet`.

States are generated one at a time (ncands_histories.py) and written before the next
starts, so memory is bounded by the largest state. The home jurisdiction's rows come
from the world simulator instead; both go through `to_child_file`, which adds the
data-quality noise of section 3 (each noise type in one function below), computes
CHAGE, fills the realism columns and formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cmi_assets.reference.ncands_codes import CHAGE_UNBORN, CHAGE_UNKNOWN, is_victim_record
from cmi_assets.reference.random_streams import component_rng
from cmi_assets.sources.spec import load_spec
from cmi_assets.synthetic.ncands_histories import (
    MAX_CHAGE_YEARS,
    MAX_DISPOSITION_LAG_DAYS,
    REPORT_COLUMNS,
    StateModel,
    base36_strings,
    choice_from,
    fiscal_year_start,
    state_report_rows,
)
from cmi_assets.synthetic.ncands_states import STATE_CODES, build_state_table

AGENCY = "child_protection"
RECORD_TYPE = "ncands_child"
OUT_OF_STATE_COUNTY = "998"
UNKNOWN_COUNTY = "999"
REISSUED_ID_LENGTH = 12  # longer than generated IDs (8), so a re-issued ID never equals one


def child_file_spec():
    return load_spec(AGENCY).record_types[RECORD_TYPE]


def child_file_name(state: str, fiscal_year: int) -> str:
    return f"ncands_child_{state}_FY{fiscal_year}.csv"


def fiscal_year(day: pl.Expr) -> pl.Expr:
    """Federal FY of a date: FY t runs 1 October t-1 to 30 September t."""
    return (day.dt.year() + (day.dt.month() >= 10).cast(pl.Int32)).cast(pl.Int32)


def fiscal_years_of(cfg: Mapping) -> list[int]:
    span = cfg["fiscal_years"]
    return list(range(int(span["first"]), int(span["last"]) + 1))


# --------------------------------------------------------------------------- DQ settings


def dq_settings_by_fiscal_year(cfg: Mapping, entry: Mapping | None) -> dict[int, dict]:
    """The DQ noise rates of each file of one state: the profile's clean defaults, with
    the state's `dq` overrides in its `dq_fiscal_years` (all files when not given)."""
    entry = entry or {}
    override = dict(entry.get("dq") or {})
    only = set(entry.get("dq_fiscal_years") or fiscal_years_of(cfg))
    unknown = sorted(set(override) - set(cfg["dq"]))
    if unknown:
        raise ValueError(f"ncands profile, state {entry.get('state')}: unknown dq settings {unknown}")
    return {fy: {**cfg["dq"], **(override if fy in only else {})} for fy in fiscal_years_of(cfg)}


def _rate(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], key: str) -> np.ndarray:
    """A DQ rate per row, from the row's submission year."""
    mapping = {fy: float(settings[key] or 0.0) for fy, settings in dq_by_fy.items()}
    return frame["SUBYR"].replace_strict(mapping, return_dtype=pl.Float64).to_numpy()


# --------------------------------------------------------------------------- noise, one function each


def reissue_child_ids(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    """Child IDs that change across years (DQ check 1, section 3): a share of children get
    a new ID from some later file on, and a system conversion (`id_reissue_from_fy`)
    gives every child a new ID from that file on."""
    years = sorted(dq_by_fy)
    children = frame.select("CHID").unique().sort("CHID")
    n = children.height
    change = rng.random(n) < dq_by_fy[years[0]]["id_change"]
    change_fy = rng.integers(years[0] + 1, years[-1] + 1, size=n) if len(years) > 1 else np.full(n, years[0] + 1)
    children = children.with_columns(
        pl.Series("change_fy", np.where(change, change_fy, 10_000)),
        pl.Series("changed_id", _random_ids(n, rng)),
        pl.Series("converted_id", _random_ids(n, rng)),
    )
    conversion_fy = next((fy for fy in years if dq_by_fy[fy]["id_reissue_from_fy"] is not None), None)
    conversion_fy = dq_by_fy[conversion_fy]["id_reissue_from_fy"] if conversion_fy is not None else 10_000
    return (
        frame.join(children, on="CHID", how="left", maintain_order="left")
        .with_columns(
            CHID=pl.when(pl.col("SUBYR") >= conversion_fy)
            .then(pl.col("converted_id"))
            .when(pl.col("SUBYR") >= pl.col("change_fy"))
            .then(pl.col("changed_id"))
            .otherwise(pl.col("CHID"))
        )
        .drop("change_fy", "changed_id", "converted_id")
    )


def _random_ids(n: int, rng) -> np.ndarray:
    return base36_strings(rng.integers(0, 2**62, size=n, dtype=np.uint64), REISSUED_ID_LENGTH)


def dob_sex_conflicts(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    """Sex or DOB of a child that differ between files (DQ check 2, section 3): per child
    and file, all its rows in that file carry the error. Sex flips; a DOB moves 4 years
    (so that ChAge jumps by more than 3 or goes backwards) or, under age 1, by 1-60 days."""
    pairs = frame.select("CHID", "SUBYR").unique().sort("CHID", "SUBYR")
    n = pairs.height
    conflict = rng.random(n) < _rate(pairs, dq_by_fy, "dob_sex_conflict")
    pairs = pairs.with_columns(
        pl.Series("conflict", conflict),
        pl.Series("flip_sex", rng.random(n) < 0.6),
        pl.Series("infant_shift_days", rng.integers(1, 61, size=n)),
    )
    age = _age_months(pl.col("CHBDATE"), pl.col("RPTDT"))
    known_sex = pl.col("CHSEX").is_in(["1", "2"])
    born = pl.col("CHBDATE") <= pl.col("RPTDT")
    sex_error = pl.col("conflict") & known_sex & (pl.col("flip_sex") | ~born)
    dob_error = pl.col("conflict") & born & ~sex_error
    shifted_dob = (
        pl.when(age < 12)
        .then(pl.col("CHBDATE") - pl.duration(days=pl.col("infant_shift_days")))
        .when(age + 48 < (MAX_CHAGE_YEARS + 1) * 12)
        .then(pl.col("CHBDATE").dt.offset_by("-4y"))
        .otherwise(pl.col("CHBDATE").dt.offset_by("4y"))
    )
    return (
        frame.join(pairs, on=["CHID", "SUBYR"], how="left", maintain_order="left")
        .with_columns(
            CHSEX=pl.when(sex_error)
            .then(pl.when(pl.col("CHSEX") == "1").then(pl.lit("2")).otherwise(pl.lit("1")))
            .otherwise(pl.col("CHSEX")),
            CHBDATE=pl.when(dob_error).then(shifted_dob).otherwise(pl.col("CHBDATE")),
        )
        .drop("conflict", "flip_sex", "infant_shift_days")
    )


def _age_months(dob: pl.Expr, day: pl.Expr) -> pl.Expr:
    months = (day.dt.year().cast(pl.Int32) - dob.dt.year().cast(pl.Int32)) * 12 + (
        day.dt.month().cast(pl.Int32) - dob.dt.month().cast(pl.Int32)
    )
    return months - (day.dt.day() < dob.dt.day()).cast(pl.Int32)


def age_at_report(frame: pl.DataFrame) -> pl.DataFrame:
    """CHAGE (element #12): whole years from the recorded DOB at RPTDT, 77 when the child
    is not born yet, 99 when there is no DOB."""
    months = _age_months(pl.col("CHBDATE"), pl.col("RPTDT"))
    return frame.with_columns(
        CHAGE=pl.when(pl.col("CHBDATE").is_null())
        .then(pl.lit(CHAGE_UNKNOWN))
        .when(months < 0)
        .then(pl.lit(CHAGE_UNBORN))
        .otherwise(months // 12)
        .cast(pl.Int32)
    )


def missing_ages(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    """Missing age (DQ check 3): CHAGE 99 or blank and no DOB to fill it from."""
    n = frame.height
    missing = rng.random(n) < _rate(frame, dq_by_fy, "missing_age")
    blank = rng.random(n) < _rate(frame, dq_by_fy, "missing_age_blank")
    return frame.with_columns(
        CHAGE=pl.when(pl.Series(missing & blank))
        .then(None)
        .when(pl.Series(missing))
        .then(pl.lit(CHAGE_UNKNOWN))
        .otherwise(pl.col("CHAGE")),
        CHBDATE=pl.when(pl.Series(missing)).then(None).otherwise(pl.col("CHBDATE")),
    )


def missing_dobs(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    """DOB left blank while CHAGE is kept: infants (CHAGE 0, which the rules cannot place
    in an age group, section 2.2) and older children."""
    n = frame.height
    infant = (frame["CHAGE"] == 0).fill_null(False).to_numpy()
    older = frame["CHAGE"].is_between(1, MAX_CHAGE_YEARS).fill_null(False).to_numpy()
    draw = rng.random(n)
    blank = (infant & (draw < _rate(frame, dq_by_fy, "infant_without_dob"))) | (
        older & (draw < _rate(frame, dq_by_fy, "dob_missing"))
    )
    return frame.with_columns(CHBDATE=pl.when(pl.Series(blank)).then(None).otherwise(pl.col("CHBDATE")))


def unknown_sex(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    unknown = rng.random(frame.height) < _rate(frame, dq_by_fy, "sex_unknown")
    return frame.with_columns(CHSEX=pl.when(pl.Series(unknown)).then(pl.lit("9")).otherwise(pl.col("CHSEX")))


def out_of_state_and_unknown_counties(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    """County codes 998 (child lives out of state; a few investigations too) and 999."""
    n = frame.height
    out_of_state = _rate(frame, dq_by_fy, "out_of_state_county")
    unknown = _rate(frame, dq_by_fy, "unknown_county")
    child_draw, report_draw = rng.random(n), rng.random(n)
    return frame.with_columns(
        CHCNTY=pl.when(pl.Series(child_draw < out_of_state))
        .then(pl.lit(OUT_OF_STATE_COUNTY))
        .when(pl.Series(child_draw < out_of_state + unknown))
        .then(pl.lit(UNKNOWN_COUNTY))
        .otherwise(pl.col("CHCNTY")),
        RPTCNTY=pl.when(pl.Series(report_draw < out_of_state / 5))
        .then(pl.lit(OUT_OF_STATE_COUNTY))
        .when(pl.Series(report_draw < out_of_state / 5 + unknown))
        .then(pl.lit(UNKNOWN_COUNTY))
        .otherwise(pl.col("RPTCNTY")),
    )


def unknown_maltreatment_death(frame: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], rng) -> pl.DataFrame:
    """MALDEATH 9 (unknown) instead of 2 (no); a death (1) is never blurred."""
    unknown = rng.random(frame.height) < _rate(frame, dq_by_fy, "maldeath_unknown")
    return frame.with_columns(
        MALDEATH=pl.when(pl.Series(unknown) & (pl.col("MALDEATH") != "1"))
        .then(pl.lit("9"))
        .otherwise(pl.col("MALDEATH"))
    )


# --------------------------------------------------------------------------- realism columns


def first_victimization_days(frame: pl.DataFrame) -> pl.DataFrame:
    """Each child's earliest victim report date (by the state's own, pre-noise Child ID)."""
    return frame.filter(is_victim_record()).group_by("CHID").agg(pl.col("RPTDT").min().alias("first_victim_day"))


def prior_victim(frame: pl.DataFrame, first_victim_days: pl.DataFrame, rng) -> pl.DataFrame:
    """CHPRIOR (element #25): 1 when the child was a victim on an earlier report date,
    else 2; 9 (unknown) for a few."""
    unknown = rng.random(frame.height) < 0.05
    return (
        frame.join(first_victim_days, on="CHID", how="left", maintain_order="left")
        .with_columns(
            CHPRIOR=pl.when(pl.Series(unknown))
            .then(pl.lit("9"))
            .when((pl.col("RPTDT") > pl.col("first_victim_day")).fill_null(False))
            .then(pl.lit("1"))
            .otherwise(pl.lit("2"))
        )
        .drop("first_victim_day")
    )


def fill_realism_columns(frame: pl.DataFrame, reports_cfg: Mapping, rng) -> pl.DataFrame:
    """NOTIFS (per report), CHLVNG and CHMIL (per row) when the input does not carry them."""
    if "NOTIFS" not in frame.columns:
        report_ids = frame.select("RPTID").unique().sort("RPTID")
        report_ids = report_ids.with_columns(
            pl.Series("NOTIFS", choice_from(reports_cfg["notifications"], report_ids.height, rng))
        )
        frame = frame.join(report_ids, on="RPTID", how="left", maintain_order="left")
    n = frame.height
    if "CHLVNG" not in frame.columns:
        frame = frame.with_columns(pl.Series("CHLVNG", choice_from(reports_cfg["living_arrangements"], n, rng)))
    if "CHMIL" not in frame.columns:
        frame = frame.with_columns(pl.Series("CHMIL", choice_from(reports_cfg["military"], n, rng)))
    return frame


# --------------------------------------------------------------------------- the Child File step


def to_child_file(reports: pl.DataFrame, dq_by_fy: Mapping[int, Mapping], reports_cfg: Mapping, rng) -> pl.DataFrame:
    """True report-child rows (the home_reports schema) -> the Child File rows of the files
    in `dq_by_fy`: SUBYR from RPTDISDT, DQ noise, CHAGE, realism columns, formatted as
    text in spec order (dates mmddyyyy, missing = ""), plus `true_person_id` last.

    Rows without a disposition date, outside the files' years, or aged over 21 at the
    report (outside NCANDS's ChAge codes) are not written."""
    missing = [c for c in REPORT_COLUMNS if c not in reports.columns]
    if missing:
        raise ValueError(f"to_child_file: input lacks columns {missing}")
    years = sorted(dq_by_fy)
    first_victim_days = first_victimization_days(reports)  # history before the first file counts
    too_old = _age_months(pl.col("CHBDATE"), pl.col("RPTDT")) >= (MAX_CHAGE_YEARS + 1) * 12
    frame = (
        reports.filter(pl.col("RPTDISDT").is_not_null())
        .with_columns(SUBYR=fiscal_year(pl.col("RPTDISDT")))
        .filter(pl.col("SUBYR").is_between(years[0], years[-1]) & ~too_old.fill_null(False))
        .sort("RPTDT", "RPTID", "CHID")
    )
    frame = prior_victim(frame, first_victim_days, rng)
    frame = dob_sex_conflicts(frame, dq_by_fy, rng)
    frame = reissue_child_ids(frame, dq_by_fy, rng)
    frame = age_at_report(frame)
    frame = missing_ages(frame, dq_by_fy, rng)
    frame = missing_dobs(frame, dq_by_fy, rng)
    frame = unknown_sex(frame, dq_by_fy, rng)
    frame = out_of_state_and_unknown_counties(frame, dq_by_fy, rng)
    frame = unknown_maltreatment_death(frame, dq_by_fy, rng)
    frame = fill_realism_columns(frame, reports_cfg, rng)
    return format_child_file(frame)


def rows_for_child_files(reports: pl.DataFrame, fiscal_years: list[int]) -> pl.DataFrame:
    """The report-child rows `to_child_file` can use for the files of `fiscal_years`: those
    disposed within them, plus each child's first victim record (which sets CHPRIOR of
    later ones, see `first_victimization_days`). The home state's rows cut to these block by
    block (a child's rows are all in one block) give the same Child Files without holding
    its whole report history in memory."""
    in_files = pl.col("RPTDISDT").is_not_null() & fiscal_year(pl.col("RPTDISDT")).is_between(
        fiscal_years[0], fiscal_years[-1]
    )
    first_victim_day = pl.col("RPTDT").filter(is_victim_record()).min().over("CHID")
    return reports.filter(in_files | (is_victim_record() & (pl.col("RPTDT") == first_victim_day)))


def format_child_file(frame: pl.DataFrame) -> pl.DataFrame:
    """Text columns in the spec's order; dates in the spec's format; null stays null
    (written as an empty field)."""
    spec = child_file_spec()
    out = []
    for column in spec.columns:
        if column.type == "date":
            out.append(pl.col(column.name).dt.strftime(column.date_format))
        else:
            out.append(pl.col(column.name).cast(pl.String))
    return frame.select(*out, pl.col("true_person_id").cast(pl.Int64))


# --------------------------------------------------------------------------- writing


class _TruthWriter:
    """Streams ncands_record_persons.parquet one state at a time."""

    schema = pa.schema(
        [
            ("agency", pa.string()),
            ("record_type", pa.string()),
            ("record_key", pa.string()),
            ("slot", pa.string()),
            ("true_person_id", pa.int64()),
        ]
    )

    def __init__(self, path: Path):
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, rows: pl.DataFrame) -> None:
        persons = rows.select(
            pl.lit(AGENCY).alias("agency"),
            pl.lit(RECORD_TYPE).alias("record_type"),
            pl.concat_str("STATERR", "RPTID", "CHID", separator="|").alias("record_key"),
            pl.lit("child").alias("slot"),
            pl.col("true_person_id"),
        )
        self.writer.write_table(persons.to_arrow().cast(self.schema))

    def close(self) -> None:
        self.writer.close()


def write_state_files(rows: pl.DataFrame, folder: Path, state: str) -> dict[int, int]:
    """One CSV per submission year; returns rows written per FY."""
    written = {}
    for (fy,), part in sorted(rows.partition_by("SUBYR", as_dict=True, maintain_order=True).items()):
        part.drop("true_person_id").write_csv(folder / child_file_name(state, int(fy)))
        written[int(fy)] = part.height
    return written


def _state_entries(cfg: Mapping) -> dict[str, dict]:
    return {entry["state"]: entry for entry in cfg["states"]}


def write_ncands(
    landing_dir: Path, truth_dir: Path, profile: dict, scale: float, seed: int, home_reports: pl.DataFrame | None
) -> dict:
    """Write every state's Child Files and the truth tables; see the module docstring.

    `home_reports` (the world simulator's home-jurisdiction rows, truth values) replace
    generation for their state. Returns {"files", "rows", "rows_by_fy"}."""
    cfg = profile["ncands"]
    folder = Path(landing_dir) / AGENCY
    folder.mkdir(parents=True, exist_ok=True)
    Path(truth_dir).mkdir(parents=True, exist_ok=True)
    years = fiscal_years_of(cfg)
    entries = _state_entries(cfg)
    states = build_state_table(cfg, scale, component_rng(seed, "ncands states"))
    home_state = _home_state(home_reports)
    first_day = fiscal_year_start(years[0] - int(cfg["burn_in_years"]))
    # Non-victim reports only matter once they can be disposed inside the first file.
    family_first_day = fiscal_year_start(years[0]) - MAX_DISPOSITION_LAG_DAYS
    last_day = fiscal_year_start(years[-1] + 1) - 1

    truth = _TruthWriter(Path(truth_dir) / "ncands_record_persons.parquet")
    rows_by_fy: dict[int, int] = {fy: 0 for fy in years}
    files = 0
    state_rows = []
    try:
        for row in states.iter_rows(named=True):
            if row["state"] == home_state:
                continue
            entry = entries[row["state"]]
            model = StateModel(
                state=row["state"],
                state_number=row["state_number"],
                size=row["size"],
                state_effect=row["state_effect"],
                expected_rate=row["expected_rate"],
                indicated_share=float(entry.get("indicated_share", cfg["victim_histories"]["indicated_share"])),
            )
            reports = state_report_rows(
                model, cfg, first_day, family_first_day, last_day, component_rng(seed, f"ncands {row['state']}")
            )
            files += _write_state(
                reports, row["state"], cfg, entries.get(row["state"]), folder, truth, seed, rows_by_fy
            )
            state_rows.append({**row, "is_home": False})
        if home_state is not None:
            files += _write_state(
                home_reports, home_state, cfg, entries.get(home_state), folder, truth, seed, rows_by_fy
            )
            state_rows.append(_home_state_row(home_state, home_reports, entries.get(home_state)))
    finally:
        truth.close()
    pl.DataFrame(state_rows, infer_schema_length=None).write_parquet(Path(truth_dir) / "ncands_states.parquet")
    return {"files": files, "rows": sum(rows_by_fy.values()), "rows_by_fy": rows_by_fy}


def _write_state(reports, state, cfg, entry, folder, truth, seed, rows_by_fy) -> int:
    child_file = to_child_file(
        reports, dq_settings_by_fiscal_year(cfg, entry), cfg["reports"], component_rng(seed, f"ncands dq {state}")
    )
    written = write_state_files(child_file, folder, state)
    truth.write(child_file)
    for fy, n in written.items():
        rows_by_fy[fy] += n
    return len(written)


def _home_state(home_reports: pl.DataFrame | None) -> str | None:
    if home_reports is None:
        return None
    states = home_reports["STATERR"].unique().to_list()
    if len(states) != 1:
        raise ValueError(f"home_reports must hold one state, found {len(states)}")
    return states[0]


def _home_state_row(state: str, home_reports: pl.DataFrame, entry: Mapping | None) -> dict:
    return {
        "state": state,
        "state_number": STATE_CODES.index(state) if state in STATE_CODES else None,
        "size_real": None,
        "size": None,
        "state_effect": None,
        "expected_rate": None,
        "dq_scenario": (entry or {}).get("dq_scenario", "clean"),
        "is_home": True,
    }
