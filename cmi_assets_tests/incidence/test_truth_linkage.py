"""With the truth linkage (every record's person its true person), the incidence counts
equal the counts the synthetic truth gives: the episodes table records which agency
recorded each true episode, and when, independently of the records the pipeline reads.
One small world of the `incidence` profile (scale 0.02, three cohorts: a few seconds)."""

from __future__ import annotations

import polars as pl
import pytest

from cmi_assets.incidence import LISTS, cohort_children, incidence_rates, list_flags, overlap_table, union_count
from cmi_assets_tests.incidence.truth_world import episode_lists, maltreated_by_5, study_children, truth_connection

YEARS = (2010, 2011, 2012)


@pytest.fixture(scope="module")
def linked():
    from cmi_assets.synthetic.profile import load_profile
    from cmi_assets.synthetic.world import simulate_world

    world = simulate_world(load_profile("incidence"), 0.02, 4)
    con = truth_connection(world)
    children = {year: cohort_children(con, year, "conservative") for year in YEARS}
    return world, children


def test_population_is_the_worlds_study_population(linked):
    world, children = linked
    for year, table in children.items():
        truth = study_children(world, (year,))
        assert sorted(table["person_key"]) == sorted(truth["person_key"])
        assert table["person_key"].n_unique() == table.height  # each child once


def test_list_membership_equals_the_episode_truth_child_by_child(linked):
    world, children = linked
    for year, table in children.items():
        flags = list_flags(table).filter(pl.any_horizontal(list(LISTS)))
        truth = episode_lists(world, study_children(world, (year,)))
        assert flags.height > 20
        mine = flags.sort("person_key").select("person_key", *LISTS)
        theirs = truth.sort("person_key").select("person_key", *LISTS)
        assert mine.equals(theirs), year


def test_union_rate_and_overlap_cells_equal_the_truth(linked):
    world, children = linked
    for year, table in children.items():
        truth = episode_lists(world, study_children(world, (year,)))
        flags = list_flags(table)
        overlap = overlap_table(flags)
        # the cells sum to the union, and each cell is the truth's count of that pattern
        assert overlap["children"].drop_nulls().sum() == union_count(flags) == truth.height
        for row in overlap.iter_rows(named=True):
            if row["lists"] == 0:
                continue
            want = truth.filter(*[pl.col(name) == row[name] for name in LISTS]).height
            assert row["children"] == want, (year, row)
        rates = incidence_rates(table)
        union = rates.filter(
            (pl.col("group_type") == "all") & (pl.col("source") == "any") & (pl.col("measure") == "by_age")
        ).filter(pl.col("age") == 5)
        assert union["children"].item() == truth.height
        assert union["population"].item() == table.height


def test_every_known_child_is_truly_maltreated_in_this_profile(linked):
    world, children = linked
    for year in YEARS:
        followed = study_children(world, (year,))
        known = episode_lists(world, followed)
        maltreated = maltreated_by_5(world, followed)
        assert set(known["person_key"]) <= set(maltreated["person_key"])
        assert maltreated.height > known.height  # some no agency saw
