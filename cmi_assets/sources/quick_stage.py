"""Staged identity tables straight from a landing folder, for benchmarks and tests that
time or exercise later stages only. It skips what the sources and staging assets do for
real (validation, quarantine, provenance, latest-delivery dedupe): all columns read as
text, dates parsed with the spec's formats, empty strings null, names lower-cased."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cmi_assets.sources.spec import all_specs


def stage_person_extracts(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> None:
    """stg.stg_<agency>_<record_type> for every record type with persons in its spec."""
    con.execute("CREATE SCHEMA IF NOT EXISTS stg")
    for agency in all_specs().values():
        for spec in agency.record_types.values():
            files = sorted(str(p) for p in (Path(landing_dir) / agency.agency).glob(spec.file_pattern))
            if not spec.persons or not files:
                continue
            columns = []
            for c in spec.columns:
                value = f"NULLIF(\"{c.name}\", '')"
                if c.type == "date":
                    value = f"CAST(strptime({value}, '{c.date_format or spec.date_format}') AS DATE)"
                elif c.type == "int":
                    value = f"CAST({value} AS BIGINT)"
                columns.append(f'{value} AS "{c.name.lower()}"')
            file_list = ", ".join(f"'{f}'" for f in files)
            con.execute(
                f"CREATE OR REPLACE TABLE stg.stg_{agency.agency}_{spec.name} AS SELECT {', '.join(columns)} "
                f"FROM read_csv([{file_list}], all_varchar = true, header = true)"
            )
