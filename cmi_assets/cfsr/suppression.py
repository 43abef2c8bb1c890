"""Small-cell suppression: one rule for everything the CFSR group publishes (the
analysis-zone tables users read, Dagster metadata, the data-profile report).

A cell (a state, a state and group, a DQ check of a state) whose denominator is under
SUPPRESS_BELOW children shows its denominator but no numerator and no rate, nor
anything a numerator can be recovered from (an RSP, its interval, the predicted count
or the state's random effect); `suppressed` flags it and a status column reads
"suppressed" (a DQ cell stays "DQ": it shows nothing either way).

Computation uses the full counts (the pooled rate and the RSP model include small
states); suppression is applied to what is published. The threshold is the project's one
(cmi_assets/publish/disclosure.py, env CMI_SUPPRESS_BELOW). These analysis-zone tables carry
primary suppression only; what leaves the analysis zone (the open data package, `cmi
publish`) goes through publish/disclosure.py, which adds complementary suppression across
every published margin.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cmi_assets.publish.disclosure import SUPPRESS_BELOW

__all__ = ["SUPPRESS_BELOW", "suppress_small_cells", "suppress_national"]
SUPPRESSED = "suppressed"
DQ = "DQ"

# What each published table hides in a small cell.
BY_STATE_VALUES = ("numerator", "observed")
RSP_VALUES = ("numerator", "observed", "P", "u_mode", "rsp", "rsp_lower", "rsp_upper")
DRILLDOWN_VALUES = ("numerator", "observed")
DQ_VALUES = ("numerator", "rate")


def suppress_small_cells(
    table: pl.DataFrame,
    values: Sequence[str],
    *,
    denominator: str = "denominator",
    flag: str = "suppressed",
    status: str | None = None,
    min_denominator: int = SUPPRESS_BELOW,
) -> pl.DataFrame:
    """`values` set to null and `flag` true where `denominator` is under `min_denominator`;
    `status` (when given) set to "suppressed" there unless it is "DQ". A null
    denominator (nothing counted) is not a small cell."""
    missing = [c for c in (*values, denominator, *([status] if status else [])) if c not in table.columns]
    if missing:
        raise ValueError(f"suppress_small_cells: no column {', '.join(missing)}")
    small = (pl.col(denominator) < min_denominator).fill_null(False)
    hidden = [pl.when(~small).then(pl.col(c)).alias(c) for c in values]
    if status is not None:
        hidden.append(
            pl.when(small & (pl.col(status) != DQ).fill_null(True))
            .then(pl.lit(SUPPRESSED))
            .otherwise(pl.col(status))
            .alias(status)
        )
    return table.with_columns(*hidden, small.alias(flag))


def suppress_national(national: pl.DataFrame, min_denominator: int = SUPPRESS_BELOW) -> pl.DataFrame:
    """The pooled rows of `observed_recurrence`: DQ-passing states and all states, each
    against its own denominator."""
    passing = suppress_small_cells(national, ("numerator", "observed"), min_denominator=min_denominator)
    return suppress_small_cells(
        passing,
        ("numerator_all", "observed_all_states"),
        denominator="denominator_all",
        flag="suppressed_all_states",
        min_denominator=min_denominator,
    )
