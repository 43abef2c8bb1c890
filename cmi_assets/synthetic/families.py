"""Families: births per mother (spacing, twins, previous children), partners (new
partners, fathers not listed, not living together), birth registration timing, and the
child's inclusion in a caregiver's benefit, including caregivers who are not birth
parents (grandparents, new partners, other relatives)."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.dates import MISSING_DAY, day_number, years_to_days
from cmi_assets.synthetic.population import Mothers, draw_ethnicity_labels, draw_home_postcodes, partner_z


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_birth_events(mothers: Mothers, params: dict, rng: np.random.Generator) -> pl.DataFrame:
    """One row per birth event (a delivery; twins are one event): mother_index, parity
    (1 = first delivery), dob, plurality. Births after the observation end or past the
    mother's fertile ages are dropped."""
    fert = params["fertility"]
    n = len(mothers)
    kmax = int(fert["max_births"])
    extra = rng.poisson(np.exp(fert["extra_births_lambda_log"] + fert["extra_births_z"] * mothers.z))
    n_births = 1 + np.minimum(extra, kmax - 1)
    first_age = (
        fert["first_birth_age_median"]
        + fert["first_birth_age_z"] * mothers.z
        + fert["first_birth_age_sd"] * rng.standard_normal(n)
    )
    first_age = np.maximum(first_age, fert["min_birth_age"] + rng.random(n) * 2)
    gaps = fert["interval_min_years"] + rng.gamma(
        fert["interval_shape"],
        fert["interval_scale_years"] * np.exp(fert["interval_z"] * mothers.z)[:, None],
        (n, kmax - 1),
    )
    ages = np.concatenate([first_age[:, None], first_age[:, None] + np.cumsum(gaps, axis=1)], axis=1)
    parity = np.broadcast_to(np.arange(1, kmax + 1), (n, kmax))
    dob = mothers.dob[:, None] + years_to_days(ages)
    end = day_number(params["timeline"]["observation_end"])
    keep = (parity <= n_births[:, None]) & (ages <= fert["max_birth_age"]) & (dob <= end)
    mother_index, col = np.nonzero(keep)
    u = rng.random(mother_index.size)
    plurality = np.where(
        u < fert["triplet_probability"], 3, np.where(u < fert["triplet_probability"] + fert["twin_probability"], 2, 1)
    )
    return pl.DataFrame(
        {
            "mother_index": mother_index.astype("int64"),
            "parity": parity[mother_index, col].astype("int64"),
            "dob_day": dob[mother_index, col].astype("int64"),
            "mother_age": ages[mother_index, col],
            "plurality": plurality.astype("int64"),
        }
    )


def restrict_to_birth_years(events: pl.DataFrame, birth_years: tuple[int, int]) -> pl.DataFrame:
    """Keep the families with a birth in `birth_years` and their births up to the window's
    end (older siblings are needed for the index children's markers)."""
    first, last = birth_years
    lo, hi = day_number(f"{first}-01-01"), day_number(f"{last}-12-31")
    in_window = events.filter(pl.col("dob_day").is_between(lo, hi))["mother_index"].unique()
    return events.filter(pl.col("mother_index").is_in(in_window.implode()) & (pl.col("dob_day") <= hi))


def draw_partnerships(events: pl.DataFrame, z: np.ndarray, params: dict, rng: np.random.Generator) -> pl.DataFrame:
    """Adds partner_seq (0 = first partner), father_listed and cohabiting per event.
    Listing and cohabitation are properties of a partnership, so full siblings share them."""
    part = params["partnerships"]
    zz = z[events["mother_index"].to_numpy()]
    parity = events["parity"].to_numpy()
    new_partner = (parity > 1) & (
        rng.random(len(events)) < expit(part["new_partner_logit"] + part["new_partner_z"] * zz)
    )
    frame = events.with_columns(pl.Series("new_partner", new_partner))
    frame = frame.sort("mother_index", "parity").with_columns(
        pl.col("new_partner").cast(pl.Int64).cum_sum().over("mother_index").alias("partner_seq")
    )
    pairs = frame.select("mother_index", "partner_seq").unique().sort("mother_index", "partner_seq")
    pz = z[pairs["mother_index"].to_numpy()]
    not_listed = rng.random(len(pairs)) < expit(part["father_not_listed_logit"] + part["father_not_listed_z"] * pz)
    apart = rng.random(len(pairs)) < expit(part["not_cohabiting_logit"] + part["not_cohabiting_z"] * pz)
    pairs = pairs.with_columns(pl.Series("father_listed", ~not_listed), pl.Series("cohabiting", ~(apart | not_listed)))
    return frame.drop("new_partner").join(pairs, on=["mother_index", "partner_seq"], how="left")


