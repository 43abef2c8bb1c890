"""The separation principle, for real (docs/separation.md): a small world is linked by the
linker code location in a process of its own, then the analyst code location materializes
every one of its assets in a process whose OS user cannot read the identified file.

As root (CI), the analyst's process runs as nobody (setpriv) and the identified file is
root's, mode 600; otherwise the file is mode 000 for the test's own user. Before anything
else the test proves that this process cannot open the file, by the project's own storage
code, so a setup that let it through fails the test instead of passing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("location_runner.py")
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
# The smallest world whose files train the linkage (the reliability tests' world); its
# history files only, the NCANDS Child Files and the reference file: 23 extracts.
PROFILE, SCALE, SEED = "small", 0.001, 11
COHORT_YEARS = "2010-2012"  # cohorts whose outcomes to age five the history files hold


def _landed(name: str) -> bool:
    """History files (births_registrations_1990-2017.csv), Child Files and the reference
    file; not the single-year files, which only add partitions and minutes."""
    stem = name.removesuffix(".csv")
    return not stem[-4:].isdigit() or stem[-9:-4].endswith("-") or stem.startswith(("ncands_", "reference_"))


def _as_analyst(command: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command] if AS_ROOT else command


def _run(command: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _summary(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chown_tree(path: Path, uid: int) -> None:
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, uid, follow_symlinks=False)


@pytest.fixture(scope="module")
def separated():
    from cmi_assets.demo import world_fiscal_years
    from cmi_assets.synthetic.world import generate_world

    # pytest's temporary folders are private to their user: nobody could not reach one
    root = Path(tempfile.mkdtemp(prefix="cmi_separation_"))
    try:
        os.chmod(root, 0o755)
        data, home, source = root / "data", root / "dagster_home", root / "source"
        generate_world(source, profile=PROFILE, scale=SCALE, seed=SEED)
        for path in (source / "landing").rglob("*.csv"):
            if _landed(path.name):
                target = data / "world" / "landing" / path.parent.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        shutil.copytree(source / "truth", data / "world" / "truth")  # the evaluation assets read it
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        (root / "user_home").mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CMI_", "DAGSTER_"))},
            "CMI_DATA_DIR": str(data),
            "CMI_PSEUDONYM_KEY": "test-only-key-not-secret",
            "CMI_COHORT_YEARS": COHORT_YEARS,
            **world_fiscal_years(PROFILE),
            "DAGSTER_HOME": str(home),
            # caches an unprivileged user can write (matplotlib, numba)
            "HOME": str(root / "user_home"),
            "MPLCONFIGDIR": str(root / "user_home" / "matplotlib"),
            "NUMBA_CACHE_DIR": str(root / "user_home" / "numba"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        linker = _summary(_run([sys.executable, str(RUNNER), "linker"], env))

        identified = data / "identified.duckdb"
        assert identified.exists() and not identified.with_suffix(".duckdb.wal").exists()
        if AS_ROOT:
            # The data folder and the warehouse are the analyst's to write, the Dagster home
            # too; the identified file, the extracts and the linkage files stay root's.
            _chown_tree(data, NOBODY)
            _chown_tree(home, NOBODY)
            _chown_tree(root / "user_home", NOBODY)
            for private in (identified, data / "world" / "landing", data / "linkage"):
                _chown_tree(private, 0)
            os.chmod(identified, 0o600)
            for folder in (data / "world" / "landing", data / "linkage"):
                os.chmod(folder, 0o700)
        else:
            os.chmod(identified, 0o000)
        yield {"root": root, "data": data, "home": home, "env": env, "linker": linker, "identified": identified}
    finally:
        shutil.rmtree(root, ignore_errors=True)


PROBE = """
import json, duckdb
from cmi_assets.defs.resources import StorageResource
from cmi_assets.storage import ZoneRefusedError
from cmi_assets.definitions import analyst_defs
seen = {}
try:
    open(%r, "rb").close(); seen["open"] = "read"
except PermissionError:
    seen["open"] = "PermissionError"
try:
    with StorageResource().identified(read_only=True) as con:  # the linker's storage, in this process
        con.execute("select 1"); seen["linker_storage"] = "opened"
except duckdb.Error as error:
    seen["linker_storage"] = "Permission denied" if "Permission denied" in str(error) else str(error)
try:
    with analyst_defs().resources["storage"].identified(read_only=True):
        seen["analyst_storage"] = "opened"
except ZoneRefusedError:
    seen["analyst_storage"] = "ZoneRefusedError"
print(json.dumps(seen))
"""


def test_the_analyst_process_cannot_open_the_identified_file(separated):
    """The premise: without it the next test would prove nothing."""
    done = _run(_as_analyst([sys.executable, "-c", PROBE % str(separated["identified"])]), separated["env"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "open": "PermissionError",
        "linker_storage": "Permission denied",
        "analyst_storage": "ZoneRefusedError",
    }


def test_the_analyst_location_materializes_everything_without_the_identified_file(separated):
    """Every analyst asset materializes in that process: none of them needs the identified
    zone, so every asset whose code opens it is in the linker location."""
    from cmi_assets.cfsr.tables import TREND_TABLE
    from cmi_assets.definitions import analyst_defs, linker_defs
    from cmi_assets.defs.cohorts.assets import POPULATION_TABLE
    from cmi_assets.defs.cohorts.partitions import parse_cohort_years
    from cmi_assets.locations import asset_keys

    linker = separated["linker"]
    assert linker["failed"] == [] and linker["runs"] >= 20
    before = _sha256(separated["identified"]) if AS_ROOT else None

    analyst = _summary(_run(_as_analyst([sys.executable, str(RUNNER), "analyst"]), separated["env"]))
    assert analyst["user"] == ("nobody" if AS_ROOT else linker["user"])
    assert analyst["failed"] == []
    # cfsr_trend and cfsr_report; the cohort stage once per birth year; what follows, in one run
    assert analyst["runs"] == 1 + len(parse_cohort_years(COHORT_YEARS)) + 1
    assert analyst["launched_by"] == [analyst["user"]]
    assert set(analyst["assets"]) == {k.to_user_string() for k in asset_keys(analyst_defs())}
    assert not set(analyst["assets"]) & {k.to_user_string() for k in asset_keys(linker_defs())}

    if AS_ROOT:
        assert _sha256(separated["identified"]) == before  # untouched
    instance = dg.DagsterInstance.from_config(str(separated["home"]))
    try:
        for asset in analyst["assets"]:
            record = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert record is not None, asset
            run = instance.get_run_by_id(record.run_id)
            assert run.tags["cmi/launched_by_user"] == analyst["user"], asset
    finally:
        instance.dispose()
    # what the analyst wrote is in the warehouse and the reports, beside the file it never read
    import duckdb

    with duckdb.connect(str(separated["data"] / "warehouse.duckdb"), read_only=True) as con:
        for table in (TREND_TABLE, POPULATION_TABLE):
            assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
    assert (separated["data"] / "reports" / "cfsr" / "national.html").exists()
