"""The new-user walk-through, for real: `cmi demo`, then `dg dev`, then a new extract lands
in the folder and the downstream assets update without anyone clicking.

    .venv/bin/python scripts/walkthrough.py --data-dir /tmp/cmi-walkthrough

Phases (each timed and printed):

1. world       a synthetic world, as `cmi synth` writes it, with the newest extract of one
               agency held back in <data-dir>/incoming/ (not delivered yet);
2. demo        `cmi demo` on that world (cmi_assets.demo.run_demo): the assets
               materialized on a local instance under <data-dir>/.dagster_home;
3. dev         `dg dev` on 127.0.0.1 with the environment the demo prints (webserver,
               daemon, landing sensors and the automation sensor, all RUNNING by default),
               until both sensors have ticked once;
4. land        the held-back extract lands in landing/<agency>/ the way an agency drop
               does: written as <name>.part, then renamed;
5. sensor      the landing sensor adds the partition and requests a run; the run succeeds;
6. automation  the automation sensor materializes the staged model(s) fed by that agency
               and the person spine (then, given time, further assets).

The script never launches a run: every run after `dg dev` starts must carry a sensor's
tags. It reads progress over the webserver's GraphQL API, as the UI does, and always stops
the whole `dg dev` process group at the end (Ctrl-C included).

Tick cadence: the landing sensors and the automation sensor tick every 5 s here
(CMI_LANDING_SENSOR_INTERVAL_SECONDS, CMI_AUTOMATION_INTERVAL_SECONDS; users get 30 s), and the instance's dagster.yaml is deploy/dagster.yaml plus two settings
for a quick demonstration (the run queue polled every second, sensors evaluated in
threads). `--user-cadence` keeps the defaults a user gets.

Helpers here (free_port, GraphQL, DevServer) are also used by the UI smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = {"repositoryLocationName": "cmi_assets", "repositoryName": "__repository__"}
FAST_LANDING_INTERVAL_SECONDS = 5
FAST_AUTOMATION_INTERVAL_SECONDS = 5
# Variables the walk-through sets itself: anything inherited from the caller's shell
# would point the demo and `dg dev` somewhere else.
OWN_VARIABLES = (
    "DAGSTER_HOME",
    "CMI_DATA_DIR",
    "CMI_LANDING_DIR",
    "CMI_QUARANTINE_DIR",
    "CMI_TRUTH_DIR",
    "CMI_PSEUDONYM_KEY_FILE",
    "CMI_LANDING_SENSOR_INTERVAL_SECONDS",
    "CMI_AUTOMATION_INTERVAL_SECONDS",
    "CMI_CFSR_FIRST_FY",
    "CMI_CFSR_LAST_FY",
)


class WalkthroughError(AssertionError):
    pass


# --- talking to a webserver -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQL:
    """POST a query to the webserver's /graphql; errors raise with the server's message."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, **variables):
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        body = json.loads(urllib.request.urlopen(request, timeout=60).read())
        assert "errors" not in body, body["errors"]
        return body["data"]


class DevServer:
    """A Dagster server process (`dg dev`, `dagster dev`, `dagster-webserver`) in its own
    process group, so that stopping it stops everything it started: webserver, daemon,
    code servers and the run workers they launched."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, port: int, cwd: Path = PROJECT_ROOT):
        self.command, self.env, self.log_path, self.port, self.cwd = command, env, log_path, port, cwd
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DevServer:
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_until_serving(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server_info", timeout=5).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if self.process.poll() is not None:
                    raise WalkthroughError(f"{self.command[0]} exited:\n{self.log_tail()}") from error
                if time.monotonic() > deadline:
                    raise WalkthroughError(
                        f"no webserver on port {self.port} after {timeout} s:\n{self.log_tail()}"
                    ) from error
                time.sleep(1)

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, grace_seconds: float = 10) -> None:
        """Ctrl-C to the whole group, then SIGKILL to whatever is left of it."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the group id is the leader's pid
        for sig, wait in ((signal.SIGINT, grace_seconds), (signal.SIGKILL, 10)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(group):
                time.sleep(0.5)
            if not _group_alive(group):
                break
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        self.process = None


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # The leader may be a zombie we have not reaped; other members count as alive.
    return any(_pgid(pid) == group for pid in _pids())


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []


def _pgid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[2]) if fields[0] != "Z" else None
    except (OSError, ValueError, IndexError):
        return None


