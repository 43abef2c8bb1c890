"""What the reliability tests share: a small synthetic world, the environment a module's
tests run in, materializations in-process and in a subprocess that can be paused and
killed, row counts, and the generated table of cases (docs/reliability.md).

Everything is real: a DuckDB file in a temporary folder, a Dagster instance on a
temporary DAGSTER_HOME, the project's own Definitions and assets.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RELIABILITY_DOC = PROJECT_ROOT / "docs" / "reliability.md"
WRITE_DOC_VARIABLE = "CMI_WRITE_RELIABILITY"
RUNNER = Path(__file__).with_name("materialize_in_subprocess.py")

# The smallest world whose yearly files exercise every record type and train the linkage.
WORLD_PROFILE, WORLD_SCALE, WORLD_SEED = "small", 0.001, 11
PERSON_AGENCIES = ("births", "benefits", "child_protection", "corrections", "health")
TEST_PSEUDONYM_KEY = "test-only-key-not-secret"

# A person no synthetic world holds: searched for in every log after planting it in bad rows.
PLANTED_GIVEN_NAME, PLANTED_FAMILY_NAME = "Zebediah", "Quixotewell"
PLANTED_DOB = (1987, 6, 23)

_ENV_NAMES = (
    "CMI_DATA_DIR",
    "CMI_LANDING_DIR",
    "CMI_QUARANTINE_DIR",
    "CMI_TRUTH_DIR",
    "CMI_PSEUDONYM_KEY",
    "CMI_COHORT_YEARS",
    "CMI_DUCKDB_LOCK_WAIT_SECONDS",
    "DAGSTER_HOME",
)


# ---- environment and world --------------------------------------------------------------------


@contextmanager
def cmi_environment(data_dir: Path, dagster_home: Path | None = None, **extra: str) -> Iterator[dict[str, str]]:
    """CMI_* (and DAGSTER_HOME) pointed at one folder for a module's tests, restored after.
    Yields the variables set, for subprocesses."""
    saved = {name: os.environ.get(name) for name in _ENV_NAMES}
    values = {"CMI_DATA_DIR": str(data_dir), "CMI_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY, **extra}
    if dagster_home is not None:
        values["DAGSTER_HOME"] = str(dagster_home)
    try:
        for name in _ENV_NAMES:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield values
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def generate_source_world(folder: Path) -> Path:
    """The small synthetic world, written outside landing; returns its landing folder."""
    from cmi_assets.synthetic.world import generate_world

    generate_world(folder, profile=WORLD_PROFILE, scale=WORLD_SCALE, seed=WORLD_SEED)
    return folder / "landing"


def yearly_files(source_landing: Path, years: tuple[int, ...], agencies=PERSON_AGENCIES) -> list[Path]:
    """The world's files of single calendar years (not the history file, not NCANDS)."""
    return sorted(
        path
        for agency in agencies
        for path in (source_landing / agency).glob("*.csv")
        if path.stem[-4:].isdigit() and int(path.stem[-4:]) in years and not path.name.startswith("ncands_")
    )


def land_files(paths: list[Path], landing_dir: Path) -> list[Path]:
    """Copy world files into landing/<agency>/ (the agency is the source file's folder)."""
    landed = []
    for path in paths:
        target = landing_dir / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        landed.append(target)
    return landed


def write_instance_yaml(home: Path, duckdb_pool_limit: int | None = 1) -> Path:
    """A DAGSTER_HOME like deploy/dagster.yaml: op-level pools of `duckdb_pool_limit` slots
    (None: no pool limit at all, as on an instance set up without the project's dagster.yaml)."""
    home.mkdir(parents=True, exist_ok=True)
    lines = ["telemetry:", "  enabled: false"]
    if duckdb_pool_limit is not None:
        lines = ["concurrency:", "  pools:", f"    default_limit: {duckdb_pool_limit}", "    granularity: op", *lines]
    (home / "dagster.yaml").write_text("\n".join(lines) + "\n")
    return home


def register_partitions(instance, landing_dir: Path) -> None:
    from cmi_assets.demo import register_landed_partitions

    register_landed_partitions(instance, landing_dir)


# ---- materializing ------------------------------------------------------------------------------


def selection_job(asset_keys: list[str], with_checks: bool = True):
    """The project's Definitions as one job over `asset_keys` (as `dagster asset materialize`)."""
    import dagster as dg

    from cmi_assets.definitions import defs as load_defs

    defs = load_defs()
    selection = dg.AssetSelection.assets(*asset_keys)
    if not with_checks:
        selection = selection.without_checks()
    return dg.Definitions(
        assets=list(defs.assets or []),
        asset_checks=list(defs.asset_checks or []),
        resources=dict(defs.resources or {}),
        jobs=[dg.define_asset_job("reliability", selection=selection)],
    ).resolve_job_def("reliability")


