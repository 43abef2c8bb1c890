"""`cmi demo`: a synthetic world, a local Dagster instance and every asset materialized.

Runs go through the persistent instance under DAGSTER_HOME, so everything the demo
does is visible afterwards in the UI (`dg dev -w workspace.yaml`: both code locations).
Every run is tagged with the OS user who ran it (cmi/launched_by_user).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import click

from cmi_assets import progress

# Dagster, polars, DuckDB and the pipeline's modules are imported inside the functions that
# run the pipeline, so its report and progress types load without them.

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoReport:
    data_dir: Path
    dagster_home: Path
    world_summary: dict | None
    runs: int = 0
    failed_runs: list[str] = field(default_factory=list)
    assets: list[tuple[str, str, int | None]] = field(default_factory=list)  # (asset, partitions, rows)
    checks_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pseudonym_key_file: Path | None = None  # the local key the demo generated or reused
    stopped_by: str | None = None  # SIGINT / SIGTERM when the demo was stopped part-way
    up_to_date: int = 0  # runs not launched because what they build was fresh

    def key_found_through_data_dir(self) -> bool:
        """linkage.keys reads $CMI_DATA_DIR/.pseudonym_key when no other secret is named."""
        from cmi_assets.linkage.keys import DATA_DIR_KEY_FILE

        return (
            self.pseudonym_key_file is not None
            and self.pseudonym_key_file.resolve() == (self.data_dir / DATA_DIR_KEY_FILE).resolve()
        )

    def ui_environment(self) -> dict[str, str]:
        """The variables `dg dev` / `dagster dev` needs to serve this instance and run its
        sensors and automation on the same data with the same person_key secret."""
        env = {"DAGSTER_HOME": str(self.dagster_home), "CMI_DATA_DIR": str(self.data_dir)}
        if self.pseudonym_key_file is not None and not self.key_found_through_data_dir():
            env["CMI_PSEUDONYM_KEY_FILE"] = str(self.pseudonym_key_file)
        env.update({name: os.environ[name] for name in CFSR_YEAR_VARIABLES if os.environ.get(name)})
        return env


CFSR_YEAR_VARIABLES = ("CMI_CFSR_FIRST_FY", "CMI_CFSR_LAST_FY")


def world_fiscal_years(profile: str) -> dict[str, str]:
    """The synthetic world ends in the past (its NCANDS files cover fixed fiscal years), so
    the demo's CFSR partitions span the years it delivers, not every year due by today."""
    from cmi_assets.synthetic.ncands import fiscal_years_of
    from cmi_assets.synthetic.profile import load_profile

    years = fiscal_years_of(load_profile(profile)["ncands"])
    return dict(zip(CFSR_YEAR_VARIABLES, (str(min(years)), str(max(years)))))


