"""The `cmi` command line: `cmi synth`, `cmi demo`, `cmi link`, `cmi publish` and `cmi review`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

# Only light modules here, so `cmi --help` answers at once: each command imports what it
# runs (polars, DuckDB, Dagster, the linkage engine, the generator) inside its function.
from cmi_assets.linkage.tables import CLUSTERS_TABLE, LEVELS, PAIRS_TABLE
from cmi_assets.synthetic.profile import available_profiles, load_profile

# A world's size: 0.02 is the demo's (about 1,200 births a year, a few minutes); 1.0 the
# NZ study's cohort (about 60,000 births a year; README "The synthetic world" gives costs).
SCALE = click.FloatRange(min=0, min_open=True)


class OneLineErrors(click.Group):
    """Usage errors as one line and exit code 2 (a script reading stderr, a person reading
    the terminal: neither wants a usage dump or a traceback); other click errors as their
    one-line message and code."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else "cmi"
            click.echo(f"{command}: {error.format_message()} (see {command} --help)", err=True)
            sys.exit(2)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.exceptions.Abort:
            click.echo("cmi: stopped", err=True)
            sys.exit(130)


@click.group(cls=OneLineErrors)
def main() -> None:
    """cmi_assets: linked, de-identified evidence about child maltreatment."""


@main.command()
@click.option(
    "--profile",
    default="default",
    show_default=True,
    type=click.Choice(available_profiles()),
    help="World profile (cmi_assets/synthetic/profiles/<name>/).",
)
@click.option(
    "--scale",
    default=0.02,
    show_default=True,
    type=SCALE,
    help="0.02 = about 1,200 births a year (the demo's); 1.0 = about 60,000 (the NZ cohort).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for landing/<agency>/ extracts and truth/.",
)
@click.option(
    "--only",
    type=click.Choice(["all", "ncands"]),
    default="all",
    show_default=True,
    help="ncands: only the NCANDS Child Files of every state (CFSR benchmarks).",
)
def synth(profile: str, scale: float, seed: int, out: Path, only: str) -> None:
    """Generate a synthetic world: agency extracts with identity noise, and the hidden truth."""
    if only == "ncands":
        from cmi_assets.synthetic.ncands import write_ncands

        (out / "truth").mkdir(parents=True, exist_ok=True)
        summary = write_ncands(out / "landing", out / "truth", load_profile(profile), scale, seed, None)
    else:
        from cmi_assets.synthetic.world import generate_world

        summary = generate_world(out, profile=profile, scale=scale, seed=seed)
    click.echo(json.dumps(summary, indent=2, default=str))