def materialize_in_process(instance, asset_keys: list[str], partition: str | None = None, with_checks: bool = True):
    """One run in this process. Refuses to start while a slot is held (the run would wait for
    ever); the caller frees abandoned slots first (cmi_assets.defs.run_recovery)."""
    held = instance.event_log_storage.get_concurrency_run_ids()
    assert not held, f"concurrency slots still held by runs {sorted(held)}"
    return selection_job(asset_keys, with_checks).execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )


@dataclass
class SubprocessRun:
    """A materialization in its own process (materialize_in_subprocess.py)."""

    process: subprocess.Popen
    marker: Path
    log: Path
    release_file: Path

    def release(self) -> None:
        """Let a run paused until released go on."""
        self.release_file.write_text("go\n")

    def wait_until_paused(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"the run ended (exit {self.process.returncode}) before its pause:\n{self.tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"no pause within {timeout} s:\n{self.tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or rolled back by the process itself."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the run did not finish within {timeout} s:\n{self.tail()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def start_subprocess_run(
    asset_keys: list[str],
    workdir: Path,
    name: str,
    partition: str | None = None,
    pause_at: str | None = None,
    pause_after: bool = False,
    pause_seconds: float = 3600,
    env: dict[str, str] | None = None,
) -> SubprocessRun:
    """Start materialize_in_subprocess.py with this process's environment (plus `env`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    marker, log, release = workdir / f"{name}.paused", workdir / f"{name}.log", workdir / f"{name}.release"
    marker.unlink(missing_ok=True)
    release.unlink(missing_ok=True)
    command = [sys.executable, str(RUNNER), "--select", ",".join(asset_keys)]
    if partition is not None:
        command += ["--partition", partition]
    if pause_at is not None:
        command += [
            "--pause-at",
            pause_at,
            "--pause-seconds",
            str(pause_seconds),
            "--marker",
            str(marker),
            "--release",
            str(release),
        ]
        if pause_after:
            command.append("--pause-after")
    environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT)
    return SubprocessRun(process, marker, log, release)


# ---- observing ----------------------------------------------------------------------------------


def row_counts(con, schema: str) -> dict[str, int]:
    """Rows of every table of a schema."""
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'",
            [schema],
        ).fetchall()
    ]
    return {table: con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0] for table in sorted(tables)}


def raw_rows_by_file(con) -> dict[tuple[str, str], int]:
    """(raw table, extract file) -> rows, over every raw table."""
    counts = {}
    for table in row_counts(con, "raw"):
        for file, rows in con.execute(f"select _extract_file, count(*) from raw.{table} group by 1").fetchall():
            counts[(table, file)] = rows
    return counts


def values_shown(texts: list[str], values: set[str]) -> list[str]:
    """The values found as whole tokens in any of the texts (so an ID of digits is not
    "found" inside a timestamp)."""
    joined = "\n".join(texts)
    return sorted(v for v in values if re.search(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])", joined))


# ---- the generated table of cases -------------------------------------------------------------


SECTIONS = {
    "malformed": "Malformed extracts (one raw_<agency> partition each, through Dagster)",
    "crash": "Runs killed with SIGKILL (kill -9) in the middle of a write",
    "concurrency": "Two runs writing one DuckDB file at once",
    "privacy": "A planted name and date of birth in malformed rows",
}


@dataclass
class ReliabilityLog:
    """Observed outcomes, recorded by the tests as they run (before they assert)."""

    rows: dict[str, dict[str, tuple[str, str]]] = field(default_factory=lambda: {s: {} for s in SECTIONS})

    def record(self, section: str, case: str, expected: str, observed: str) -> None:
        self.rows[section][case] = (expected, observed)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_reliability_doc(log: ReliabilityLog) -> str:
    lines = [
        "# Reliability: malformed extracts, killed runs, concurrent writers",
        "",
        "Generated by the tests in `cmi_assets_tests/reliability/` from what each case observed on a",
        "real DuckDB file and a real Dagster instance; do not edit by hand. After a change, regenerate with",
        "",
        f"    {WRITE_DOC_VARIABLE}=1 .venv/bin/pytest -q cmi_assets_tests/reliability",
        "",
        "and commit the result; without the variable, the last test fails when this file differs from",
        "what the run observed.",
    ]
    for section, title in SECTIONS.items():
        rows = log.rows[section]
        lines += [
            "",
            f"## {title}",
            "",
            f"{len(rows)} case{'' if len(rows) == 1 else 's'}.",
            "",
            "| case | expected | observed |",
            "|---|---|---|",
        ]
        lines += [
            f"| {_cell(case)} | {_cell(expected)} | {_cell(observed)} |" for case, (expected, observed) in rows.items()
        ]
    return "\n".join(lines) + "\n"