def prepare_environment(data_dir: Path, dagster_home: Path | None = None) -> tuple[Path, Path]:
    """Point the CMI_* variables and DAGSTER_HOME at the demo folders and install the
    instance's dagster.yaml. Returns (data_dir, dagster_home)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CMI_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("CMI_LANDING_DIR", str(data_dir / "world" / "landing"))
    home = (dagster_home or Path(os.environ.get("DAGSTER_HOME") or data_dir / ".dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    template = PROJECT_ROOT / "deploy" / "dagster.yaml"
    if template.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(template, home / "dagster.yaml")
    return data_dir, home


def ensure_pseudonym_key(data_dir: Path) -> str | None:
    """The HMAC secret behind person_key. Taken from CMI_PSEUDONYM_KEY when set; otherwise
    a local key is generated once into data_dir/.pseudonym_key. Returns a message when a
    new key was created, so the demo can say so."""
    if os.environ.get("CMI_PSEUDONYM_KEY"):
        return None
    from cmi_assets.linkage.keys import DATA_DIR_KEY_FILE

    key_file = data_dir / DATA_DIR_KEY_FILE
    created = None
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
        created = f"generated a local pseudonymisation key in {key_file} (set CMI_PSEUDONYM_KEY to use your own)"
    os.environ["CMI_PSEUDONYM_KEY_FILE"] = str(key_file)
    return created


def register_landed_partitions(instance, landing_dir: Path) -> dict[str, int]:
    """Add one dynamic partition per landed extract file (the landing sensor does the
    same on a schedule; the demo does it once, directly)."""
    from cmi_assets.sources.landing import landed_files
    from cmi_assets.sources.spec import all_specs

    added: dict[str, int] = {}
    for agency in all_specs():
        names = [f.name for f in landed_files(landing_dir, agency)]
        partitions_name = f"{agency}_extracts"
        existing = set(instance.get_dynamic_partitions(partitions_name))
        new = [n for n in names if n not in existing]
        if new:
            instance.add_dynamic_partitions(partitions_name, new)
        added[agency] = len(new)
    return added


def materialization_stages(asset_graph) -> list[tuple[object, list]]:
    """Group materializable assets into stages that can each run as one job per partition:
    a stage holds assets sharing a partitions definition whose upstream stages are done.
    Depth rises by one each time the partitions definition changes along a path, or a
    partition depends on other partitions of its parent (e.g. a CFSR period on two FY files)."""
    import dagster as dg

    depth: dict = {}
    keys = [k for k in asset_graph.toposorted_asset_keys if asset_graph.get(k).is_materializable]
    for key in keys:
        node = asset_graph.get(key)
        d = 0
        for parent in asset_graph.get(key).parent_keys:
            if parent not in depth:
                continue
            parent_node = asset_graph.get(parent)
            same = parent_node.partitions_def == node.partitions_def and (
                node.partitions_def is None
                or isinstance(asset_graph.get_partition_mapping(key, parent), dg.IdentityPartitionMapping)
            )
            d = max(d, depth[parent] + (0 if same else 1))
        depth[key] = d
    stages: dict[tuple[int, int], tuple[object, list]] = {}
    order: list[tuple[int, int]] = []
    defs_seen: list[object] = []
    for key in keys:
        pdef = asset_graph.get(key).partitions_def
        idx = next((i for i, p in enumerate(defs_seen) if p == pdef), None)
        if idx is None:
            defs_seen.append(pdef)
            idx = len(defs_seen) - 1
        stage_id = (depth[key], idx)
        if stage_id not in stages:
            stages[stage_id] = (pdef, [])
            order.append(stage_id)
        stages[stage_id][1].append(key)
    return [stages[s] for s in sorted(order)]


def upstream_partitions_ready(asset_graph, instance, keys, partition_key, cache: dict) -> bool:
    """Whether every partitioned parent partition that `partition_key` of these assets reads
    has been materialized (a CFSR period needs the next year's file; the newest period
    has to wait for it)."""
    for key in keys:
        for parent in asset_graph.get(key).parent_keys:
            if parent in keys or asset_graph.get(parent).partitions_def is None:
                continue
            needed = asset_graph.get_parent_partition_keys_for_child(partition_key, parent, key)
            if needed.required_but_nonexistent_partition_keys:
                return False
            if parent not in cache:
                cache[parent] = instance.get_materialized_partitions(parent)
            if not set(needed.partitions_subset.get_partition_keys()) <= cache[parent]:
                return False
    return True


def stage_job_name(asset_graph, keys) -> str:
    """`demo__<asset>` for a one-asset stage, else `demo__<group>[_<group>]__<first asset>`."""
    first = keys[0].to_user_string().replace("/", "__")
    if len(keys) == 1:
        return f"demo__{first}"
    groups = sorted({asset_graph.get(k).group_name or "default" for k in keys})
    return f"demo__{'_'.join(groups)}__{first}"


class TerminalSteps:
    """Draws a library's steps (cmi_assets.progress) as one bar line on a terminal."""

    WIDTH = 24

    def __init__(self, stream) -> None:
        self.stream = stream
        self.started: dict[str, float] = {}

    def __call__(self, label: str, done: int, total: int, current: str) -> None:
        first = self.started.setdefault(label, time.monotonic())
        filled = self.WIDTH * done // max(total, 1)
        line = (
            f"      {label} [{'#' * filled}{'-' * (self.WIDTH - filled)}] {done}/{total}"
            f" {time.monotonic() - first:.0f} s" + (f": {current}" if current else "")
        )
        self.stream.write(f"\r\x1b[2K{line}" + ("" if current else "\n"))
        self.stream.flush()
        if not current:
            del self.started[label]


