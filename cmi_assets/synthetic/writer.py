"""Writing a world to disk, block by block: agency extracts appended to
out/landing/<agency>/<prefix>_<record_type>_<period>.csv (a history file up to 2009, then
one file per calendar year by the record's own date), truth Parquet parts combined at the
end, the area reference file, and the NCANDS child files via ncands.py."""

from __future__ import annotations

import io
import json
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from cmi_assets.reference.names import load_name_pools
from cmi_assets.synthetic.agencies.benefits import write_benefits
from cmi_assets.synthetic.agencies.births import write_births
from cmi_assets.synthetic.agencies.child_protection import write_child_protection
from cmi_assets.synthetic.agencies.common import Context, Output
from cmi_assets.synthetic.agencies.corrections import write_corrections
from cmi_assets.synthetic.agencies.health import write_health
from cmi_assets.synthetic.agencies.reference import write_reference
from cmi_assets.synthetic.dates import day_number
from cmi_assets.synthetic.episodes import episodes_truth
from cmi_assets.synthetic.ncands import fiscal_years_of, rows_for_child_files, write_ncands

SPECS_DIR = Path(__file__).resolve().parents[1] / "sources" / "specs"
FILE_PREFIX = {"child_protection": "cp"}
AGENCIES = ("births", "benefits", "child_protection", "corrections", "health", "reference")
TRUTH_PARTS = ("persons", "record_persons", "children", "noise_log", "home_reports", "maltreatment_episodes")


@cache
def spec_record_type(agency: str, record_type: str) -> dict:
    """The record type's spec (read once per process: it is asked for in every block)."""
    spec = yaml.safe_load((SPECS_DIR / f"{agency}.yaml").read_text())
    return spec["record_types"][record_type]


def period_label(year: int, first_year: int, last_history_year: int) -> str:
    return f"{first_year}-{last_history_year}" if year <= last_history_year else str(year)


def truth_persons(world) -> pl.DataFrame:
    """persons.parquet: identities, parents, birth postcode and role flags."""
    birth_pc = world.births.select(pl.col("child_id").alias("true_person_id"), "birth_postcode")
    p = world.persons.join(birth_pc, on="true_person_id", how="left")
    return p.select(
        "true_person_id",
        "given_name",
        "middle_name",
        "family_name",
        "birth_family_name",
        pl.col("dob_day").cast(pl.Int32).cast(pl.Date).alias("dob"),
        "sex",
        "ethnicity",
        "mother_id",
        "father_id",
        pl.coalesce("birth_postcode", "home_postcode").alias("birth_postcode"),
        "role",
        *[
            (pl.col("role") == r).alias(f"is_{r}")
            for r in ("mother", "father", "child", "grandparent", "step_parent", "other_relative", "non_relative")
        ],
    )


