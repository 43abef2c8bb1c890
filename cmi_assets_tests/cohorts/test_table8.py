"""Table 8 rows from the features, keyed like the synthetic world's truth."""

import numpy as np
import pytest

from cmi_assets.cohorts.table8 import TABLE8_ROWS, table8_profile
from cmi_assets.synthetic.markers import TABLE8_MARKERS


def test_rows_match_the_world_truth_keys():
    assert list(TABLE8_ROWS) == TABLE8_MARKERS


def test_profile_of_the_hand_built_cohort(features_2010, outcomes_2010):
    profile = table8_profile(features_2010, outcomes_2010)
    rows = {r["row"]: r for r in profile.iter_rows(named=True)}
    # 8 children: A B C E G K T1 T2; findings by age 2: A only
    assert rows["male"]["pct_all"] == 62.5  # A C G K T2
    assert rows["single_parent"]["pct_all"] == 37.5  # B C E
    assert rows["no_registration_by_3_months"]["pct_all"] == 25.0  # E K
    assert rows["high_deprivation"]["pct_all"] == pytest.approx(33.3)  # A C of the 6 with a decile
    assert rows["other_children_cp_history_5y"]["pct_finding_by_age_2"] == 100.0
    assert rows["single_parent"]["pct_finding_by_age_2"] == 0.0
    assert profile["n_finding_by_age_2"][0] == 1


def test_profile_of_a_referred_group(features_2010, outcomes_2010):
    referred = features_2010["person_key"].is_in(["B", "C"]).to_numpy()
    rows = {r["row"]: r for r in table8_profile(features_2010, outcomes_2010, referred=referred).iter_rows(named=True)}
    assert rows["single_parent"]["pct_referred"] == 100.0
    assert rows["on_benefit_by_3_months"]["pct_referred"] == 50.0
    with pytest.raises(ValueError):
        table8_profile(features_2010, outcomes_2010, referred=np.ones(3, dtype=bool))