def previous_children_same_parents(events: pl.DataFrame) -> pl.Series:
    """Registration field: children previously born to the same mother AND father."""
    counted = events.sort("mother_index", "parity").with_columns(
        (pl.col("plurality").cum_sum().over(["mother_index", "partner_seq"]) - pl.col("plurality")).alias("prev")
    )
    return counted.sort("event_id")["prev"]


def draw_birth_outcomes(n_children: int, z: np.ndarray, multiple: np.ndarray, params: dict, rng: np.random.Generator):
    """Gestation (weeks) and birth weight (g) per child: pre-term and low weight more
    likely for disadvantaged mothers and multiple births (Box 1 child marker)."""
    bo = params["birth_outcomes"]
    preterm = rng.random(n_children) < expit(
        bo["preterm_logit"] + bo["preterm_z"] * z + bo["preterm_multiple"] * multiple
    )
    gestation = np.where(
        preterm,
        rng.integers(bo["preterm_weeks"][0], bo["preterm_weeks"][1] + 1, n_children),
        np.clip(np.rint(rng.normal(bo["term_weeks_mean"], bo["term_weeks_sd"], n_children)), 37, 42),
    ).astype("int64")
    weight = bo["weight_at_40_weeks"] - bo["weight_per_week"] * (40 - gestation) - bo["weight_z"] * z
    weight = weight - bo["weight_multiple"] * multiple + rng.normal(0, bo["weight_sd"], n_children)
    return gestation, np.clip(np.rint(weight), 300, 6500).astype("int64")


def draw_registration_days(
    dob: np.ndarray, z: np.ndarray, single: np.ndarray, params: dict, rng: np.random.Generator
) -> np.ndarray:
    """Registration date per birth event: ~91% within 91 days, the rest later (up to
    several years) or never (NZ section 11, para 154). MISSING_DAY = not registered by the
    observation end."""
    reg = params["registration"]
    n = dob.size
    on_time = rng.random(n) < expit(reg["on_time_logit"] + reg["on_time_z"] * z + reg["on_time_single"] * single)
    quick = np.clip(np.rint(rng.lognormal(np.log(reg["delay_median_days"]), 0.6, n)), 1, 91)
    late = 92 + np.rint(rng.exponential(240, n)).astype("int64")
    late = np.minimum(late, years_to_days(reg["late_delay_max_years"]))
    never = rng.random(n) < reg["never_registered_share"]
    day = np.where(on_time, dob + quick, dob + late).astype("int64")
    day[~on_time & never] = MISSING_DAY
    day[day > day_number(params["timeline"]["observation_end"])] = MISSING_DAY
    return day


