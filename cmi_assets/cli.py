"""The `cmi` command line: `cmi synth`, `cmi demo` and `cmi link`."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def main() -> None:
    """cmi_assets: linked, de-identified evidence about child maltreatment."""


@main.command()
@click.option("--profile", default="default", show_default=True, help="World profile (synthetic/profiles/<name>/).")
@click.option("--scale", default=1.0, show_default=True, type=float,
              help="1.0 = about 60,000 births a year; tests use ~0.005.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Folder for landing/<agency>/ extracts and truth/.")
@click.option("--only", type=click.Choice(["all", "ncands"]), default="all", show_default=True,
              help="ncands: only the NCANDS Child Files of every state (CFSR benchmarks).")
def synth(profile: str, scale: float, seed: int, out: Path, only: str) -> None:
    """Generate a synthetic world: agency extracts with identity noise, and the hidden truth."""
    if only == "ncands":
        from cmi_assets.synthetic.ncands import write_ncands
        from cmi_assets.synthetic.profile import load_profile

        (out / "truth").mkdir(parents=True, exist_ok=True)
        summary = write_ncands(out / "landing", out / "truth", load_profile(profile), scale, seed, None)
    else:
        from cmi_assets.synthetic.world import generate_world

        summary = generate_world(out, profile=profile, scale=scale, seed=seed)
    click.echo(json.dumps(summary, indent=2, default=str))


@main.command()
@click.option("--data-dir", default="data", show_default=True, type=click.Path(path_type=Path),
              help="Where the world, the DuckDB zones and the Dagster home go.")
@click.option("--scale", default=0.02, show_default=True, type=float, help="World size (0.02 ~ 1,200 births a year).")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--profile", default="demo", show_default=True,
              help="demo = the calibrated default world with NCANDS states sized for a small run.")
@click.option("--fresh", is_flag=True, help="Regenerate the world and rebuild the zones from scratch.")
def demo(data_dir: Path, scale: float, seed: int, profile: str, fresh: bool) -> None:
    """Generate a small world and materialize every asset on a local Dagster instance."""
    from cmi_assets.demo import format_report, run_demo

    report = run_demo(data_dir, scale=scale, seed=seed, fresh=fresh, profile=profile, log=click.echo)
    click.echo(format_report(report))
    if report.failed_runs:
        raise SystemExit(1)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML naming each file's columns for the canonical fields (see README).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for pairs.parquet, clusters.parquet and split_links.parquet.")
@click.option("--dob-format", default=None, help='strptime format of the date columns, e.g. "%d/%m/%Y" '
              "(default: the mapping's dob_format, else ISO %Y-%m-%d).")
@click.option("--max-date-failures", default=None, type=click.FloatRange(0, 1),
              help="Share of a file's dates that may fail to parse before the run stops (default 0.05).")
@click.option("--seed", default=1, show_default=True, type=int)
def link(files: tuple[Path, ...], mapping: Path, out: Path, dob_format: str | None, max_date_failures: float | None, seed: int) -> None:
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


if __name__ == "__main__":
    main()