SENSOR_TICKS = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
  ... on Sensor { sensorState { status ticks(limit: 1) { status timestamp } } } } }"""
RUNS = """query($f: RunsFilter) { runsOrError(filter: $f, limit: 100) { ... on Runs { results {
  runId status creationTime tags { key value } assetSelection { path } } } } }"""
LATEST_MATERIALIZATION = """query($k: AssetKeyInput!) { assetOrError(assetKey: $k) { ... on Asset {
  assetMaterializations(limit: 1) { runId timestamp partition } } } }"""


def sensor_ticks(gql: GraphQL, name: str) -> tuple[str, int]:
    """(status, number of ticks so far, up to 1) of a sensor."""
    data = gql(SENSOR_TICKS, s={**REPOSITORY, "sensorName": name})["sensorOrError"]
    if data["__typename"] != "Sensor":
        raise WalkthroughError(f"sensor {name}: {data['__typename']}")
    state = data["sensorState"]
    return state["status"], len(state["ticks"])


def runs_created_after(gql: GraphQL, after: float, tags: dict[str, str] | None = None) -> list[dict]:
    runs_filter: dict = {"createdAfter": after}
    if tags:
        runs_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    runs = gql(RUNS, f=runs_filter)["runsOrError"]["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return runs


def latest_materialization(gql: GraphQL, asset: str) -> dict | None:
    data = gql(LATEST_MATERIALIZATION, k={"path": [asset]})["assetOrError"]
    events = (data or {}).get("assetMaterializations") or []
    return events[0] if events else None


# --- the walk-through --------------------------------------------------------------------


@dataclass
class WalkthroughResult:
    data_dir: Path
    dagster_home: Path
    landed: Path
    dev_started_at: float  # time.time() when `dg dev` was started
    landed_at: float
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    landing_run: dict | None = None
    reached: dict[str, dict] = field(default_factory=dict)  # asset -> its materialization after the landing
    not_reached: list[str] = field(default_factory=list)  # further assets that had not updated in time
    runs: list[dict] = field(default_factory=list)  # every run created after `dg dev` started
    demo: object = None  # the cmi_assets.demo.DemoReport


def hold_back_newest_extract(landing_dir: Path, agency: str, incoming: Path) -> Path:
    """Move the agency's newest extract (last by name: the latest year) out of landing/."""
    from cmi_assets.sources import landed_files

    files = landed_files(landing_dir, agency)
    if not files:
        raise WalkthroughError(f"no extract of {agency} in {landing_dir}")
    incoming.mkdir(parents=True, exist_ok=True)
    held = incoming / files[-1].name
    shutil.move(files[-1].path, held)
    return held


def land_atomically(source: Path, folder: Path) -> Path:
    """Deliver a file as an agency drop does: write <name>.part, flush it, rename."""
    final = folder / source.name
    partial = folder / (source.name + ".part")
    with open(source, "rb") as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, final)
    return final


def install_instance_yaml(home: Path, user_cadence: bool) -> None:
    """DAGSTER_HOME/dagster.yaml: deploy/dagster.yaml as `cmi demo` installs it, plus, for
    a quick demonstration, the run queue polled every second (default 5 s) and sensors
    evaluated in threads."""
    import yaml

    home.mkdir(parents=True, exist_ok=True)
    template = PROJECT_ROOT / "deploy" / "dagster.yaml"
    if user_cadence:
        shutil.copy(template, home / "dagster.yaml")
        return
    settings = yaml.safe_load(template.read_text())
    coordinator = settings.get("run_coordinator") or {}
    if coordinator.get("class") == "QueuedRunCoordinator":
        coordinator.setdefault("config", {})["dequeue_interval_seconds"] = 1
    settings["sensors"] = {"use_threads": True, "num_workers": 4}
    (home / "dagster.yaml").write_text(
        f"# {template.relative_to(PROJECT_ROOT)} with quicker ticks, written by scripts/walkthrough.py\n"
        + yaml.safe_dump(settings, sort_keys=False)
    )


def downstream_staged_assets(agency: str) -> list[str]:
    """The staged models fed by raw_<agency> (what a new extract of it updates first)."""
    import dagster as dg

    from cmi_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    return sorted(k.to_user_string() for k in graph.get(dg.AssetKey(f"raw_{agency}")).child_keys)