class StopRequests:
    """SIGINT or SIGTERM while the demo runs: the run in progress is stopped by Dagster
    (its steps raise DagsterExecutionInterruptedError and the run is recorded as failed,
    with the interruption in its event log), and no further run starts. Between runs the
    signal is held here. Either way the demo ends with one line, not a traceback."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, object] = {}
        self._wakeup: tuple[int, int] | None = None
        self._previous_wakeup = -1

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._hold)
            # During a run Dagster's own handler takes both signals and forgets which one came;
            # the wakeup fd records every signal's number whoever handles it.
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            os.set_blocking(write_end, False)
            self._previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
            self._wakeup = (read_end, write_end)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup)
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None

    def _hold(self, signum: int, _frame) -> None:
        self.received = signal.Signals(signum).name

    def _signal_seen(self) -> str | None:
        """The last stopping signal written to the wakeup fd since the previous look."""
        if self._wakeup is None:
            return None
        try:
            seen = os.read(self._wakeup[0], 4096)
        except BlockingIOError:
            return None
        stopping = [s for s in seen if s in (signal.SIGINT, signal.SIGTERM)]
        return signal.Signals(stopping[-1]).name if stopping else None

    def note_interrupted_run(self, result) -> None:
        """After each run: a signal that reached Dagster's handler during the run stops the demo
        too, whether or not the run got as far as failing with the interruption."""
        interrupted = any(
            _error_class(event) == "DagsterExecutionInterruptedError" for event in result.all_events if event.is_failure
        )
        self.received = self.received or self._signal_seen() or ("an interrupt" if interrupted else None)


def _error_class(event) -> str | None:
    error = getattr(event.event_specific_data, "error", None)
    return getattr(error, "cls_name", None)


def failure_reason(result) -> str:
    """The first line of the error that failed a run (the full trace is in the UI)."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_step_failure else None
        if error is not None:
            cause = error.cause or error
            return f"{cause.cls_name}: {(cause.message or '').strip().splitlines()[0][:200] if cause.message else ''}"
    return "see the run in the UI"


@dataclass
class Materialized:
    runs: int = 0
    failed: list[str] = field(default_factory=list)
    stopped_by: str | None = None  # the signal that stopped the demo
    up_to_date: int = 0  # runs not launched: everything they would build is fresh


