"""prm.oracle_risk, as prm_model and prm_evaluation read it (prm_oracle_risk writes it;
oracle.py builds its rows and compares AUCs)."""

from __future__ import annotations

import polars as pl

from cmi_assets.prm.oracle import oracle_column
from cmi_assets.tables import table_exists

ORACLE_TABLE = "prm.oracle_risk"


def read_oracle(con, linkage_level: str, risk_column: str) -> pl.DataFrame:
    """person_key and one oracle risk column at one linkage level (empty when unknown)."""
    if not table_exists(con, ORACLE_TABLE):
        return pl.DataFrame(schema={"person_key": pl.String, risk_column: pl.Float64})
    return con.execute(
        f"select person_key, {risk_column} from {ORACLE_TABLE} where linkage_level = ?", [linkage_level]
    ).pl()


def oracle_note(has_oracle: bool, outcome: str = "finding_by_age_2") -> str:
    """Why an oracle AUC is missing: no oracle risk at all, or none for this outcome."""
    if oracle_column(outcome) is None:
        return f"oracle AUC not computed: the synthetic truth holds no true probability of {outcome}"
    if not has_oracle:
        return (
            "oracle AUC not computed: prm.oracle_risk is empty (no synthetic truth in this deployment, or "
            "prm_oracle_risk has not run)"
        )
    return "oracle AUC not computed"
