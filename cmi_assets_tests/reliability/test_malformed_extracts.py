"""Malformed agency extracts through the real raw_<agency> assets, one partition each, on a
real DuckDB file and a real Dagster instance.

The base is the small synthetic world's 2018 files of the five person agencies, loaded
and staged through Dagster. Each case (malformed_cases.py) lands one file built from the
world's 2019 rows and materializes its partition together with the record type's staged
model. A rejected file must fail its partition with an error naming file, line and field
(never a value), be quarantined with a reason file, and leave every earlier partition and
staged table with its row count. An accepted file must load with the right rows and values.
The planted name and date of birth in the broken row must not reach the reason file or
the run's event log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS
from cmi_assets.sources.quarantine import reason_path
from cmi_assets.sources.spec import load_spec
from cmi_assets.storage import IDENTIFIED, Storage
from cmi_assets_tests.reliability.harness import (
    PERSON_AGENCIES,
    cmi_environment,
    generate_source_world,
    land_files,
    raw_rows_by_file,
    row_counts,
    values_shown,
    yearly_files,
)
from cmi_assets_tests.reliability.malformed_cases import CASES, Case, Delivery, Extract, Rejected, source_rows

RAW = {asset.key.to_user_string(): asset for asset in RAW_ASSETS}
STAGED = {asset.key.to_user_string(): asset for asset in SQL_MODEL_ASSETS}
BASE_YEAR = 2018


# ---- the base world ----------------------------------------------------------------------------


@dataclass
class Base:
    instance: dg.DagsterInstance
    storage: Storage
    source_landing: Path
    root: Path

    def counts(self) -> dict:
        with self.storage.connect(IDENTIFIED, read_only=True) as con:
            return {**raw_rows_by_file(con), **{("stg", t): n for t, n in row_counts(con, "stg").items()}}

    def raw_rows(self, table: str, file_name: str) -> list[dict]:
        with self.storage.connect(IDENTIFIED, read_only=True) as con:
            frame = con.execute(
                f"select * from raw.{table} where _extract_file = ? order by _row_number", [file_name]
            ).pl()
        return frame.to_dicts()


def _materialize(instance, agency: str, staged: list[str], partition: str | None):
    assets = ([RAW[f"raw_{agency}"]] if partition else []) + [STAGED[name] for name in staged]
    return dg.materialize(
        assets,
        instance=instance,
        partition_key=partition,
        resources={"storage": StorageResource()},
        raise_on_error=False,
    )


def _staged_model(agency: str, record_type: str) -> str:
    return f"stg_{agency}_{record_type}"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("malformed")
    with cmi_environment(root / "data"):
        storage = Storage.from_env()
        source_landing = generate_source_world(root / "source")
        landed = land_files(yearly_files(source_landing, (BASE_YEAR,)), storage.landing_dir)
        (root / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
            for path in landed:
                agency = path.parent.name
                instance.add_dynamic_partitions(f"{agency}_extracts", [path.name])
                assert _materialize(instance, agency, [], path.name).success, path.name
            staged = [_staged_model(a, rt) for a in PERSON_AGENCIES for rt in load_spec(a).record_types]
            assert _materialize(instance, "births", staged, None).success
            yield Base(instance, storage, source_landing, root)


# ---- one case ------------------------------------------------------------------------------------


_PROBLEM = re.compile(r"^line (\S+)\tfield (\S+)\trule (\S+)\t(.*)$", re.MULTILINE)


def _land(base: Base, agency: str, delivery: Delivery) -> Path:
    path = base.storage.landing_dir / agency / delivery.name
    path.parent.mkdir(parents=True, exist_ok=True)
    if delivery.link_to is not None:
        target = base.root / delivery.link_to
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(delivery.content)
        path.symlink_to(target)
    else:
        path.write_bytes(delivery.content)
    return path


def _expected_value(column, text: str):
    """An independent reading of one delivered value (stdlib only)."""
    if text == "":
        return None  # an empty field is loaded as null
    if column.type == "date":
        return datetime.strptime(text.strip(), column.date_format).date()
    if column.type == "int":
        return int(text)
    return text


def _changed(before: dict, after: dict, allowed: set) -> list[str]:
    keys = sorted(set(before) | set(after), key=str)
    return [
        f"{'.'.join(k)} {before.get(k, 0)}->{after.get(k, 0)}"
        for k in keys
        if k not in allowed and before.get(k, 0) != after.get(k, 0)
    ]


def _observe_rejection(
    base: Base, case: Case, delivery: Delivery, landed: Path, result, before, after, extract
) -> tuple[str, dict]:
    quarantined = base.storage.quarantine_dir / case.agency / delivery.name
    reason = reason_path(quarantined).read_text(encoding="utf-8") if reason_path(quarantined).exists() else ""
    problems = _PROBLEM.findall(reason)
    line, field_name, rule, text = problems[0] if problems else ("?", "?", "?", "no reason file")
    events = [str(record) for record in base.instance.all_logs(result.run_id)]
    materializations = result.asset_materializations_for_node(f"raw_{case.agency}")
    failures = [e.step_failure_data.error.cls_name for e in result.get_step_failure_events()]
    facts = {
        "first": (None if line == "-" else int(line), None if field_name == "-" else field_name, rule),
        "fields": {p[1] for p in problems},
        # failed by its blocking check, the file recorded as not loaded (not by an exception)
        "run_failed": not result.success
        and failures == ["DagsterAssetCheckFailedError"]
        and [m.metadata["loaded"].value for m in materializations] == [False]
        and any(
            not e.passed and e.severity == dg.AssetCheckSeverity.ERROR for e in result.get_asset_check_evaluations()
        ),
        # the failed check's description starts with the file's name, then its line and field
        "names_file": any(
            not e.passed and (e.description or "").startswith(delivery.name)
            for e in result.get_asset_check_evaluations()
        ),
        "quarantined": (quarantined.is_file() or quarantined.is_symlink())
        and not (landed.exists() or landed.is_symlink()),
        "changed": _changed(before, after, set()),
        "shown": values_shown([reason, *events], extract.secrets),
    }
    where = ", ".join(
        p for p in (f"line {line}" if line != "-" else "", f"field {field_name}" if field_name != "-" else "") if p
    )
    observed = "; ".join(
        [
            f"rejected: {where or 'the whole file'}, rule {rule} ({text})",
            "the failed check names the file" if facts["names_file"] else "THE FAILED CHECK DOES NOT NAME THE FILE",
            "partition failed by its blocking check"
            if facts["run_failed"]
            else f"PARTITION NOT FAILED BY ITS CHECK ({failures})",
            "quarantined with a reason" if facts["quarantined"] and reason else "NOT QUARANTINED",
            "nothing else changed" if not facts["changed"] else "CHANGED " + ", ".join(facts["changed"]),
            "no value shown" if not facts["shown"] else f"{len(facts['shown'])} VALUES SHOWN",
        ]
    )
    return observed, facts


def _observe_acceptance(base: Base, case: Case, delivery: Delivery, result, before, after) -> tuple[str, dict]:
    spec = load_spec(case.agency).record_types[case.record_type]
    table, staged = spec.table_name, _staged_model(case.agency, case.record_type)
    loaded = base.raw_rows(table, delivery.name)
    expected = [{c.name: _expected_value(c, row[c.name]) for c in spec.columns} for row in delivery.rows]
    facts = {
        "run_succeeded": result.success,
        "rows": len(loaded),
        "values_as_delivered": [{c: row[c] for c in spec.column_names} for row in loaded] == expected,
        "staged_added": after.get(("stg", staged), 0) - before.get(("stg", staged), 0),
        "changed": _changed(before, after, {(table, delivery.name), ("stg", staged)}),
    }
    observed = "; ".join(
        [
            f"accepted: {facts['rows']} rows loaded into raw.{table}",
            "every value as delivered" if facts["values_as_delivered"] else "VALUES DIFFER",
            f"{staged} +{facts['staged_added']} rows",
            "partition succeeded" if facts["run_succeeded"] else "PARTITION FAILED",
            "nothing else changed" if not facts["changed"] else "CHANGED " + ", ".join(facts["changed"]),
        ]
    )
    return observed, facts


@pytest.mark.parametrize("number, case", list(enumerate(CASES, start=1)), ids=[c.name for c in CASES])
def test_malformed_extract(base, reliability_log, number, case):
    spec = load_spec(case.agency).record_types[case.record_type]
    extract = Extract(case.agency, spec, number, source_rows(base.source_landing, case.agency, spec, number))
    delivery = case.build(extract)
    before = base.counts()
    landed = _land(base, case.agency, delivery)
    base.instance.add_dynamic_partitions(f"{case.agency}_extracts", [delivery.name])
    record_type = load_spec(case.agency).record_type_for(delivery.name)
    staged = [_staged_model(case.agency, record_type.name)] if record_type else []
    result = _materialize(base.instance, case.agency, staged, delivery.name)
    after = base.counts()

    if isinstance(case.expected, Rejected):
        observed, facts = _observe_rejection(base, case, delivery, landed, result, before, after, extract)
    else:
        observed, facts = _observe_acceptance(base, case, delivery, result, before, after)
    reliability_log.record(
        "malformed", f"{case.agency} {case.record_type}: {case.name}", case.expected.describe(), observed
    )

    if isinstance(case.expected, Rejected):
        assert facts["first"] == (case.expected.line, case.expected.field, case.expected.rule), observed
        assert set(case.expected.also_fields) <= facts["fields"], observed
        assert facts["run_failed"] and facts["names_file"] and facts["quarantined"], observed
        assert facts["changed"] == [], observed
        assert facts["shown"] == [], f"values in the reason file or event log: {facts['shown']}"
        if delivery.link_to is not None:  # the link moved, its target neither read nor touched
            assert (base.root / delivery.link_to).read_bytes() == delivery.content
    else:
        assert facts["run_succeeded"] and facts["values_as_delivered"], observed
        assert facts["rows"] == facts["staged_added"] == len(delivery.rows), observed
        assert facts["changed"] == [], observed
