"""The oracle risk as an asset: the synthetic world's true risk of each cohort child keyed
by person_key, so prm_model and prm_evaluation can set the oracle's AUC beside the model's
on exactly the same children (prm/oracle.py is the library).

The truth files and the identified linkage tables are read inside this asset only; what it
writes to the analysis zone (prm.oracle_risk) is person_key, linkage level, birth year and
the true probabilities. Without a synthetic truth (production) it writes an empty table and
says so.
"""

import dagster as dg
import polars as pl

from cmi_assets.defs.prm.preset import prm_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.quality import attach_truth
from cmi_assets.linkage.tables import PERSON_RECORDS_TABLE, SPINE_TABLE
from cmi_assets.metadata import mapping_table, table_metadata
from cmi_assets.prm.oracle import (
    CHILD_RECORD_SLOTS,
    ORACLE_COLUMNS,
    child_record_keys,
    empty_oracle_table,
    oracle_risk_table,
)
from cmi_assets.prm.oracle_table import ORACLE_TABLE
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import replace_table, table_exists


def truth_files(storage: StorageResource):
    """(children.parquet, record_persons.parquet) of the synthetic truth, or None."""
    truth_dir = storage.storage().truth_dir
    children, records = truth_dir / "children.parquet", truth_dir / "record_persons.parquet"
    return (children, records) if children.exists() and records.exists() else None


@prm_asset(
    deps=["person_records", "person_spine"],
    kinds={"polars", "duckdb"},
    metadata=table_metadata(
        WAREHOUSE,
        ORACLE_TABLE,
        [
            ("person_key", "VARCHAR", "pseudonymous child key"),
            ("linkage_level", "VARCHAR", "conservative / less_conservative"),
            ("birth_year", "INTEGER"),
            ("p_finding_by_age_2", "DOUBLE", "true probability of a finding by age 2"),
            ("p_finding_by_age_5", "DOUBLE", "true probability of a finding by age 5"),
        ],
    ),
)
def prm_oracle_risk(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The synthetic world's true risk of each child (truth children.parquet: p_finding_by_age_2 and _5),
    keyed by the person_key of the child's birth-registration record (else benefit-inclusion record) at each
    linkage level, for the oracle AUC beside the model's. Analysis zone, prm.oracle_risk: person_key,
    linkage_level, birth_year and the risks only. Empty, with a note, where there is no synthetic truth
    (production)."""
    files = truth_files(storage)
    counts: dict = {}
    if files is None:
        table, note = empty_oracle_table(), "no synthetic truth in this deployment: no oracle risk (empty table)"
    else:
        with storage.identified(read_only=True) as con:
            if table_exists(con, PERSON_RECORDS_TABLE) and table_exists(con, SPINE_TABLE):
                wanted = " or ".join(f"(agency = '{a}' and record_type = '{r}')" for a, r, _ in CHILD_RECORD_SLOTS)
                records = con.execute(
                    f"select unique_id, agency, record_type, record_key, slot from {PERSON_RECORDS_TABLE} "
                    f"where {wanted}"
                ).pl()
                spine = con.execute(f"select unique_id, level, person_key from {SPINE_TABLE}").pl()
            else:
                records = spine = None
        if records is None:
            table, note = empty_oracle_table(), "no person spine yet: no oracle risk (empty table)"
        else:
            children = pl.read_parquet(files[0], columns=["true_person_id", "birth_year", *ORACLE_COLUMNS])
            record_truth = pl.read_parquet(files[1]).filter(  # every slot of those records, as linkage_quality reads it
                pl.concat_str("agency", "record_type", separator="|").is_in(
                    [f"{a}|{r}" for a, r, _ in CHILD_RECORD_SLOTS]
                )
            )
            keys = child_record_keys(attach_truth(records, record_truth), spine)
            table, counts = oracle_risk_table(children, keys)
            note = (
                f"{table.height} person_keys carry a true risk, from the children's birth-registration and "
                "benefit-inclusion slots; a child split over several keys gives each its risk, a key shared by "
                "several true children carries their mean risk"
            )
    with storage.warehouse() as con:
        written = replace_table(con, ORACLE_TABLE, table)
    context.log.info(f"prm_oracle_risk: {note}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "truth": files is not None,
            # per level, as a table: "children_keyed_less_conservative" is too long a key for the UI
            "keys_by_level": mapping_table(counts, "count", "children"),
            "note": dg.MetadataValue.md(note),
        }
    )