class Staleness:
    """Whether a stage's run for one partition would build anything new, by Dagster's own
    record: its stale status (code version changed, an upstream data version changed,
    never materialized), and for the two edges its resolver does not follow, the rules
    here. A landed extract whose bytes differ from its partition's data version (the file
    hash, sources/assets.py) is stale though Dagster cannot see the file; an unpartitioned
    asset built from many partitions (stg from every extract: Dagster skips edges of 100
    or more partitions) is stale when one of them was materialized after it."""

    def __init__(self, asset_graph, instance, landing_dir: Path | None) -> None:
        # Dagster's resolver is internal API (the UI's "stale" badge uses it): dagster is pinned
        # in pyproject.toml, and this use is tested (test_demo_incremental.py)
        from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
        from dagster._core.definitions.data_version import CachingStaleStatusResolver
        from dagster._time import get_current_datetime

        self.asset_graph, self.instance, self.landing_dir = asset_graph, instance, landing_dir
        # a fresh resolver per stage: it caches, and the stages before changed the record
        view = AssetGraphView(
            temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
            instance=instance,
            asset_graph=asset_graph,
        )
        self.resolver = CachingStaleStatusResolver(instance=instance, asset_graph=asset_graph, loading_context=view)

    def stale_keys(self, keys, partition_key: str | None) -> list:
        """The stage's keys (in order) that are stale for this partition, with every key of
        the stage downstream of one (its inputs are about to change)."""
        from dagster._core.definitions.data_version import StaleStatus

        stale: list = []
        for key in keys:
            feeds_on_stale = any(parent in stale for parent in self.asset_graph.get(key).parent_keys)
            status = self.resolver.get_status(key, partition_key)
            judged_unchanged = status == StaleStatus.STALE and self._ran_since_upstream_changed(key, partition_key)
            if (
                feeds_on_stale
                or (status != StaleStatus.FRESH and not judged_unchanged)
                or self._extract_changed(key, partition_key)
                or self._built_before_a_partition_under_it(key)
            ):
                stale.append(key)
        return stale

    def _ran_since_upstream_changed(self, key, partition_key: str | None) -> bool:
        """The asset ran, successfully, after every upstream change and chose not to write
        (ncands_child_file skips a year whose extracts did not change, so that the periods
        using it do not rerun): Dagster still calls it stale; its own judgement stands."""
        planned = self.instance.get_latest_planned_materialization_info(key, partition_key)
        latest = self._latest(key, partition_key)
        if planned is None or latest is None or planned.storage_id <= latest.storage_id:
            return False
        run = self.instance.get_run_by_id(planned.run_id)
        if run is None or not run.is_success:
            return False
        return all(
            (upstream := self._latest(parent)) is None or upstream.storage_id < planned.storage_id
            for parent in self.asset_graph.get(key).parent_keys
        )

    def _latest(self, key, partition_key: str | None = None):
        import dagster as dg

        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key] if partition_key else None), limit=1
        ).records
        return records[0] if records else None

    def _extract_changed(self, key, partition_key: str | None) -> bool:
        from dagster._core.definitions.data_version import extract_data_version_from_entry

        from cmi_assets.defs.sources.assets import DATA_VERSION_LENGTH
        from cmi_assets.sources.landing import file_sha256

        if self.landing_dir is None or partition_key is None or self.asset_graph.get(key).group_name != "sources":
            return False
        path = self.landing_dir / key.path[-1].removeprefix("raw_") / partition_key
        latest = self._latest(key, partition_key)
        if latest is None or not (path.exists() or path.is_symlink()):
            return False  # never built (Dagster says so) or moved to quarantine: nothing new here
        recorded = extract_data_version_from_entry(latest.event_log_entry)
        return recorded is None or recorded.value != file_sha256(path)[:DATA_VERSION_LENGTH]

    def _built_before_a_partition_under_it(self, key) -> bool:
        node = self.asset_graph.get(key)
        if node.partitions_def is not None:
            return False
        partitioned_parents = [p for p in node.parent_keys if self.asset_graph.get(p).partitions_def is not None]
        if not partitioned_parents:
            return False
        own = self._latest(key)
        if own is None:
            return True
        return any(
            (latest := self._latest(parent)) is not None and latest.storage_id > own.storage_id
            for parent in partitioned_parents
        )