def run_walkthrough(
    data_dir: Path,
    profile: str = "small",
    scale: float = 0.003,
    seed: int = 11,
    agency: str = "births",
    groups: tuple[str, ...] | None = None,
    dev_command: str = "dg",
    required: tuple[str, ...] = ("person_spine",),
    further: tuple[str, ...] = ("event_tables", "linkage_quality", "linkage_clerical_sample"),
    further_seconds: float = 60,
    timeout_seconds: float = 600,
    user_cadence: bool = False,
    log=print,
) -> WalkthroughResult:
    """Everything above, end to end. `groups` limits what the demo materializes (None:
    everything, as `cmi demo`); `required` assets must update after the landing (besides
    the staged models of `agency`), `further` ones are waited for `further_seconds` more."""
    from cmi_assets.demo import prepare_environment, run_demo
    from cmi_assets.storage import Storage
    from cmi_assets.synthetic.world import generate_world

    data_dir = Path(data_dir).resolve()
    home = data_dir / ".dagster_home"
    for name in OWN_VARIABLES:
        os.environ.pop(name, None)
    install_instance_yaml(home, user_cadence)
    prepare_environment(data_dir, home)
    storage = Storage.from_env()
    phases: dict[str, float] = {}

    def phase(name: str, started: float) -> None:
        phases[name] = round(time.monotonic() - started, 1)
        log(f"[walkthrough] {name}: {phases[name]:.1f} s")

    started = time.monotonic()
    if storage.landing_dir.exists() and any(storage.landing_dir.iterdir()):
        raise WalkthroughError(f"{storage.landing_dir} is not empty: give the walk-through a fresh --data-dir")
    summary = generate_world(storage.landing_dir.parent, profile=profile, scale=scale, seed=seed)
    held = hold_back_newest_extract(storage.landing_dir, agency, data_dir / "incoming")
    log(
        f"[walkthrough] world: {summary['births']} births, {sum(summary['files'].values())} extract files; "
        f"holding back {held.name}"
    )
    phase("world", started)

    started = time.monotonic()
    report = run_demo(data_dir, scale=scale, seed=seed, profile=profile, log=log, groups=groups)
    phase("demo", started)
    if report.failed_runs:
        log(f"[walkthrough] demo: {len(report.failed_runs)} failed run(s): {report.failed_runs}")

    staged = downstream_staged_assets(agency)
    env = {k: v for k, v in os.environ.items() if k not in OWN_VARIABLES}
    env.update(report.ui_environment())
    if not user_cadence:
        env["CMI_LANDING_SENSOR_INTERVAL_SECONDS"] = str(FAST_LANDING_INTERVAL_SECONDS)
        env["CMI_AUTOMATION_INTERVAL_SECONDS"] = str(FAST_AUTOMATION_INTERVAL_SECONDS)
    port = free_port()
    bin_dir = Path(sys.executable).parent
    command = (
        [str(bin_dir / "dg"), "dev"]
        if dev_command == "dg"
        else [str(bin_dir / "dagster"), "dev", "-w", "workspace.yaml"]
    )
    command += ["-h", "127.0.0.1", "-p", str(port)]
    log(
        f"[walkthrough] starting: {' '.join(f'{k}={v}' for k, v in report.ui_environment().items())} "
        f"{' '.join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))}"
    )

    started = time.monotonic()
    dev_started_at = time.time()
    server = DevServer(command, env, data_dir / "dev.log", port).__enter__()
    try:
        gql = GraphQL(port)
        server.wait_until_serving()
        sensor = f"landing_{agency}"
        _wait(
            lambda: all(sensor_ticks(gql, s) == ("RUNNING", 1) for s in (sensor, "automation")),
            180,
            "the landing and automation sensors to tick once",
            server,
        )
        phase("dev", started)

        started = time.monotonic()
        landed_at = time.time()
        landed = land_atomically(held, storage.landing_dir / agency)
        log(f"[walkthrough] landed {landed.relative_to(data_dir)}")
        phase("land", started)

        started = time.monotonic()
        landing_run = _wait(
            lambda: _finished_run(runs_created_after(gql, landed_at, {"dagster/sensor_name": sensor}), landed.name),
            240,
            f"{sensor} to request and finish a run for {landed.name}",
            server,
        )
        if landing_run["status"] != "SUCCESS":
            raise WalkthroughError(f"the run for {landed.name} ended {landing_run['status']}:\n{server.log_tail()}")
        phase("sensor", started)

        started = time.monotonic()
        reached: dict[str, dict] = {}
        deadline = time.monotonic() + timeout_seconds
        wanted = [*staged, *required]

        def updated(asset: str, fail_fast: bool = True) -> bool:
            event = latest_materialization(gql, asset)
            if event and int(event["timestamp"]) / 1000 > landed_at:
                reached[asset] = event
                return True
            if fail_fast:
                _fail_on_failed_automation_run(gql, landed_at, [a for a in wanted if a not in reached], server)
            return False

        for asset in wanted:
            _wait(
                lambda asset=asset: updated(asset),
                deadline - time.monotonic(),
                f"the automation sensor to update {asset}",
                server,
            )
            log(f"[walkthrough]   {asset} updated {_after(reached[asset], landed_at)}")
        phase("automation", started)

        started = time.monotonic()
        further_deadline = time.monotonic() + further_seconds
        pending = [a for a in further if a not in reached]
        while pending and time.monotonic() < further_deadline:
            pending = [a for a in pending if not updated(a, fail_fast=False)]
            if pending:
                time.sleep(2)
        for asset in further:
            if asset in reached:
                log(f"[walkthrough]   {asset} updated {_after(reached[asset], landed_at)}")
        if pending:
            log(f"[walkthrough]   not updated within {further_seconds:.0f} s more: {', '.join(pending)}")
        phase("further", started)
        runs = runs_created_after(gql, dev_started_at)
    finally:
        started = time.monotonic()
        server.stop()
        phase("stop", started)
    log("[walkthrough] " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()))
    return WalkthroughResult(
        data_dir=data_dir,
        dagster_home=home,
        landed=landed,
        dev_started_at=dev_started_at,
        landed_at=landed_at,
        phases=phases,
        landing_run=landing_run,
        reached=reached,
        not_reached=pending,
        runs=runs,
        demo=report,
    )


