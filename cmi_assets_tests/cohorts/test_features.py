"""The feature table: every Box 1 variable with exactly the study's categories, no nulls,
usable by prm/ as it is."""

import polars as pl

from cmi_assets.cohorts.box2 import BOX2_CATEGORIES
from cmi_assets.cohorts.features import FEATURE_CATEGORIES
from cmi_assets.prm import infer_variable_specs


def test_box1_variables_are_strings_within_their_categories_and_never_null(features_2010):
    assert len(FEATURE_CATEGORIES) == 15
    for name, categories in {**FEATURE_CATEGORIES, **BOX2_CATEGORIES}.items():
        column = features_2010[name]
        assert column.dtype == pl.String and column.null_count() == 0, name
        assert set(column.unique()) <= set(categories), name


def test_one_row_per_child_in_the_population(features_2010):
    assert features_2010["person_key"].to_list() == ["A", "B", "C", "E", "G", "K", "T1", "T2"]
    assert features_2010["linkage_level"].unique().to_list() == ["conservative"]


def test_ethnicity_flags_are_null_without_a_registration_ethnicity(value, features_2010):
    assert value(features_2010, "A", "ethnicity_aian") is True and value(features_2010, "A", "ethnicity_white") is True
    assert value(features_2010, "E", "ethnicity_aian") is None


def test_prm_accepts_the_box1_columns(features_2010):
    specs = infer_variable_specs(
        features_2010, ["child_sex", "mother_or_caregiver_age", "marker_count", "five_plus_markers"]
    )
    assert [s.kind for s in specs] == ["categorical", "categorical", "numeric", "numeric"]
