"""Headless screenshots of the Dagster UI pages a data engineer reads, for reviewing the
UI without a desktop: the asset graph, an asset's metadata and plot, its checks, the CFSR
drill-down and RSP metadata, the sensors and automation.

    python scripts/ui_screenshots.py --url http://127.0.0.1:3000 --out /tmp/cmi-ui

Needs a running webserver (see scripts/README.md) and Debian's `chromium`. Only the
Python standard library is used, so any python3 runs it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LOCATION = "cmi_assets"


@dataclass(frozen=True)
class Page:
    name: str  # PNG file name, without .png
    path: str  # URL path on the webserver
    look_for: str  # what a reviewer should check on it
    height: int = 1000  # taller windows show more of long pages (the UI scrolls inside the viewport)


PAGES = [
    Page("01_asset_lineage", "/asset-groups", "groups and how they connect"),
    Page("02_group_cfsr", f"/locations/{LOCATION}/asset-groups/cfsr", "the CFSR assets, their status and check badges"),
    Page("03_group_sources", f"/locations/{LOCATION}/asset-groups/sources", "one raw asset per agency, partitions"),
    Page("04_catalog", "/assets", "names, descriptions, groups, kinds, owners in the list", 1400),
    Page(
        "05_cfsr_report",
        "/assets/cfsr_report",
        "headline first (pooled recurrence, status counts, RSP / observed and why), then the chart and tables",
        2200,
    ),
    Page("06_cfsr_rsp", "/assets/cfsr_rsp", "RSP per state, RSP / observed ratio and why it is above 1", 2200),
    Page("07_cfsr_drilldown", "/assets/cfsr_drilldown", "drill-down tables with suppressed small cells", 2200),
    Page("07b_cfsr_recurrence", "/assets/cfsr_recurrence", "denominator, numerator, exclusions per state", 2200),
    Page(
        "08_cfsr_recurrence_checks",
        "/assets/cfsr_recurrence?view=checks",
        "the NCANDS DQ checks and why they failed",
        1400,
    ),
    Page("08b_ncands_child_file_checks", "/assets/ncands_child_file?view=checks", "file-level checks per FY", 1400),
    Page("09_raw_births", "/assets/raw_births", "file hash, row count, schema of one extract", 2200),
    Page("10_raw_births_checks", "/assets/raw_births?view=checks", "schema_valid and keys_unique, blocking", 1400),
    Page("11_stg_births_registrations", "/assets/stg_births_registrations", "SQL, column schema and lineage", 2200),
    Page(
        "11b_column_lineage",
        "/assets/stg_births_registrations?view=lineage&column=reg_number",
        "column-level lineage traced from the SQL",
    ),
    Page(
        "11b2_stg_births_checks",
        "/assets/stg_births_registrations?view=checks",
        "the Great Expectations suite and its results",
        1400,
    ),
    Page("11c_linkage_model", "/assets/linkage_model", "model parameters and the match-weight chart", 2200),
    Page("11d_person_spine", "/assets/person_spine", "persons per level, key events, no identifiers", 2200),
    Page(
        "11e_linkage_quality",
        "/assets/linkage_quality",
        "headline first (the spine's precision and recall per level), then tables by role, group, source pair",
        2200,
    ),
    Page("11e2_linkage_clerical_sample", "/assets/linkage_clerical_sample", "weighted agreement per level", 2200),
    Page(
        "11f_person_spine_checks",
        "/assets/person_spine?view=checks",
        "linkage rates, cluster sizes, key stability",
        1400,
    ),
    Page("11g_cohort_features", "/assets/cohort_features", "cohort partitions, marker shares, column schema", 2200),
    Page("11h_prm_model", "/assets/prm_model", "validation AUC with its interval first, selected variables", 2200),
    Page("11h2_prm_evaluation", "/assets/prm_evaluation", "scored-cohort AUC, PPV at the top 5% first", 2200),
    Page(
        "11i_feasibility_report",
        "/assets/feasibility_report",
        "headline first (AUC with interval, PPV at the top 5%), what changed, the report",
        2200,
    ),
    Page("11j_prm_evaluation_checks", "/assets/prm_evaluation?view=checks", "drift checks with their numbers", 1400),
    Page("12_automation", "/automation", "landing sensors, automation sensor, cfsr_annual schedule"),
    Page(
        "13_sensor_landing_births",
        f"/locations/{LOCATION}/sensors/landing_births",
        "sensor ticks and what they skipped",
    ),
    Page("14_runs", "/runs", "run names and tags a user can tell apart", 1400),
]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def dismiss_community_modal(url: str) -> None:
    """On 127.0.0.1/localhost the UI opens a "Join the Dagster community" modal over every
    page until it is dismissed once per instance; this does what its Skip button does."""
    graphql(url, "mutation { setNuxSeen }")


def screenshot(chromium: str, url: str, page: Page, out: Path, width: int, budget_ms: int) -> Path:
    target = out / f"{page.name}.png"
    with tempfile.TemporaryDirectory(prefix="cmi-ui-chromium-") as profile:  # fresh profile: no cached state
        done = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{page.height}",
                f"--virtual-time-budget={budget_ms}",
                f"--screenshot={target}",
                url + page.path,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    if done.returncode != 0 or not target.exists():
        raise RuntimeError(f"chromium failed on {page.path} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="running dagster webserver")
    parser.add_argument("--out", type=Path, default=Path("ui_screenshots"), help="folder for the PNGs")
    parser.add_argument("--only", nargs="*", default=None, help="page names (or prefixes, e.g. 05) to take")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--budget-ms", type=int, default=15000, help="virtual time for the React app to render")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument(
        "--keep-community-modal",
        action="store_true",
        help="do not mark the instance's 'Join the community' modal as seen",
    )
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")

    try:
        urllib.request.urlopen(f"{url}/server_info", timeout=10).read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        print(f"no Dagster webserver at {url} ({error}); start one first (see scripts/README.md)", file=sys.stderr)
        return 2
    if not shutil.which(args.chromium):
        print(f"{args.chromium} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    if not args.keep_community_modal:
        dismiss_community_modal(url)

    pages = [p for p in PAGES if args.only is None or any(p.name.startswith(o) or p.name[3:] == o for o in args.only)]
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for page in pages:
        try:
            target = screenshot(args.chromium, url, page, args.out, args.width, args.budget_ms)
            print(f"{target}  {page.path}  -- look for: {page.look_for}")
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            failed += 1
            print(f"FAILED {page.name}: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