def _finished_run(runs: list[dict], partition: str) -> dict | None:
    for run in runs:
        if run["tags"].get("dagster/partition") == partition and run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
    return None


def _after(event: dict, landed_at: float) -> str:
    return f"{int(event['timestamp']) / 1000 - landed_at:.0f} s after the landing (run {event['runId'][:8]})"


def _fail_on_failed_automation_run(gql: GraphQL, after: float, waiting_for: list[str], server: DevServer) -> None:
    """Stop waiting once an automation run that was to build an awaited asset has failed
    (eager automation does not retry it until something upstream changes again)."""
    for run in runs_created_after(gql, after, {"dagster/sensor_name": "automation"}):
        selected = {"/".join(k["path"]) for k in run.get("assetSelection") or []}
        if run["status"] == "FAILURE" and selected & set(waiting_for):
            raise WalkthroughError(
                f"automation run {run['runId']} for {sorted(selected & set(waiting_for))} failed:\n{server.log_tail()}"
            )


def _wait(predicate, timeout: float, what: str, server: DevServer, poll: float = 2):
    deadline = time.monotonic() + max(timeout, 0)
    while True:
        value = predicate()
        if value:
            return value
        if server.process is not None and server.process.poll() is not None:
            raise WalkthroughError(f"the server exited while waiting for {what}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise WalkthroughError(f"timed out after {timeout:.0f} s waiting for {what}:\n{server.log_tail()}")
        time.sleep(poll)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a fresh folder (world, zones, Dagster home)")
    parser.add_argument("--profile", default="small")
    parser.add_argument("--scale", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--agency", default="births", help="whose newest extract is held back and landed")
    parser.add_argument(
        "--groups",
        default=None,
        help="comma-separated asset groups the demo materializes (default: all, as `cmi demo`)",
    )
    parser.add_argument("--dev-command", choices=["dg", "dagster"], default="dg")
    parser.add_argument("--further-seconds", type=float, default=60)
    parser.add_argument("--user-cadence", action="store_true", help="keep the 30 s sensor interval users get")
    args = parser.parse_args()
    result = run_walkthrough(
        args.data_dir,
        profile=args.profile,
        scale=args.scale,
        seed=args.seed,
        agency=args.agency,
        groups=tuple(args.groups.split(",")) if args.groups else None,
        dev_command=args.dev_command,
        further_seconds=args.further_seconds,
        user_cadence=args.user_cadence,
    )
    print(
        json.dumps(
            {
                "landed": str(result.landed),
                "phases_seconds": result.phases,
                "updated_after_landing": sorted(result.reached),
                "not_updated_in_time": result.not_reached,
                "runs_after_dev_started": [
                    {"run": r["runId"][:8], "status": r["status"], "sensor": r["tags"].get("dagster/sensor_name")}
                    for r in result.runs
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