def materialize_everything(
    defs,
    instance,
    log=print,
    groups=None,
    stop: StopRequests | None = None,
    progress_bar: bool = False,
    landing_dir: Path | None = None,
    only_stale: bool = False,
) -> Materialized:
    """Materialize every asset (or those of `groups`), stage by stage, each partition as
    its own run; partitions whose upstream partitions do not exist yet are left for later
    (and counted). With only_stale, a run whose assets are all fresh (Staleness) is not
    launched. Stops before the next run once `stop` has received a signal."""
    import dagster as dg

    from cmi_assets.defs.resources import LAUNCHED_BY_USER_TAG, os_user

    tags = {"cmi/launched_by": "cmi demo", LAUNCHED_BY_USER_TAG: os_user()}
    asset_graph = defs.resolve_asset_graph()
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    resources = dict(defs.resources or {})
    done = Materialized()
    stop = stop or StopRequests()
    stages = materialization_stages(asset_graph)
    for number, (pdef, keys) in enumerate(stages, start=1):
        if groups is not None:
            keys = [k for k in keys if asset_graph.get(k).group_name in groups]
            if not keys:
                continue
        partition_keys = [None] if pdef is None else list(pdef.get_partition_keys(dynamic_partitions_store=instance))
        label = ", ".join(k.to_user_string() for k in keys[:4]) + (" ..." if len(keys) > 4 else "")
        cache: dict = {}
        waiting = 0
        if pdef is not None:
            ready = [
                pk for pk in partition_keys if upstream_partitions_ready(asset_graph, instance, set(keys), pk, cache)
            ]
            waiting = len(partition_keys) - len(ready)
            partition_keys = ready
        # what each partition's run builds: every key, or (only_stale) the stale ones and
        # what they feed inside the stage
        staleness = Staleness(asset_graph, instance, landing_dir) if only_stale else None
        planned = [(pk, staleness.stale_keys(keys, pk) if staleness else list(keys)) for pk in partition_keys]
        fresh = sum(1 for _, selected in planned if not selected)
        planned = [(pk, selected) for pk, selected in planned if selected]
        done.up_to_date += fresh
        what = (
            ("1 run" if pdef is None else f"{len(planned)} partitions")
            if planned
            else ("up to date" if fresh else "nothing to run")
        )
        log(
            f"  [{number}/{len(stages)}] materializing {label} ({what}"
            + (f", {fresh} up to date" if fresh and planned else "")
            + (f", {waiting} waiting for upstream data)" if waiting else ")")
        )
        if not planned:
            continue
        jobs: dict[tuple, object] = {}

        def job_for(selected: list, jobs: dict = jobs) -> object:
            # A named job per stage, so the runs list says what each run built.
            if tuple(selected) not in jobs:
                job_name = stage_job_name(asset_graph, selected)
                jobs[tuple(selected)] = dg.Definitions(
                    assets=assets,
                    asset_checks=checks,
                    resources=resources,
                    jobs=[dg.define_asset_job(job_name, selection=dg.AssetSelection.assets(*selected))],
                ).resolve_job_def(job_name)
            return jobs[tuple(selected)]

        started, failed_before = time.monotonic(), len(done.failed)
        show_bar = progress_bar and len(planned) > 1
        with (
            click.progressbar(planned, label="   ", file=sys.stderr, show_pos=True)
            if show_bar
            else _plain(planned) as bar
        ):
            for pk, selected in bar:
                if stop.received:
                    break
                # a single long run shows its library steps instead of a one-item bar
                steps_shown = (
                    progress.reporting_to(TerminalSteps(sys.stderr)) if progress_bar and not show_bar else None
                )
                with steps_shown or nullcontext():
                    result = job_for(selected).execute_in_process(
                        instance=instance,
                        partition_key=pk,
                        raise_on_error=False,
                        tags=tags,
                        # Step events go to the instance (and the UI); a failed run is one line below.
                        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                    )
                done.runs += 1
                stop.note_interrupted_run(result)
                if not result.success:
                    done.failed.append(
                        f"{label} [{pk}]: {failure_reason(result)}" if pk else f"{label}: {failure_reason(result)}"
                    )
        log(
            f"      {time.monotonic() - started:.0f} s"
            + (f", {len(done.failed) - failed_before} failed" if len(done.failed) > failed_before else "")
        )
        if stop.received:
            done.stopped_by = stop.received
            break
    return done


@contextmanager
def _plain(items):
    yield items


