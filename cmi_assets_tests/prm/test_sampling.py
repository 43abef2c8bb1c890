"""Under-sampling and the 70/30 split: every positive kept, the negative ratio exact,
stratification exact, disjoint sets, reproducible from the seed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cmi_assets.prm.sampling import modelling_sample, stratified_split, undersample_negatives


@pytest.fixture(scope="module")
def small_population():
    # 1,000 children, 30 positives (3%), identified by person_key.
    y = np.zeros(1000, dtype=int)
    y[np.arange(0, 1000, 1000 // 30)[:30]] = 1
    return pl.DataFrame({"person_key": [f"k{i:04d}" for i in range(1000)], "finding": y})


def test_undersampling_keeps_every_positive_and_four_negatives_each(small_population):
    sample = undersample_negatives(small_population, "finding", np.random.default_rng(1))
    positives = small_population.filter(pl.col("finding") == 1)["person_key"].to_list()
    assert set(positives) <= set(sample["person_key"].to_list())
    assert sample.height == 30 + 120  # 30 positives + round(4.0 x 30) negatives
    assert sample["person_key"].n_unique() == sample.height  # without replacement


def test_ratio_beyond_the_available_negatives_takes_them_all(small_population):
    sample = undersample_negatives(small_population, "finding", np.random.default_rng(1), negatives_per_positive=100)
    assert sample.height == 1000


def test_stratified_split_is_exact_and_disjoint(small_population):
    sample = undersample_negatives(small_population, "finding", np.random.default_rng(2))
    train, validation = stratified_split(sample, "finding", np.random.default_rng(3))
    # 70% of 30 positives = 21, of 120 negatives = 84.
    assert (train.height, int(train["finding"].sum())) == (105, 21)
    assert (validation.height, int(validation["finding"].sum())) == (45, 9)
    keys_train, keys_validation = set(train["person_key"]), set(validation["person_key"])
    assert not keys_train & keys_validation
    assert keys_train | keys_validation == set(sample["person_key"])


def test_modelling_sample_is_reproducible_and_carries_the_prevalences(small_population):
    first = modelling_sample(small_population, "finding", np.random.default_rng(42))
    again = modelling_sample(small_population, "finding", np.random.default_rng(42))
    other = modelling_sample(small_population, "finding", np.random.default_rng(43))
    assert first.train["person_key"].to_list() == again.train["person_key"].to_list()
    assert first.train["person_key"].to_list() != other.train["person_key"].to_list()
    assert first.population_prevalence == pytest.approx(0.03)
    assert first.train_prevalence == pytest.approx(21 / 105)
    correction = first.prior_correction()
    assert (correction.population_prevalence, correction.sample_prevalence) == (pytest.approx(0.03), pytest.approx(0.2))
    assert first.sizes() == {
        "population": 1000,
        "population_positives": 30,
        "sample": 150,
        "train": 105,
        "train_positives": 21,
        "validation": 45,
        "validation_positives": 9,
    }


def test_no_positives_is_a_clear_error(small_population):
    with pytest.raises(ValueError, match="no positives"):
        modelling_sample(small_population.with_columns(pl.lit(0).alias("finding")), "finding", np.random.default_rng(0))
