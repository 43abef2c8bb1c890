"""Predictor coding: dummies by hand, reference levels, and error messages that name the
column and row but never the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cmi_assets.prm.design import VariableSpec, design_matrix, infer_variable_specs

FRAME = pl.DataFrame(
    {
        "age_band": ["<20", "20-24", "20-24", "25-29", "20-24"],
        "single": [True, False, False, True, False],
        "benefit_share": [0.0, 0.5, 1.0, 0.25, 0.0],
    }
)


def test_specs_and_dummies_by_hand():
    specs = infer_variable_specs(FRAME, ["age_band", "single", "benefit_share"])
    age = specs[0]
    # "20-24" is the most frequent level (3 of 5), so it is the default reference.
    assert age == VariableSpec("age_band", "categorical", ("20-24", "25-29", "<20"), "20-24")
    assert [s.kind for s in specs[1:]] == ["numeric", "numeric"]
    X, names = design_matrix(FRAME, specs)
    assert names == ["intercept", "age_band[25-29]", "age_band[<20]", "single", "benefit_share"]
    expected = np.array(
        [
            [1, 0, 1, 1, 0.0],
            [1, 0, 0, 0, 0.5],
            [1, 0, 0, 0, 1.0],
            [1, 1, 0, 1, 0.25],
            [1, 0, 0, 0, 0.0],
        ]
    )
    np.testing.assert_array_equal(X, expected)


def test_explicit_reference_and_pandas_input():
    specs = infer_variable_specs(FRAME.to_pandas(), ["age_band"], references={"age_band": "<20"})
    assert specs[0].reference == "<20"
    assert specs[0].columns == ("age_band[20-24]", "age_band[25-29]")
    X, _ = design_matrix(pd.DataFrame({"age_band": ["<20", "25-29"]}), specs)
    np.testing.assert_array_equal(X, [[1, 0, 0], [1, 0, 1]])


def test_unseen_level_and_missing_value_errors_name_row_not_value():
    specs = infer_variable_specs(FRAME, ["age_band"])
    with pytest.raises(ValueError) as unseen:
        design_matrix(pl.DataFrame({"age_band": ["20-24", "SECRET-LEVEL"]}), specs)
    assert "row 2" in str(unseen.value) and "age_band" in str(unseen.value)
    assert "SECRET" not in str(unseen.value)
    with pytest.raises(ValueError, match="row 3"):
        infer_variable_specs(pl.DataFrame({"x": [1.0, 2.0, None]}), ["x"])


def test_spec_round_trips_through_a_dict():
    spec = infer_variable_specs(FRAME, ["age_band"])[0]
    assert VariableSpec.from_dict(spec.to_dict()) == spec
