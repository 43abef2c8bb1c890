"""Name pools: frequencies checked against the census files read here independently,
nicknames against the lexicon, look-alike names by their defining properties."""

from __future__ import annotations

import time
from pathlib import Path

import names as names_package
import numpy as np
import pytest

from cmi_assets.reference.names import load_name_pools, match_case, title_case_name

CENSUS = Path(names_package.__file__).parent


def census_shares(file_name: str) -> dict[str, float]:
    """Upper-case name -> share of all listed mass, straight from the census file."""
    rows = [line.split() for line in (CENSUS / file_name).read_text().splitlines() if line.strip()]
    total = sum(float(r[1]) for r in rows)
    return {r[0]: float(r[1]) / total for r in rows}


def within_4_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 4 * np.sqrt(n * p * (1 - p))


@pytest.fixture(scope="module")
def pools():
    return load_name_pools()


def test_given_names_are_drawn_with_census_frequencies(pools):
    n = 200_000
    drawn = pools.draw_given(np.random.default_rng(1), np.full(n, "M"))
    male = census_shares("dist.male.first")
    for name in ("JAMES", "WILLIAM", "GARY"):
        assert within_4_sigma(int((drawn == name.title()).sum()), n, male[name]), name
    assert (drawn == "James").sum() > 10 * (drawn == "Clyde").sum()  # 3.318 % vs 0.099 %


def test_given_names_come_from_the_pool_of_each_rows_sex(pools):
    rng = np.random.default_rng(2)
    sex = np.where(rng.random(100_000) < 0.5, "M", "F")
    drawn = pools.draw_given(rng, sex)
    male, female = census_shares("dist.male.first"), census_shares("dist.female.first")
    assert set(drawn[sex == "M"]) <= {title_case_name(n) for n in male}
    assert set(drawn[sex == "F"]) <= {title_case_name(n) for n in female}
    # each sex's draws follow its own column of the census: Mary is 2.6 % of women, 0.01 % of men
    for name in ("MARY", "JAMES"):
        for code, shares in (("M", male), ("F", female)):
            rows = drawn[sex == code]
            assert within_4_sigma(int((rows == name.title()).sum()), len(rows), shares.get(name, 0.0)), (name, code)


def test_unknown_sex_draws_from_both_pools_equally(pools):
    n = 100_000
    drawn = pools.draw_given(np.random.default_rng(3), np.full(n, "U"))
    male, female = census_shares("dist.male.first"), census_shares("dist.female.first")
    for name in ("MARY", "JAMES"):
        expected = (male.get(name, 0.0) + female.get(name, 0.0)) / 2
        assert within_4_sigma(int((drawn == name.title()).sum()), n, expected), name


def test_surnames_are_frequency_weighted_and_the_rounded_tail_still_occurs(pools):
    n = 400_000
    drawn = pools.draw_family(np.random.default_rng(4), n)
    rows = [line.split() for line in (CENSUS / "dist.all.last").read_text().splitlines() if line.strip()]
    listed_mass = float(rows[-1][2])  # cumulative share of the population the file covers
    # Smith's share of the listed population, and the share the 0.000-rounded tail holds
    assert within_4_sigma(int((drawn == "Smith").sum()), n, 1.006 / listed_mass)
    tail_mass = (listed_mass - sum(float(r[1]) for r in rows)) / listed_mass
    tail = {title_case_name(r[0]) for r in rows if float(r[1]) == 0.0}
    assert within_4_sigma(sum(name in tail for name in drawn), n, tail_mass)


def test_names_are_title_case(pools):
    assert title_case_name("MCDONALD") == "McDonald"
    assert title_case_name("O'BRIEN") == "O'Brien"
    assert title_case_name("ANNE-MARIE") == "Anne-Marie"
    drawn = pools.draw_family(np.random.default_rng(5), 5_000)
    assert all(n[0].isupper() and n[1:2].islower() for n in drawn if len(n) > 1)
    assert "McDonald" in set(pools.draw_family(np.random.default_rng(6), 200_000))


def test_match_case_follows_the_example():
    assert match_case("bill", "WILLIAM") == "BILL"
    assert match_case("Bill", "william") == "bill"
    assert match_case("bill", "William") == "Bill"


def test_nicknames_of_known_pairs(pools):
    assert {"Bill", "Will", "Billy"} <= set(pools.nicknames_of("William"))
    assert {"Bob", "Rob"} <= set(pools.nicknames_of("Robert"))
    assert "Peggy" in pools.nicknames_of("Margaret")
    assert "BOB" in pools.nicknames_of("ROBERT")  # case as given
    assert "William" not in pools.nicknames_of("William")
    assert pools.nicknames_of("Zzyzx") == []


def test_canonical_forms_map_a_nickname_back(pools):
    assert "William" in pools.canonical_forms("Bill")
    assert "Elizabeth" in pools.canonical_forms("Liz")
    assert pools.canonical_forms("Zzyzx") == []


def test_similar_given_name_is_different_and_looks_alike(pools):
    rng = np.random.default_rng(7)
    sex = np.where(rng.random(20_000) < 0.5, "M", "F")
    original = pools.draw_given(rng, sex)
    similar = pools.draw_similar_given(rng, original, sex)
    lower_original = np.char.lower(original.astype(str))
    lower_similar = np.char.lower(similar.astype(str))
    assert not (lower_original == lower_similar).any()
    male_initials = [n[0] for n in census_shares("dist.male.first")]
    lone_initials = {i.lower() for i in male_initials if male_initials.count(i) == 1}  # X: only Xavier
    assert all(a[0] == b[0] or a[0] in lone_initials for a, b in zip(lower_original, lower_similar))
    length_gap = np.abs(np.char.str_len(lower_original) - np.char.str_len(lower_similar))
    assert (length_gap <= 1).mean() > 0.99  # wider only when the pool has no closer name
    male = {title_case_name(n) for n in census_shares("dist.male.first")}
    assert set(similar[sex == "M"]) <= male


def test_similar_given_name_keeps_nulls_and_case_and_handles_unknown_names(pools):
    rng = np.random.default_rng(8)
    out = pools.draw_similar_given(
        rng, np.array([None, "JOHN", "Xzavierious", "Q"], dtype=object), np.array(["M", "M", "M", "F"], dtype=object)
    )
    assert out[0] is None
    assert out[1].isupper() and out[1] != "JOHN" and out[1][0] == "J"
    assert out[2][0] == "X" and out[2] != "Xzavierious"
    assert out[3][0] == "Q" and out[3] != "Q"


def test_draws_are_deterministic_for_a_seed(pools):
    sex = np.array(["M", "F"] * 500)

    def draw(seed):
        rng = np.random.default_rng(seed)
        given = pools.draw_given(rng, sex)
        return given, pools.draw_family(rng, 1000), pools.draw_similar_given(rng, given, sex)

    first, again, other = draw(11), draw(11), draw(12)
    for a, b in zip(first, again):
        assert (a == b).all()
    assert not (first[0] == other[0]).all()


def test_drawing_a_million_names_is_fast(pools):
    rng = np.random.default_rng(13)
    started = time.perf_counter()
    pools.draw_given(rng, np.where(rng.random(1_000_000) < 0.5, "M", "F"))
    pools.draw_family(rng, 1_000_000)
    assert time.perf_counter() - started < 5.0  # about 0.3 s on 2 cores
