"""The scorer: log-odds by hand, the prior correction as an intercept shift."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from cmi_assets.prm.design import VariableSpec
from cmi_assets.prm.prior import PriorCorrection
from cmi_assets.prm.scoring import LogisticScorer

AGE = VariableSpec("age_band", "categorical", ("20-24", "<20"), "20-24")
SINGLE = VariableSpec("single", "numeric")


def test_log_odds_by_hand():
    scorer = LogisticScorer((AGE, SINGLE), ("intercept", "age_band[<20]", "single"), (-3.0, 1.0, 0.5))
    frame = pl.DataFrame({"age_band": ["<20", "20-24"], "single": [True, True]})
    # -3 + 1 + 0.5 = -1.5 and -3 + 0.5 = -2.5.
    np.testing.assert_allclose(scorer.log_odds(frame), [-1.5, -2.5])
    corrected = scorer.with_prior_correction(PriorCorrection(0.02, 0.2))
    # The correction only moves the intercept: by -ln 12.25.
    np.testing.assert_allclose(corrected.log_odds(frame), [-1.5 - np.log(12.25), -2.5 - np.log(12.25)])
    np.testing.assert_allclose(corrected.predict_proba(frame), expit(corrected.log_odds(frame)))


def test_column_names_must_match_the_variables():
    with pytest.raises(ValueError):
        LogisticScorer((AGE,), ("intercept", "age_band[20-24]"), (0.0, 1.0))
