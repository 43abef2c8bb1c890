"""A planted name and date of birth in malformed rows appear in no error message, reason
file, Dagster event log record or compute log, nor in a run's terminal output.

The riskiest malformed cases (malformed_cases.py) are delivered with the planted person in
the broken row: a file without its header (the person's row is read as the header), text
after a closing quote (the CSV parser's own message quotes the line), a Latin-1 name, a
NUL byte, a long field, a formula, a future and an impossible date, a duplicate key. They
run through Dagster on an instance with compute logs, one of them in a subprocess as a
deployment would run it; then every byte the instance wrote under DAGSTER_HOME (event log
databases and compute logs), every reason file and every error message is searched.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.sources.spec import load_spec
from cmi_assets.sources.validate import ExtractError, read_extract_bytes
from cmi_assets.storage import Storage
from cmi_assets_tests.reliability.harness import (
    PLANTED_FAMILY_NAME,
    PLANTED_GIVEN_NAME,
    cmi_environment,
    generate_source_world,
    start_subprocess_run,
    values_shown,
    write_instance_yaml,
)
from cmi_assets_tests.reliability.malformed_cases import CASES, Extract, source_rows

RAW = {asset.key.to_user_string(): asset for asset in RAW_ASSETS}
PLANTED_CASES = [
    "no header line (the first line is data)",
    "text after a closing quote",
    "Latin-1 encoded name",
    "NUL byte in a name",
    "very long field (2,700 characters)",
    "spreadsheet formula in a name (=HYPERLINK)",
    "future date of birth",
    "impossible date (30 February)",
    "duplicate key",
    "invalid UTF-8",
]
IN_SUBPROCESS = "no header line (the first line is data)"  # as `dagster asset materialize` would run it


def _case(name: str):
    return next(case for case in CASES if case.name == name)


def _instance_texts(home: Path) -> list[str]:
    """Every file the instance wrote (SQLite event and run storage, compute logs), as text."""
    return [path.read_bytes().decode("utf-8", errors="replace") for path in sorted(home.rglob("*")) if path.is_file()]


def _compute_logs(home: Path) -> list[Path]:
    return [path for path in home.rglob("*") if path.is_file() and path.suffix in {".out", ".err"}]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """The planted cases landed and materialized; what the search needs."""
    root = tmp_path_factory.mktemp("privacy")
    home = write_instance_yaml(root / "dagster_home")
    with cmi_environment(root / "data", home):
        storage = Storage.from_env()
        source_landing = generate_source_world(root / "source")
        secrets: set[str] = set()
        errors: list[str] = []
        subprocess_output = ""
        with dg.DagsterInstance.get() as instance:
            for number, name in enumerate(PLANTED_CASES, start=100):
                case = _case(name)
                spec = load_spec(case.agency).record_types[case.record_type]
                extract = Extract(case.agency, spec, number, source_rows(source_landing, case.agency, spec, number))
                delivery = case.build(extract)
                secrets |= extract.secrets
                try:
                    read_extract_bytes(delivery.content, delivery.name, spec)
                except ExtractError as error:
                    errors += [str(error), *(str(e) for e in error.errors)]
                path = storage.landing_dir / case.agency / delivery.name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(delivery.content)
                instance.add_dynamic_partitions(f"{case.agency}_extracts", [delivery.name])
                if name == IN_SUBPROCESS:
                    run = start_subprocess_run(
                        [f"raw_{case.agency}"], root / "runs", "planted", partition=delivery.name
                    )
                    run.wait()
                    subprocess_output = run.output()
                else:
                    dg.materialize(
                        [RAW[f"raw_{case.agency}"]],
                        instance=instance,
                        partition_key=delivery.name,
                        resources={"storage": StorageResource()},
                        raise_on_error=False,
                    )
            runs = instance.get_runs()
            event_records = [dg.serialize_value(record) for run in runs for record in instance.all_logs(run.run_id)]
        yield {
            "storage": storage,
            "home": home,
            "secrets": secrets,
            "errors": errors,
            "runs": runs,
            "event_records": event_records,
            "subprocess_output": subprocess_output,
        }


def test_planted_identity_reaches_no_error_reason_file_event_log_or_compute_log(delivered, reliability_log):
    storage, home, secrets = delivered["storage"], delivered["home"], delivered["secrets"]
    quarantined = [p for p in storage.quarantine_dir.rglob("*") if p.is_file() and not p.name.endswith(".reason.txt")]
    reasons = [p.read_text(encoding="utf-8") for p in storage.quarantine_dir.rglob("*.reason.txt")]
    compute_logs = _compute_logs(home)
    places = {
        "error messages": delivered["errors"],
        "reason files": reasons,
        "event log records": delivered["event_records"],
        "compute logs": [p.read_text(errors="replace") for p in compute_logs],
        "every file under DAGSTER_HOME": _instance_texts(home),
        "the subprocess run's terminal output": [delivered["subprocess_output"]],
    }
    found = {place: values_shown(texts, secrets) for place, texts in places.items()}
    # The search is real: the planted values are in the quarantined files themselves, and
    # every place searched holds the runs' messages.
    control = values_shown(
        [p.read_bytes().decode("latin-1") for p in quarantined], {PLANTED_GIVEN_NAME, PLANTED_FAMILY_NAME}
    )
    observed = (
        f"{len(delivered['runs'])} runs and {len(reasons)} reason files, with every event record and compute log, "
        f"searched for {len(secrets)} planted values (name, date of birth in four formats, agency IDs): "
        + "; ".join(f"{place}: {len(values) or 'none'}" for place, values in found.items())
        + f"; control: the planted name found in the quarantined files ({len(control)} of 2 parts)"
    )
    reliability_log.record(
        "privacy",
        f"{len(PLANTED_CASES)} malformed files carrying a planted person ({', '.join(PLANTED_CASES)})",
        "the planted name, date of birth and IDs appear nowhere but in the quarantined files",
        observed,
    )

    assert len(reasons) == len(PLANTED_CASES) and len(delivered["runs"]) == len(PLANTED_CASES), observed
    assert compute_logs and any("quarantined to" in text for text in places["compute logs"]), (
        "no compute log of the runs"
    )
    assert "problem(s), quarantined" in delivered["subprocess_output"], delivered["subprocess_output"][-2000:]
    assert control == sorted([PLANTED_FAMILY_NAME, PLANTED_GIVEN_NAME]), observed
    assert not any(found.values()), observed