@main.command()
@click.option(
    "--data-dir",
    default="data",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the world, the DuckDB zones and the Dagster home go.",
)
@click.option("--scale", default=0.02, show_default=True, type=SCALE, help="World size (0.02 ~ 1,200 births a year).")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--profile",
    default="demo",
    show_default=True,
    type=click.Choice(available_profiles()),
    help="demo = the calibrated default world with NCANDS states sized for a small run.",
)
@click.option("--fresh", is_flag=True, help="Regenerate the world and rebuild the zones from scratch.")
@click.option("--quiet", is_flag=True, help="Print only the final report (no progress).")
@click.option(
    "--log-file", type=click.Path(dir_okay=False, path_type=Path), help="Also append the progress lines to this file."
)
def demo(
    data_dir: Path, scale: float, seed: int, profile: str, fresh: bool, quiet: bool, log_file: Path | None
) -> None:
    """Generate a small world and materialize every asset on a local Dagster instance."""
    from cmi_assets.demo import format_report, run_demo

    log = (lambda *_: None) if quiet else click.echo
    if log_file is not None:
        log = _also_to_file(log, log_file)
    report = run_demo(
        data_dir,
        scale=scale,
        seed=seed,
        fresh=fresh,
        profile=profile,
        log=log,
        progress_bar=not quiet and sys.stderr.isatty(),
    )
    click.echo(format_report(report))
    if report.stopped_by:
        raise SystemExit(130 if report.stopped_by == "SIGINT" else 143)
    if report.failed_runs:
        raise SystemExit(1)


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write.")
@click.option(
    "--data-dir",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The data folder whose warehouse holds the published tables (as `cmi demo` built it).",
)
@click.option("--base-url", help="Where the files will be served (data.json links); default the folder's file:// URL.")
@click.option("--publisher", help="The publishing organisation named in data.json.")
@click.option("--contact-email", help="The contact address named in data.json (default a placeholder).")
def publish(out: Path, data_dir: Path, base_url: str | None, publisher: str | None, contact_email: str | None) -> None:
    """Write the open data package (CSV, datapackage.json, data.json, data dictionary) from the
    warehouse's disclosure-controlled tables."""
    from cmi_assets.defs.resources import StorageResource
    from cmi_assets.publish.package import publish_warehouse
    from cmi_assets.storage import WAREHOUSE

    resource = StorageResource(data_dir=str(data_dir))
    if not resource.storage().zone_path(WAREHOUSE).exists():
        raise click.BadParameter(f"no warehouse in {data_dir} (run `cmi demo` first)", param_hint="--data-dir")
    with resource.warehouse(read_only=True) as con:
        try:
            named = {"publisher": publisher, "contact_email": contact_email}
            files = publish_warehouse(
                con, out, base_url=base_url, **{key: value for key, value in named.items() if value}
            )
        except ValueError as error:
            raise click.ClickException(str(error)) from error
    for name, rows in files.items():
        click.echo(f"{out / name}: {rows} rows")
    click.echo(f"{out / 'datapackage.json'}, {out / 'data.json'}, {out / 'data_dictionary.md'}")


def _also_to_file(log, path: Path):
    """log, and the same lines appended to a file (the progress of an unattended run)."""

    def both(line: str) -> None:
        log(line)
        with path.open("a", encoding="utf-8") as out:
            out.write(f"{line}\n")

    return both


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML naming each file's columns for the canonical fields (see README).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for pairs.parquet, clusters.parquet and split_links.parquet.",
)
@click.option(
    "--dob-format",
    default=None,
    help='strptime format of the date columns, e.g. "%d/%m/%Y" '
    "(default: the mapping's dob_format, else ISO %Y-%m-%d).",
)
@click.option(
    "--max-date-failures",
    default=None,
    type=click.FloatRange(0, 1),
    help="Share of a file's dates that may fail to parse before the run stops (default 0.05).",
)
@click.option("--seed", default=1, show_default=True, type=int)
def link(
    files: tuple[Path, ...],
    mapping: Path,
    out: Path,
    dob_format: str | None,
    max_date_failures: float | None,
    seed: int,
) -> None:
    """Deduplicate one person file, or link two or more (CSV or Parquet), with the spine's
    engine; prints counts only."""
    from cmi_assets.linkage.file_mapping import FileInputError, load_mapping
    from cmi_assets.linkage.link_files import link_files

    try:
        mapping_dict = dict(load_mapping(mapping))
        if dob_format:
            mapping_dict.setdefault("dob_format", dob_format)
        if max_date_failures is not None:
            mapping_dict["max_date_failures"] = max_date_failures
        summary = link_files(list(files), mapping_dict, out, seed=seed, mapping_source=mapping)
    except FileInputError as error:  # the message names the file, row and field, never a value
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(summary, indent=2, default=str))


# --- cmi review: the clerical review loop (linkage/review.py, docs/clerical_review.md) ----------

DATA_DIR_OPTION = click.option(
    "--data-dir",
    envvar="CMI_DATA_DIR",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The data folder whose identified zone holds the linkage (default $CMI_DATA_DIR, else data).",
)


@main.group()
def review() -> None:
    """Clerical review: export a blind review file, import the reviewers' decisions."""