def summarize(defs, instance) -> tuple[list[tuple[str, str, int | None]], list[str]]:
    """Row counts of the latest materializations and every failed check, for the console."""
    import dagster as dg

    rows: list[tuple[str, str, int | None]] = []
    asset_graph = defs.resolve_asset_graph()
    for key in asset_graph.toposorted_asset_keys:
        node = asset_graph.get(key)
        if not node.is_materializable:
            continue
        count = None
        if node.partitions_def is None:
            event = instance.get_latest_materialization_event(key)
            if event and event.asset_materialization:
                value = event.asset_materialization.metadata.get("dagster/row_count")
                count = int(value.value) if value is not None else None
            parts = "-"
        else:
            records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=10_000).records
            latest: dict[str, int | None] = {}
            for record in records:
                mat = record.asset_materialization
                if mat and mat.partition and mat.partition not in latest:
                    value = mat.metadata.get("dagster/row_count")
                    latest[mat.partition] = int(value.value) if value is not None else None
            count = sum(v or 0 for v in latest.values()) if latest else None
            parts = str(len(latest))
        rows.append((key.to_user_string(), parts, count))
    failed_checks = []
    for check_key in asset_graph.asset_check_keys:
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key]).get(check_key)
        evaluation = getattr(getattr(record, "event", None), "asset_check_evaluation", None) if record else None
        if evaluation is not None and not evaluation.passed:
            reason = (evaluation.description or "").splitlines()[0][:160] if evaluation.description else ""
            failed_checks.append(
                f"{check_key.asset_key.to_user_string()}:{check_key.name}" + (f" - {reason}" if reason else "")
            )
    return rows, failed_checks


def run_demo(
    data_dir: Path,
    scale: float,
    seed: int,
    fresh: bool = False,
    profile: str = "demo",
    log=print,
    groups=None,
    progress_bar: bool = False,
) -> DemoReport:
    """`cmi demo`. `groups` limits the materialization to those asset groups (the scripted
    walk-through uses it to stay quick); None materializes everything."""
    started = time.monotonic()
    data_dir, home = prepare_environment(data_dir)
    key_message = ensure_pseudonym_key(data_dir)
    if key_message:
        log(key_message)
    for name, value in world_fiscal_years(profile).items():
        os.environ.setdefault(name, value)  # before the definitions build their partitions

    from dagster import DagsterInstance

    from cmi_assets.storage import Storage

    storage = Storage.from_env()
    world_dir = storage.landing_dir.parent
    world_summary = None
    if fresh and world_dir.exists():
        shutil.rmtree(world_dir)
        for zone in ("identified", "warehouse"):
            for suffix in (".duckdb", ".duckdb.wal"):
                (data_dir / f"{zone}{suffix}").unlink(missing_ok=True)
    if storage.landing_dir.exists() and any(storage.landing_dir.iterdir()) and not world_is_complete(world_dir):
        # an interrupted generation leaves some agencies' files and no truth/world.json: a
        # world half-written is not the world the seed describes
        log(f"the world in {world_dir} is incomplete (its generation was interrupted): generating it again")
        shutil.rmtree(world_dir)
    if not storage.landing_dir.exists() or not any(storage.landing_dir.iterdir()):
        from cmi_assets.synthetic.world import generate_world

        log(f"generating a synthetic world (profile {profile}, scale {scale}, seed {seed}) into {world_dir}")
        world_summary = generate_world(world_dir, profile=profile, scale=scale, seed=seed)
    else:
        log(f"using the extracts already in {storage.landing_dir} (pass --fresh to regenerate)")

    from cmi_assets.definitions import defs as load_defs
    from cmi_assets.defs.run_recovery import fail_abandoned_runs

    defs = load_defs() if callable(load_defs) else load_defs
    instance = DagsterInstance.get()
    # a demo killed outright (kill -9, a closed laptop) leaves its run "started" and holding
    # the DuckDB write slot: every later writer would wait for it for ever
    abandoned = fail_abandoned_runs(instance)
    if abandoned:
        log(f"marked {len(abandoned)} abandoned run(s) failed (their process is gone) and freed their write slot")
    added = register_landed_partitions(instance, storage.landing_dir)
    log("registered extract partitions: " + ", ".join(f"{a} +{n}" for a, n in added.items()))
    # Splink's training notes (a comparison level no training pair showed) concern the
    # model, not the demo: on the demo's terminal they read as trouble
    logging.getLogger("splink").setLevel(logging.ERROR)
    with StopRequests() as stop:
        done = materialize_everything(
            defs,
            instance,
            log=log,
            groups=groups,
            stop=stop,
            progress_bar=progress_bar,
            landing_dir=storage.landing_dir,
            only_stale=not fresh,
        )
    assets, failed_checks = summarize(defs, instance)
    return DemoReport(
        data_dir=data_dir,
        dagster_home=home,
        world_summary=world_summary,
        runs=done.runs,
        up_to_date=done.up_to_date,
        failed_runs=done.failed,
        stopped_by=done.stopped_by,
        assets=assets,
        checks_failed=failed_checks,
        seconds=time.monotonic() - started,
        pseudonym_key_file=_key_file_in_use(),
    )