def draw_benefit_inclusion(
    dob: np.ndarray,
    z: np.ndarray,
    single: np.ndarray,
    teen: np.ndarray,
    unregistered: np.ndarray,
    params: dict,
    rng: np.random.Generator,
) -> dict:
    """Per birth event: whether the child is included in a caregiver's benefit by 3 months
    (claim weeks after birth, payments backdated to the birth: NZ para 153) or later in the
    first year, and who the client is (PARENT or a caregiver who is not a birth parent)."""
    ben = params["benefit_at_birth"]
    n = dob.size
    # families slow to register a birth are mostly families known to the benefit system
    logit = (
        ben["by_3_months_logit"]
        + ben["by_3_months_z"] * z
        + ben["by_3_months_single"] * single
        + ben["by_3_months_teen"] * teen
    )
    by_3m = rng.random(n) < expit(logit + ben["by_3_months_unregistered"] * unregistered)
    later = ~by_3m & (rng.random(n) < expit(ben["later_logit"] + ben["by_3_months_z"] * z))
    lo, hi = ben["claim_lag_days"]
    lag = np.where(by_3m, rng.integers(lo, hi + 1, n), rng.integers(92, 366, n))
    shares = np.asarray(ben["relationship_shares"], dtype="float64")
    weights = np.tile(shares, (n, 1))
    weights[teen, 1] *= ben["teen_grandparent_boost"]
    weights /= weights.sum(axis=1, keepdims=True)
    rel = (rng.random(n)[:, None] > np.cumsum(weights, axis=1)).sum(axis=1)
    rel = np.minimum(rel, len(shares) - 1)
    already = rng.random(n) < ben["already_on_benefit_share"]
    spell_start = np.where(already, dob - rng.integers(30, 900, n), dob + np.maximum(lag - rng.integers(0, 14, n), 0))
    spell_years = rng.exponential(ben["spell_years_mean"] * np.exp(0.3 * z))
    included = by_3m | later
    return {
        "included": included,
        "by_3_months": by_3m,
        "claim_day": np.where(included, dob + lag, MISSING_DAY),
        "inclusion_start_day": np.where(included, np.where(already, dob, np.maximum(dob, spell_start)), MISSING_DAY),
        "relationship": np.asarray(ben["relationship_codes"])[rel],
        "spell_start_day": spell_start,
        "spell_end_day": np.maximum(spell_start + years_to_days(spell_years), dob + lag + 30),
    }


# ---------------------------------------------------------------------------------------
# Assembling the people of a block of families
# ---------------------------------------------------------------------------------------

PERSON_SCHEMA_ORDER = [
    "true_person_id",
    "sex",
    "dob",
    "given_name",
    "middle_name",
    "family_name",
    "birth_family_name",
    "name_change_day",
    "ethnicity",
    "z",
    "mother_id",
    "father_id",
    "home_postcode",
    "role",
]


def draw_middle_names(pools, rng: np.random.Generator, sex: np.ndarray, share: float = 0.75) -> np.ndarray:
    middle = pools.draw_given(rng, sex)
    middle[rng.random(sex.size) >= share] = None
    return middle


def _adult_frame(
    ids, sex, dob, given, middle, family, birth_family, change_day, ethnicity, z, postcode, role
) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "true_person_id": np.asarray(ids, dtype="int64"),
            "sex": np.asarray(sex).astype(str),
            "dob_day": np.asarray(dob, dtype="int64"),
            "given_name": pl.Series(list(given), dtype=pl.String),
            "middle_name": pl.Series(list(middle), dtype=pl.String),
            "family_name": pl.Series(list(family), dtype=pl.String),
            "birth_family_name": pl.Series(list(birth_family), dtype=pl.String),
            "name_change_day": np.asarray(change_day, dtype="int64"),
            "ethnicity": np.asarray(ethnicity).astype(str),
            "z": np.asarray(z, dtype="float64"),
            "mother_id": pl.Series([None] * n, dtype=pl.Int64),
            "father_id": pl.Series([None] * n, dtype=pl.Int64),
            "home_postcode": np.asarray(postcode).astype(str),
            "role": [role] * n,
        }
    )


