"""The clerical sample's headline and log lines: each level's weighted child agreement,
only where the truth played the reviewer (family estimates are not headlines)."""

from cmi_assets.linkage.clerical_sample import ClericalSample


def test_headline_and_log_lines_per_level():
    sample = ClericalSample(
        children=30,
        children_by_level={"conservative": 20, "less_conservative": 10},
        agreement={
            "conservative child": {"estimate": 0.95, "ci_low": 0.9, "ci_high": 0.99},
            "conservative family": {"estimate": 0.8, "ci_low": 0.7, "ci_high": 0.9},
        },
    )
    assert sample.headline() == {"conservative/agreement": 0.95}
    assert sample.log_lines() == ["conservative: 20 children sampled; weighted agreement 0.9500 (95% CI 0.9000-0.9900)"]


def test_no_truth_no_headline():
    sample = ClericalSample(children=5, children_by_level={"conservative": 5, "less_conservative": 0})
    assert sample.headline() == {}
    assert sample.log_lines() == []