@review.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--level", type=click.Choice(LEVELS), default="less_conservative", show_default=True)
@click.option("--format", "file_format", type=click.Choice(["csv", "html"]), default="csv", show_default=True)
@click.option("--children", default=100, show_default=True, type=click.IntRange(min=1), help="Children sampled.")
@click.option(
    "--band-pairs", default=200, show_default=True, type=click.IntRange(min=0), help="Uncertain-band pairs at most."
)
@click.option("--seed", default=1, show_default=True, type=int)
@DATA_DIR_OPTION
def review_export_command(
    out: Path, level: str, file_format: str, children: int, band_pairs: int, seed: int, data_dir: Path
) -> None:
    """Write a blind review file: record pairs side by side without scores, shuffled (it names
    people: keep it in the identified zone)."""
    from cmi_assets.defs.resources import StorageResource
    from cmi_assets.linkage.review import review_export, threshold_for, write_review_csv
    from cmi_assets.storage import IDENTIFIED
    from cmi_assets.tables import table_exists

    storage = StorageResource(data_dir=str(data_dir)).storage()
    if not storage.zone_path(IDENTIFIED).exists():
        raise click.BadParameter(f"no identified zone in {data_dir} (run `cmi demo` first)", param_hint="--data-dir")
    with storage.connect(IDENTIFIED, read_only=True) as con:
        if not (table_exists(con, CLUSTERS_TABLE) and table_exists(con, PAIRS_TABLE)):
            raise click.ClickException(f"no person spine in {data_dir}: materialize person_spine first")
        export = review_export(con, level, threshold_for(con, level), children, band_pairs, seed)
    if file_format == "html":
        from cmi_assets.linkage.review_html import write_review_html

        write_review_html(export, out)
        click.echo(f"{out}: {export.pairs.height} pairs ({level}), one offline page; decisions save as CSV")
    else:
        readme = write_review_csv(export, out)
        click.echo(f"{out}: {export.pairs.height} pairs ({level}); what it holds: {readme}")


@review.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reviewer", required=True, help="Who made the decisions (recorded with each).")
@DATA_DIR_OPTION
def review_import_command(file: Path, reviewer: str, data_dir: Path) -> None:
    """Record a file's decisions in linkage.review_decisions; every row is checked first and a
    bad row records nothing. The next person_spine run honours them."""
    from cmi_assets.defs.resources import StorageResource
    from cmi_assets.linkage.review import (
        DECISIONS,
        ReviewFileError,
        decision_counts,
        decisions_data_version,
        read_decisions_file,
        record_decisions,
    )
    from cmi_assets.storage import IDENTIFIED

    if not reviewer.strip():
        raise click.BadParameter("a reviewer name is needed", param_hint="--reviewer")
    storage = StorageResource(data_dir=str(data_dir)).storage()
    if not storage.zone_path(IDENTIFIED).exists():
        raise click.BadParameter(f"no identified zone in {data_dir} (run `cmi demo` first)", param_hint="--data-dir")
    with storage.connect(IDENTIFIED) as con:
        try:
            decisions = read_decisions_file(file, con)
            recorded = record_decisions(con, decisions, reviewer, file.name)
        except ReviewFileError as error:  # names the file, row and field, never a value
            raise click.ClickException(str(error)) from None
        version, counts = decisions_data_version(con), decision_counts(con)
    by_kind = dict(recorded.group_by("decision").len().iter_rows()) if recorded.height else {}
    kinds = ", ".join(f"{by_kind.get(kind, 0)} {kind}" for kind in DECISIONS)
    click.echo(f"{file.name}: {recorded.height} decisions recorded ({kinds}); the next person_spine run applies them")
    click.echo(_observe_review_decisions(version, counts))


def _observe_review_decisions(version: str, counts: dict) -> str:
    """Record the decisions table's new data version as an observation of review_decisions
    on the Dagster instance of DAGSTER_HOME, so person_spine shows as stale; without one,
    say how to observe it."""
    if not os.environ.get("DAGSTER_HOME"):
        return "DAGSTER_HOME is not set: observe review_decisions in Dagster to mark person_spine stale"
    import dagster as dg
    from dagster._core.definitions.data_version import DATA_VERSION_TAG

    with dg.DagsterInstance.get() as instance:
        observation = dg.AssetObservation("review_decisions", metadata=counts, tags={DATA_VERSION_TAG: version})
        instance.report_runless_asset_event(observation)
    return "review_decisions observed on the Dagster instance: person_spine is stale until it runs"


if __name__ == "__main__":
    main()