def world_is_complete(world_dir: Path) -> bool:
    """The generator writes truth/world.json's "seconds" last (synthetic.world.generate_world);
    a world without it was stopped part-way. A landing folder with no truth at all is an
    agency's own extracts, not a world of ours: complete as far as the demo can tell."""
    summary = Path(world_dir) / "truth" / "world.json"
    if not (Path(world_dir) / "truth").exists():
        return True
    try:
        return "seconds" in json.loads(summary.read_text())
    except (OSError, ValueError):
        return False


def _key_file_in_use() -> Path | None:
    """The key file person_key is built from, when the secret is not in CMI_PSEUDONYM_KEY."""
    if os.environ.get("CMI_PSEUDONYM_KEY") or not os.environ.get("CMI_PSEUDONYM_KEY_FILE"):
        return None
    return Path(os.environ["CMI_PSEUDONYM_KEY_FILE"])


def installed_command(name: str) -> str:
    """The command as it can be typed: the one beside the running interpreter (the venv's
    bin, which the README never activates), relative to the working folder when inside it."""
    beside = Path(sys.executable).parent / name
    if not beside.exists():
        return name
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)


def stopped_line(report: DemoReport) -> str:
    return (
        f"cmi demo stopped by {report.stopped_by} after {report.runs} runs ({len(report.failed_runs)} failed or "
        "interrupted); finished runs are kept: run `cmi demo` again to resume"
    )


def format_report(report: DemoReport) -> str:
    if report.stopped_by:
        return stopped_line(report)
    lines = [
        "",
        f"cmi demo finished in {report.seconds:.0f} s: {report.runs} runs, {len(report.failed_runs)} failed,"
        f" {report.up_to_date} up to date (not launched)",
        "",
    ]
    width = max([len(a) for a, _, _ in report.assets] + [5])
    lines.append(f"{'asset'.ljust(width)}  partitions  rows")
    for asset, parts, rows in report.assets:
        lines.append(f"{asset.ljust(width)}  {parts:>10}  {'' if rows is None else rows}")
    if report.failed_runs:
        lines += ["", "failed runs:"] + [f"  {r}" for r in report.failed_runs]
    if report.checks_failed:
        lines += [
            "",
            "failed checks (see the asset's Checks tab in the UI; the synthetic world scripts some",
            "states to fail the NCANDS data-quality checks, so red CFSR DQ checks are expected):",
        ]
        lines += [f"  {c}" for c in report.checks_failed]
    variables = " ".join(f"{k}={v}" for k, v in report.ui_environment().items())
    lines += [
        "",
        "Open the UI on this instance (from the project folder; workspace.yaml holds the two code locations,",
        "cmi_linker and cmi_analyst, docs/separation.md):",
        f"  {variables} {installed_command('dg')} dev -w workspace.yaml",
        f"  (or the same variables with: {installed_command('dagster')} dev -w workspace.yaml), then browse http://127.0.0.1:3000",
    ]
    if report.pseudonym_key_file is not None:
        lines.append(
            f"  (person_key is an HMAC with the secret in {report.pseudonym_key_file}: keep that file private "
            "and backed up: another secret gives other keys)"
        )
    return "\n".join(lines)