def build_families(
    mothers: Mothers,
    events: pl.DataFrame,
    areas: pl.DataFrame,
    params: dict,
    rng: np.random.Generator,
    pools,
    first_id: int,
) -> dict[str, pl.DataFrame]:
    """Persons (mothers, partners, children, caregivers who are not parents), births (one
    row per child) and the caregivers' birth-related benefit spells for one block of
    families. `events` are this block's birth events with `mother_index` into `mothers`."""
    part, pop = params["partnerships"], params["population"]
    used = np.unique(events["mother_index"].to_numpy())
    mothers = mothers.take(used)
    events = events.with_columns(pl.Series("mother_index", np.searchsorted(used, events["mother_index"].to_numpy())))
    events = draw_partnerships(events, mothers.z, params, rng).sort("mother_index", "parity")
    events = events.with_columns(pl.int_range(pl.len()).alias("event_id"))
    m_idx = events["mother_index"].to_numpy()
    zz = mothers.z[m_idx]
    n_m = len(mothers)
    next_id = first_id

    # -- mothers
    mother_ids = np.arange(next_id, next_id + n_m, dtype="int64")
    next_id += n_m
    mother_given = pools.draw_given(rng, np.full(n_m, "F"))
    mother_middle = draw_middle_names(pools, rng, np.full(n_m, "F"))
    mother_birth_family = pools.draw_family(rng, n_m)
    mother_postcode = draw_home_postcodes(mothers.z, areas, params, rng)
    mother_ethnicity = draw_ethnicity_labels(mothers.group, None, params)

    # -- partners (one per mother x partner_seq)
    pairs = (
        events.select("mother_index", "partner_seq", "father_listed", "cohabiting", "dob_day")
        .group_by("mother_index", "partner_seq", maintain_order=True)
        .agg(pl.first("father_listed"), pl.first("cohabiting"), pl.min("dob_day").alias("first_child_day"))
    )
    n_p = len(pairs)
    p_m = pairs["mother_index"].to_numpy()
    father_ids = np.arange(next_id, next_id + n_p, dtype="int64")
    next_id += n_p
    gap = years_to_days(rng.normal(part["father_age_gap_years"], part["father_age_gap_sd"], n_p))
    father_dob = np.minimum(mothers.dob[p_m] + gap, pairs["first_child_day"].to_numpy() - years_to_days(16.5))
    father_z = partner_z(mothers.z[p_m], pop["father_z_correlation"], rng)
    same_group = rng.random(n_p) < 0.8
    father_group = np.where(
        same_group,
        mothers.group[p_m],
        rng.choice(len(pop["groups"]), n_p, p=np.asarray(pop["shares"]) / np.sum(pop["shares"])),
    )
    father_family = pools.draw_family(rng, n_p)
    pairs = pairs.with_columns(
        pl.Series("father_id", father_ids),
        pl.Series("father_family", father_family),
        pl.Series("father_group", father_group),
    )
    events = events.join(
        pairs.select("mother_index", "partner_seq", "father_id", "father_family", "father_group"),
        on=["mother_index", "partner_seq"],
        how="left",
    ).sort("event_id")

    # -- a mother may take the surname of her first cohabiting, listed partner
    takes = (
        pairs.filter(pl.col("cohabiting") & pl.col("father_listed"))
        .group_by("mother_index", maintain_order=True)
        .first()
    )
    takes = takes.filter(pl.Series(rng.random(len(takes)) < part["mother_takes_surname"]))
    change_day = np.full(n_m, MISSING_DAY, dtype="int64")
    mother_family = mother_birth_family.copy()
    t_idx = takes["mother_index"].to_numpy()
    change_day[t_idx] = takes["first_child_day"].to_numpy() - rng.integers(0, 730, len(takes))
    mother_family[t_idx] = takes["father_family"].to_numpy()

    # -- children
    plurality = events["plurality"].to_numpy()
    child_event = np.repeat(np.arange(len(events)), plurality)
    twin_index = np.concatenate([np.arange(k) for k in plurality]) if len(plurality) else np.zeros(0, "int64")
    n_c = child_event.size
    child_ids = np.arange(next_id, next_id + n_c, dtype="int64")
    next_id += n_c
    sex = np.where(rng.random(n_c) < params["population"].get("male_share", 0.515), "M", "F")
    given = pools.draw_given(rng, sex)
    middle = draw_middle_names(pools, rng, sex)
    later_twin = twin_index > 0
    if later_twin.any():
        first_of_set = np.flatnonzero(later_twin) - twin_index[later_twin]
        same = rng.random(later_twin.sum()) < params["fertility"]["twin_same_given_name_share"]
        # the same sex as the first twin for look-alike names (most twins in the data set are same-sex pairs)
        sex[later_twin] = np.where(rng.random(later_twin.sum()) < 0.6, sex[first_of_set], sex[later_twin])
        similar = pools.draw_similar_given(rng, given[first_of_set], sex[later_twin])
        given[later_twin] = np.where(same & (sex[later_twin] == sex[first_of_set]), given[first_of_set], similar)
        same_name_rows = np.flatnonzero(later_twin)[given[later_twin] == given[first_of_set]]
        middle[same_name_rows] = pools.draw_similar_given(
            rng,
            np.where(np.equal(middle[same_name_rows], None), given[same_name_rows], middle[same_name_rows]),
            sex[same_name_rows],
        )  # noqa: E711
    ev = lambda col: events[col].to_numpy()[child_event]  # noqa: E731
    c_m = ev("mother_index")
    c_dob = ev("dob_day")
    listed, cohab = ev("father_listed"), ev("cohabiting")
    mother_surname_then = np.where(
        (change_day[c_m] != MISSING_DAY) & (change_day[c_m] <= c_dob), mother_family[c_m], mother_birth_family[c_m]
    )
    # twins share one draw for the surname rule
    takes_father = (rng.random(len(events)) < part["child_takes_father_surname"])[child_event] & listed & cohab
    child_family = np.where(takes_father, ev("father_family"), mother_surname_then).astype(object)
    hyphen = (
        (rng.random(len(events)) < part["hyphenated_surname"])[child_event]
        & listed
        & (ev("father_family") != mother_surname_then)
    )
    child_family[hyphen] = mother_surname_then[hyphen] + "-" + ev("father_family")[hyphen]
    second_group = np.where(
        rng.random(n_c) < pop["second_ethnicity_share"],
        np.where(
            ev("father_group") != mothers.group[c_m], ev("father_group"), rng.integers(0, len(pop["groups"]), n_c)
        ),
        -1,
    )
    child_ethnicity = draw_ethnicity_labels(mothers.group[c_m], second_group, params)
    gestation, weight = draw_birth_outcomes(n_c, mothers.z[c_m], plurality[child_event] > 1, params, rng)

    # -- registration and benefit inclusion: one decision per birth event (twins together)
    single = ~events["cohabiting"].to_numpy()
    teen = events["mother_age"].to_numpy() < 20
    reg_day = draw_registration_days(events["dob_day"].to_numpy(), zz, single, params, rng)
    unregistered = (reg_day == MISSING_DAY) | (reg_day > events["dob_day"].to_numpy() + 91)
    incl = draw_benefit_inclusion(events["dob_day"].to_numpy(), zz, single, teen, unregistered, params, rng)
    prev_same = previous_children_same_parents(events).to_numpy()

    # -- caregivers who are not birth parents, created where a benefit inclusion needs one
    rel = incl["relationship"]
    included = incl["included"]
    caregiver = np.where(included & (rel == "PARENT"), mother_ids[m_idx], -1).astype("int64")
    extra_frames = []
    need_grand = np.unique(m_idx[included & (rel == "GRANDPARENT")])
    grand_id = np.full(n_m, -1, dtype="int64")
    if need_grand.size:
        ids = np.arange(next_id, next_id + need_grand.size, dtype="int64")
        next_id += need_grand.size
        grand_id[need_grand] = ids
        dob_g = mothers.dob[need_grand] - years_to_days(rng.uniform(17, 32, need_grand.size))
        zg = 0.7 * mothers.z[need_grand] + np.sqrt(1 - 0.49) * rng.standard_normal(need_grand.size)
        extra_frames.append(
            _adult_frame(
                ids,
                np.full(ids.size, "F"),
                dob_g,
                pools.draw_given(rng, np.full(ids.size, "F")),
                draw_middle_names(pools, rng, np.full(ids.size, "F")),
                mother_birth_family[need_grand],
                mother_birth_family[need_grand],
                np.full(ids.size, MISSING_DAY),
                mother_ethnicity[need_grand],
                zg,
                mother_postcode[need_grand],
                "grandparent",
            )
        )
    g_rows = included & (rel == "GRANDPARENT")
    caregiver[g_rows] = grand_id[m_idx[g_rows]]
    for code, sex_code, role in (
        ("STEP", "M", "step_parent"),
        ("OTHER_RELATIVE", "F", "other_relative"),
        ("NON_RELATIVE", "F", "non_relative"),
    ):
        rows = np.flatnonzero(included & (rel == code))
        if not rows.size:
            continue
        ids = np.arange(next_id, next_id + rows.size, dtype="int64")
        next_id += rows.size
        caregiver[rows] = ids
        base_dob = mothers.dob[m_idx[rows]]
        offset = {
            "STEP": rng.normal(3, 4, rows.size),
            "OTHER_RELATIVE": rng.normal(0, 6, rows.size),
            "NON_RELATIVE": rng.normal(8, 10, rows.size),
        }[code]
        dob_x = np.minimum(base_dob + years_to_days(offset), events["dob_day"].to_numpy()[rows] - years_to_days(18))
        zx = partner_z(zz[rows], 0.6, rng)
        fam = mother_birth_family[m_idx[rows]] if code == "OTHER_RELATIVE" else pools.draw_family(rng, rows.size)
        extra_frames.append(
            _adult_frame(
                ids,
                np.full(rows.size, sex_code),
                dob_x,
                pools.draw_given(rng, np.full(rows.size, sex_code)),
                draw_middle_names(pools, rng, np.full(rows.size, sex_code)),
                fam,
                fam,
                np.full(rows.size, MISSING_DAY),
                mother_ethnicity[m_idx[rows]],
                zx,
                mother_postcode[m_idx[rows]],
                role,
            )
        )

    # the caregiver's benefit spell around the birth; the partner on it where one lives there
    spell_rows = np.flatnonzero(included)
    single_rows = single[spell_rows] | (rel[spell_rows] != "PARENT")
    partner = np.where(
        rel[spell_rows] == "PARENT",
        np.where(single[spell_rows], -1, events["father_id"].to_numpy()[spell_rows]),
        np.where(rel[spell_rows] == "STEP", mother_ids[m_idx[spell_rows]], -1),
    )
    birth_spells = pl.DataFrame(
        {
            "person_id": caregiver[spell_rows],
            "start_day": incl["spell_start_day"][spell_rows],
            "end_day": incl["spell_end_day"][spell_rows],
            "benefit_type": np.where(
                single_rows & (rel[spell_rows] != "STEP"),
                "SPB",
                np.where(rng.random(spell_rows.size) < 0.7, "UB", "OTH"),
            ),
            "partner_id": partner.astype("int64"),
        }
    ).with_columns(pl.when(pl.col("partner_id") >= 0).then(pl.col("partner_id")).alias("partner_id"))

    # -- persons frame
    mothers_frame = _adult_frame(
        mother_ids,
        np.full(n_m, "F"),
        mothers.dob,
        mother_given,
        mother_middle,
        mother_family,
        mother_birth_family,
        change_day,
        mother_ethnicity,
        mothers.z,
        mother_postcode,
        "mother",
    )
    father_ethnicity = draw_ethnicity_labels(father_group, None, params)
    fathers_frame = _adult_frame(
        father_ids,
        np.full(n_p, "M"),
        father_dob,
        pools.draw_given(rng, np.full(n_p, "M")),
        draw_middle_names(pools, rng, np.full(n_p, "M")),
        father_family,
        father_family,
        np.full(n_p, MISSING_DAY),
        father_ethnicity,
        father_z,
        draw_home_postcodes(father_z, areas, params, rng),
        "father",
    )
    children_frame = _adult_frame(
        child_ids,
        sex,
        c_dob,
        given,
        middle,
        child_family,
        child_family,
        np.full(n_c, MISSING_DAY),
        child_ethnicity,
        mothers.z[c_m],
        mother_postcode[c_m],
        "child",
    ).with_columns(pl.Series("mother_id", mother_ids[c_m]), pl.Series("father_id", ev("father_id")))
    persons = pl.concat([mothers_frame, fathers_frame, children_frame, *extra_frames], how="vertical")

    births = pl.DataFrame(
        {
            "child_id": child_ids,
            "event_id": child_event.astype("int64"),
            "twin_index": twin_index.astype("int64"),
            "mother_id": mother_ids[c_m],
            "father_id": ev("father_id"),
            "father_listed": listed,
            "cohabiting": cohab,
            "partner_seq": ev("partner_seq"),
            "parity": ev("parity"),
            "dob_day": c_dob,
            "mother_age": ev("mother_age"),
            "plurality": plurality[child_event],
            "sex": sex,
            "gestation_weeks": gestation,
            "birth_weight_g": weight,
            "reg_day": reg_day[child_event],
            "previous_children_same_parents": prev_same[child_event],
            "benefit_included": included[child_event],
            "benefit_by_3_months": incl["by_3_months"][child_event],
            "claim_day": incl["claim_day"][child_event],
            "inclusion_start_day": incl["inclusion_start_day"][child_event],
            "caregiver_id": caregiver[child_event],
            "caregiver_relationship": pl.Series(np.where(included[child_event], rel[child_event], "")).replace(
                "", None
            ),
            "z": mothers.z[c_m],
        }
    )
    return {"persons": persons, "births": births, "birth_spells": birth_spells, "next_id": next_id}
