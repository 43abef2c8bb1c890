"""Adults' administrative histories: benefit spells (with incapacity codes and partners),
benefit address history, Corrections sentences, substance / mental health conditions and
service contacts, and the parents' own childhood child-protection records (NZ study,
Box 1 parent markers and para 50)."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.dates import MISSING_DAY, day_number, year_of, year_start, years_to_days
from cmi_assets.synthetic.families import expit
from cmi_assets.synthetic.population import draw_postcode_in_decile

STREET_TYPES = np.array(["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Way"])
BENEFIT_PRIORITY = {"IB": 0, "SB": 1, "SPB": 2, "UB": 3, "OTH": 4}


def draw_conditions(adults: pl.DataFrame, params: dict, rng: np.random.Generator) -> pl.DataFrame:
    """Substance use and other mental health conditions per adult: onset and end days
    (MISSING_DAY when the adult has none). They drive incapacity benefits (Box 1 footnote
    10) and mental health service contacts."""
    ben = params["benefits"]
    n = len(adults)
    z = adults["z"].to_numpy()
    male = adults["sex"].to_numpy() == "M"
    dob = adults["dob_day"].to_numpy()
    out = {"true_person_id": adults["true_person_id"].to_numpy()}
    for name, logit, zc, extra in (
        ("substance", ben["substance_logit"], ben["substance_z"], ben["substance_male"] * male),
        ("mental_health", ben["mental_health_logit"], ben["mental_health_z"], 0.0),
    ):
        has = rng.random(n) < expit(logit + zc * z + extra)
        onset = dob + years_to_days(rng.uniform(*ben["condition_onset_age"], n))
        end = onset + years_to_days(rng.uniform(*ben["condition_years"], n))
        out[f"{name}_onset_day"] = np.where(has, onset, MISSING_DAY)
        out[f"{name}_end_day"] = np.where(has, end, MISSING_DAY)
    return pl.DataFrame(out)


def _active_in_year(onset: np.ndarray, end: np.ndarray, year: int) -> np.ndarray:
    start, stop = year_start(year), year_start(year + 1)
    return (onset != MISSING_DAY) & (onset < stop) & (end >= start)


def draw_background_benefit_spells(
    adults: pl.DataFrame, conditions: pl.DataFrame, params: dict, rng: np.random.Generator
) -> pl.DataFrame:
    """A yearly on/off Markov chain per adult from age 16 (benefit data from 1993) driven by
    z and active conditions; runs of on-years become spells. Incapacity spells carry SUB
    (substance use, prioritised) or MH."""
    ben = params["benefits"]
    first_year = int(params["timeline"]["data_start"]["benefits"][:4])
    end_day = day_number(params["timeline"]["observation_end"])
    last_year = int(year_of(np.array([end_day]))[0])
    years = np.arange(first_year, last_year + 1)
    n, n_y = len(adults), years.size
    z = adults["z"].to_numpy()
    age_16 = adults["dob_day"].to_numpy() + years_to_days(ben["start_age"])
    sub_on, sub_end = conditions["substance_onset_day"].to_numpy(), conditions["substance_end_day"].to_numpy()
    mh_on, mh_end = conditions["mental_health_onset_day"].to_numpy(), conditions["mental_health_end_day"].to_numpy()
    on = np.zeros((n, n_y), dtype=bool)
    code = np.zeros((n, n_y), dtype="int8")  # 0 none, 1 SUB, 2 MH
    prev = np.zeros(n, dtype=bool)
    stay = expit(ben["stay_logit"] + ben["stay_z"] * z)
    for k, year in enumerate(years):
        sub, mh = _active_in_year(sub_on, sub_end, year), _active_in_year(mh_on, mh_end, year)
        cond = sub | mh
        enter = expit(ben["enter_logit"] + ben["enter_z"] * z + ben["enter_condition"] * cond)
        eligible = age_16 < year_start(year + 1)
        on[:, k] = eligible & (rng.random(n) < np.where(prev, np.maximum(stay, cond * 0.8), enter))
        code[:, k] = np.where(sub, 1, np.where(mh, 2, 0))
        prev = on[:, k]
    padded = np.pad(on, ((0, 0), (1, 1)))
    starts_r, starts_c = np.nonzero(padded[:, 1:-1] & ~padded[:, :-2])
    ends_r, ends_c = np.nonzero(padded[:, 1:-1] & ~padded[:, 2:])
    # both in row-major order, so the k-th start matches the k-th end
    start_day = np.maximum(year_start(years[starts_c]) + rng.integers(0, 200, starts_c.size), age_16[starts_r])
    end_year = years[ends_c]
    end = year_start(end_year) + rng.integers(200, 365, ends_c.size)
    end = np.maximum(end, start_day + 30)
    end = np.where(end > end_day, MISSING_DAY, end)
    incapacity = code[starts_r, starts_c]
    invalid = rng.random(starts_r.size) < ben["invalid_share"]
    unemployment = rng.random(starts_r.size) < ben["unemployment_share"]
    btype = np.where(incapacity > 0, np.where(invalid, "IB", "SB"), np.where(unemployment, "UB", "OTH"))
    return pl.DataFrame(
        {
            "person_id": adults["true_person_id"].to_numpy()[starts_r],
            "start_day": start_day.astype("int64"),
            "end_day": end.astype("int64"),
            "benefit_type": btype,
            "incapacity_code": pl.Series(np.where(incapacity == 1, "SUB", np.where(incapacity == 2, "MH", ""))).replace(
                "", None
            ),
            "partner_id": pl.Series([None] * starts_r.size, dtype=pl.Int64),
        }
    )


def merge_benefit_spells(background: pl.DataFrame, birth_spells: pl.DataFrame, params: dict) -> pl.DataFrame:
    """One non-overlapping spell history per client: overlapping spells merge; the merged
    spell keeps the highest-priority type (IB > SB > SPB > UB > OTH), its incapacity code
    and any partner. Spells are cut to the benefit data window (from 1993)."""
    data_start = day_number(params["timeline"]["data_start"]["benefits"])
    end_day = day_number(params["timeline"]["observation_end"])
    birth = birth_spells.with_columns(pl.lit(None, dtype=pl.String).alias("incapacity_code")).select(background.columns)
    birth = birth.with_columns(
        pl.when(pl.col("end_day") > end_day).then(MISSING_DAY).otherwise(pl.col("end_day")).alias("end_day")
    )
    spells = (
        pl.concat([background, birth])
        .with_columns(
            pl.when(pl.col("end_day") == MISSING_DAY).then(end_day + 1).otherwise(pl.col("end_day")).alias("stop"),
            pl.col("benefit_type").replace_strict(BENEFIT_PRIORITY, return_dtype=pl.Int64).alias("priority"),
        )
        .filter(pl.col("stop") >= data_start)
    )
    spells = (
        spells.sort("person_id", "start_day", "stop")
        .with_columns(pl.col("stop").cum_max().shift(1).over("person_id").alias("prev_stop"))
        .with_columns(
            (pl.col("prev_stop").is_null() | (pl.col("start_day") > pl.col("prev_stop")))
            .cast(pl.Int64)
            .cum_sum()
            .over("person_id")
            .alias("run")
        )
    )
    merged = (
        spells.sort("person_id", "run", "priority")
        .group_by("person_id", "run", maintain_order=True)
        .agg(
            pl.min("start_day"),
            pl.max("stop"),
            pl.first("benefit_type"),
            pl.first("incapacity_code"),
            pl.col("partner_id").drop_nulls().first(),
        )
    )
    return (
        merged.with_columns(
            pl.max_horizontal("start_day", pl.lit(data_start)).alias("start_day"),
            pl.when(pl.col("stop") > end_day).then(MISSING_DAY).otherwise(pl.col("stop")).alias("end_day"),
        )
        .select("person_id", "start_day", "end_day", "benefit_type", "incapacity_code", "partner_id")
        .sort("person_id", "start_day")
    )


def draw_addresses(
    adults: pl.DataFrame, spells: pl.DataFrame, areas: pl.DataFrame, params: dict, rng: np.random.Generator, pools
) -> pl.DataFrame:
    """Benefit address history: the client's address at the first spell, then a record for
    each move while on benefit (Poisson, more moves for disadvantaged families) and for
    some returns to benefit after a move off benefit. Moves stay within the deprivation
    decile of the home postcode. Box 1 address-change marker."""
    ben = params["benefits"]
    end_day = day_number(params["timeline"]["observation_end"])
    info = adults.select("true_person_id", "z", "home_postcode").join(
        areas.select("postcode", "deprivation_decile"), left_on="home_postcode", right_on="postcode", how="left"
    )
    sp = spells.join(info, left_on="person_id", right_on="true_person_id", how="left").sort("person_id", "start_day")
    stop = np.where(sp["end_day"].to_numpy() == MISSING_DAY, end_day, sp["end_day"].to_numpy())
    start = sp["start_day"].to_numpy()
    z = sp["z"].to_numpy()
    years = np.maximum(stop - start, 1) / 365.25
    n_moves = rng.poisson(np.exp(ben["moves_per_year_log"] + ben["moves_z"] * z) * years)
    first_spell = (
        np.r_[True, sp["person_id"].to_numpy()[1:] != sp["person_id"].to_numpy()[:-1]] if len(sp) else np.zeros(0, bool)
    )
    returns_moved = ~first_spell & (rng.random(len(sp)) < 0.3)
    # records: spell-start records (first spell, or a return after moving) and moves within spells
    rec_spell = np.flatnonzero(first_spell | returns_moved)
    move_spell = np.repeat(np.arange(len(sp)), n_moves)
    move_day = start[move_spell] + (rng.random(move_spell.size) * (stop[move_spell] - start[move_spell])).astype(
        "int64"
    )
    spell_of = np.concatenate([rec_spell, move_spell])
    day = np.concatenate([start[rec_spell], move_day])
    is_first = np.concatenate([first_spell[rec_spell], np.zeros(move_spell.size, bool)])
    decile = sp["deprivation_decile"].to_numpy()[spell_of]
    postcode = np.where(is_first, sp["home_postcode"].to_numpy()[spell_of], draw_postcode_in_decile(decile, areas, rng))
    n = day.size
    line = [
        f"{a} {b} {c}"
        for a, b, c in zip(rng.integers(1, 400, n), pools.draw_family(rng, n), rng.choice(STREET_TYPES, n))
    ]
    frame = pl.DataFrame(
        {
            "person_id": sp["person_id"].to_numpy()[spell_of],
            "effective_day": day.astype("int64"),
            "postcode": postcode.astype(str),
            "address_line": line,
        }
    )
    return frame.sort("person_id", "effective_day").unique(
        ["person_id", "effective_day"], keep="first", maintain_order=True
    )


def draw_sentences(adults: pl.DataFrame, params: dict, rng: np.random.Generator) -> pl.DataFrame:
    """Corrections sentences (from 1995): yearly Poisson counts by z, sex and age;
    custodial or community, violent or not (Box 1 corrections marker)."""
    cor = params["corrections"]
    first_year = int(params["timeline"]["data_start"]["corrections"][:4])
    end_day = day_number(params["timeline"]["observation_end"])
    years = np.arange(first_year, int(year_of(np.array([end_day]))[0]) + 1)
    dob = adults["dob_day"].to_numpy()
    z = adults["z"].to_numpy()
    male = (adults["sex"].to_numpy() == "M").astype(float)
    age = (year_start(years)[None, :] - dob[:, None]) / 365.25
    rate = np.exp(
        cor["rate_log"]
        + cor["rate_z"] * z[:, None]
        + cor["rate_male"] * male[:, None]
        - cor["age_decay"] * np.maximum(age - cor["peak_age"], 0)
    )
    rate = np.where((age >= cor["start_age"]) & (age <= cor["end_age"]), rate, 0.0)
    counts = rng.poisson(rate)
    rows, cols = np.nonzero(counts)
    rows, cols = np.repeat(rows, counts[rows, cols]), np.repeat(cols, counts[rows, cols])
    start = year_start(years[cols]) + rng.integers(0, 365, rows.size)
    custodial = rng.random(rows.size) < expit(
        cor["custodial_share_logit"] + cor["custodial_male"] * male[rows] + 0.3 * z[rows]
    )
    violent = rng.random(rows.size) < np.where(custodial, cor["violent_share"] * 1.4, cor["violent_share"])
    months = np.where(
        custodial, rng.uniform(*cor["custodial_months"], rows.size), rng.uniform(*cor["community_months"], rows.size)
    )
    end = start + np.rint(months * 30.44).astype("int64")
    keep = start <= end_day
    return pl.DataFrame(
        {
            "person_id": adults["true_person_id"].to_numpy()[rows][keep],
            "start_day": start[keep].astype("int64"),
            "end_day": np.where(end > end_day, MISSING_DAY, end)[keep].astype("int64"),
            "sentence_type": np.where(custodial, "CUSTODIAL", "COMMUNITY")[keep],
            "offence_category": np.where(violent, "VIOLENT", "NON_VIOLENT")[keep],
        }
    ).sort("person_id", "start_day")


def draw_mental_health_contacts(
    conditions: pl.DataFrame, adults: pl.DataFrame, params: dict, rng: np.random.Generator
) -> pl.DataFrame:
    """Mental health and addiction service contacts (health data from 2000) while a
    condition is active."""
    start_data = day_number(params["timeline"]["data_start"]["health"])
    end_day = day_number(params["timeline"]["observation_end"])
    frames = []
    for name, group, services in (
        ("substance", "SUBSTANCE", ["ADDICTION", "ADDICTION", "COMMUNITY_MH"]),
        ("mental_health", "OTHER_MH", ["COMMUNITY_MH", "COMMUNITY_MH", "INPATIENT_MH"]),
    ):
        onset = conditions[f"{name}_onset_day"].to_numpy()
        stop = conditions[f"{name}_end_day"].to_numpy()
        lo, hi = np.maximum(onset, start_data), np.minimum(stop, end_day)
        has = (onset != MISSING_DAY) & (hi > lo)
        years = np.where(has, (hi - lo) / 365.25, 0.0)
        counts = rng.poisson(years * params["health"]["mh_contacts_per_year"])
        rows = np.repeat(np.arange(len(conditions)), counts)
        day = lo[rows] + (rng.random(rows.size) * (hi[rows] - lo[rows])).astype("int64")
        frames.append(
            pl.DataFrame(
                {
                    "person_id": conditions["true_person_id"].to_numpy()[rows],
                    "contact_day": day.astype("int64"),
                    "service_type": rng.choice(np.array(services), rows.size),
                    "diagnosis_group": np.full(rows.size, group),
                }
            )
        )
    return pl.concat(frames).sort("person_id", "contact_day")