class WorldWriter:
    def __init__(self, out: Path, profile: dict, scale: float, seed: int, areas: pl.DataFrame):
        self.out, self.profile, self.scale, self.seed = Path(out), profile, scale, seed
        self.landing, self.truth = self.out / "landing", self.out / "truth"
        self.parts = self.truth / "_parts"
        for folder in (self.landing, self.truth):
            if folder.exists():
                shutil.rmtree(folder)
        for agency in AGENCIES:
            (self.landing / agency).mkdir(parents=True, exist_ok=True)
        self.parts.mkdir(parents=True, exist_ok=True)
        self.ctx = Context(profile, seed, load_name_pools(), areas)
        self.rows: dict[str, int] = {}
        self.files: set[Path] = set()
        self.blocks = 0
        self.births_in_study = 0
        timeline = profile["world"]["timeline"]
        self.observation_end = day_number(timeline["observation_end"])
        self.last_history_year = int(timeline["history_file_last_year"])

    # ---- one block ---------------------------------------------------------------------------
    def write_block(self, world) -> None:
        self.ctx.block = world.block
        outputs: list[Output] = []
        outputs += write_births(world, self.ctx)
        outputs += write_benefits(world, self.ctx)
        cp_outputs, home_reports = write_child_protection(world, self.ctx)
        outputs += cp_outputs
        outputs += write_corrections(world, self.ctx)
        outputs += write_health(world, self.ctx)
        for output in outputs:
            self._append_extract(output)
        tag = f"{world.block:05d}"
        pl.concat([o.record_persons for o in outputs]).write_parquet(self.parts / f"record_persons_{tag}.parquet")
        pl.concat([o.noise_log for o in outputs]).write_parquet(self.parts / f"noise_log_{tag}.parquet")
        truth_persons(world).write_parquet(self.parts / f"persons_{tag}.parquet")
        world.children.write_parquet(self.parts / f"children_{tag}.parquet")
        if world.episodes is not None:
            episodes_truth(world.episodes).write_parquet(self.parts / f"maltreatment_episodes_{tag}.parquet")
        self._ncands_rows(home_reports).write_parquet(self.parts / f"home_reports_{tag}.parquet")
        self.births_in_study += len(world.children)
        self.blocks += 1

    def _append_extract(self, output: Output) -> None:
        spec = spec_record_type(output.agency, output.record_type)
        date_format = spec.get("date_format", "%Y-%m-%d")
        timeline = self.profile["world"]["timeline"]
        first_year = int(timeline["data_start"].get(output.agency, timeline["observation_start"])[:4])
        frame = output.frame.filter(
            pl.col(output.date_column) <= pl.lit(self.observation_end).cast(pl.Int32).cast(pl.Date)
        )
        years = frame[output.date_column].dt.year().to_numpy()
        labels = (
            np.array([period_label(int(y), first_year, self.last_history_year) for y in years])
            if len(frame)
            else np.array([], dtype=str)
        )
        prefix = FILE_PREFIX.get(output.agency, output.agency)
        for label in sorted(set(labels.tolist())):
            part = frame.filter(pl.Series(labels == label)).select(pl.exclude("^_.*$"))
            path = self.landing / output.agency / f"{prefix}_{output.record_type}_{label}.csv"
            self._append_csv(path, part, date_format)
        self.rows[output.agency] = self.rows.get(output.agency, 0) + len(frame)

    def _append_csv(self, path: Path, frame: pl.DataFrame, date_format: str) -> None:
        header = path not in self.files
        buffer = io.BytesIO()
        frame.write_csv(buffer, include_header=header, date_format=date_format, line_terminator="\n")
        with path.open("wb" if header else "ab") as handle:
            handle.write(buffer.getvalue())
        self.files.add(path)

    # ---- finishing ---------------------------------------------------------------------------
    def finish(self) -> dict:
        areas_out = write_reference(self.ctx.areas)
        self._append_extract(areas_out)
        for name in TRUTH_PARTS:
            parts = sorted(self.parts.glob(f"{name}_*.parquet"))
            if parts and name != "home_reports":
                pl.scan_parquet(parts).sink_parquet(self.truth / f"{name}.parquet")
        ncands = self._write_ncands()
        shutil.rmtree(self.parts)
        files = {a: len(list((self.landing / a).glob("*.csv"))) for a in AGENCIES}
        summary = {
            "births": self.births_in_study,
            "files": files,
            "rows": dict(sorted(self.rows.items())),
            "ncands": ncands,
        }
        world_json = {
            "generator_version": self.profile["world"].get("generator_version"),
            "scale": self.scale,
            "seed": self.seed,
            "blocks": self.blocks,
            "counts": summary,
            "profile": self.profile,
        }
        (self.truth / "world.json").write_text(json.dumps(world_json, indent=2, default=str))
        return summary

    def _ncands_rows(self, home_reports: pl.DataFrame) -> pl.DataFrame:
        """Only the rows the home state's Child Files can use: the home state's frame is the
        one NCANDS input that must be held whole."""
        if "ncands" not in self.profile:
            return home_reports
        return rows_for_child_files(home_reports, fiscal_years_of(self.profile["ncands"]))

    def _write_ncands(self) -> dict:
        """Hand the home state's report-child rows to ncands.py (which writes every state's
        child files and adds its own record_persons truth)."""
        parts = sorted(self.parts.glob("home_reports_*.parquet"))
        home = pl.read_parquet(parts) if parts else None
        return write_ncands(self.landing, self.truth, self.profile, self.scale, self.seed, home)
