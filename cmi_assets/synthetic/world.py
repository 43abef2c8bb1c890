"""Entry points of the synthetic world: simulate (truth in memory), write (agency extracts
to landing/, truth to truth/), and generate (both, in blocks of families so memory stays
bounded at large scale). `cmi synth --profile P --scale S --seed N --out DIR` calls
`generate_world`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import polars as pl

from cmi_assets.reference.names import load_name_pools
from cmi_assets.reference.random_streams import component_rng
from cmi_assets.synthetic.families import draw_birth_events, restrict_to_birth_years
from cmi_assets.synthetic.outcomes import draw_office_effects
from cmi_assets.synthetic.population import Mothers, draw_mothers, make_areas
from cmi_assets.synthetic.profile import load_profile
from cmi_assets.synthetic.simulate import Block, simulate_block
from cmi_assets.synthetic.writer import WorldWriter

# Peak memory follows the block, not the world: blocks of 15,000 mothers keep it near
# 0.5 GB (benchmarks/bench_synthetic.py), and worlds up to scale 0.01 stay one block.
MOTHERS_PER_BLOCK = 15_000


@dataclass(kw_only=True)
class World(Block):
    """The true world: a block's frames (every frame keyed by true_person_id, see
    simulate.Block) with the profile, scale, seed and areas that made it."""

    profile: dict
    scale: float
    seed: int
    areas: pl.DataFrame
    block: int = 0

    @classmethod
    def from_block(
        cls, profile: dict, scale: float, seed: int, areas: pl.DataFrame, block: Block, index: int = 0
    ) -> World:
        frames = {f.name: getattr(block, f.name) for f in fields(Block)}
        return cls(**frames, profile=profile, scale=scale, seed=seed, areas=areas, block=index)


@dataclass(frozen=True)
class Plan:
    """What every block shares: the areas, office effects, all mothers and their birth
    events (cheap to draw for the whole population; blocks then take slices)."""

    params: dict
    areas: pl.DataFrame
    office_effects: dict
    mothers: Mothers
    events: pl.DataFrame


def plan_world(profile: dict, scale: float, seed: int, birth_years: tuple[int, int] | None = None) -> Plan:
    params = profile["world"]
    areas = make_areas(params["jurisdiction"], component_rng(seed, "areas"))
    office_effects = draw_office_effects(
        int(params["jurisdiction"]["n_offices"]), params["outcomes"]["office_effect_sd"], component_rng(seed, "offices")
    )
    mothers = draw_mothers(params, scale, component_rng(seed, "mothers"))
    events = draw_birth_events(mothers, params, component_rng(seed, "fertility"))
    if birth_years is not None:
        events = restrict_to_birth_years(events, birth_years)
    return Plan(params, areas, office_effects, mothers, events)


def block_slices(plan: Plan, mothers_per_block: int = MOTHERS_PER_BLOCK) -> list[np.ndarray]:
    """Mother indices per block (whole families stay in one block). Mothers are dealt out
    in turn, so every block holds the same mix of birth cohorts: contiguous slices of
    mothers (ordered by birth year) would put the cohorts whose children fill the
    observation window, and most of the records, into a few blocks several times heavier
    than the rest."""
    used = np.unique(plan.events["mother_index"].to_numpy())
    n_blocks = max(1, int(np.ceil(used.size / mothers_per_block)))
    return [used[k::n_blocks] for k in range(n_blocks)]


def simulate_plan_block(
    plan: Plan, seed: int, block: int, mother_index: np.ndarray, first_id: int, first_report_id: int, pools
) -> Block:
    events = plan.events.filter(pl.col("mother_index").is_in(pl.Series(mother_index).implode()))
    return simulate_block(
        plan.params,
        plan.mothers,
        events,
        plan.areas,
        plan.office_effects,
        seed,
        block,
        pools,
        first_id,
        first_report_id,
    )


def simulate_world(profile: dict, scale: float, seed: int, birth_years: tuple[int, int] | None = None) -> World:
    """The whole true world in memory (one block): persons, families, events, the
    children's markers and outcomes. No files."""
    plan = plan_world(profile, scale, seed, birth_years)
    used = np.unique(plan.events["mother_index"].to_numpy())
    block = simulate_plan_block(plan, seed, 0, used, 1, 1, load_name_pools())
    return World.from_block(profile, scale, seed, plan.areas, block)


def write_world(world: World, out: Path) -> dict:
    """Agency extracts to out/landing/<agency>/ and truth to out/truth/ (Parquet)."""
    writer = WorldWriter(Path(out), world.profile, world.scale, world.seed, world.areas)
    writer.write_block(world)
    return writer.finish()


def generate_world(out: Path, profile: str = "default", scale: float = 1.0, seed: int = 0) -> dict:
    """Simulate and write, block by block (families never span blocks), so memory stays
    bounded by the block size. Returns {"births", "files", "rows", "seconds"}."""
    started = time.perf_counter()
    prof = load_profile(profile)
    plan = plan_world(prof, scale, seed)
    writer = WorldWriter(Path(out), prof, scale, seed, plan.areas)
    pools = load_name_pools()
    first_id, first_report = 1, 1
    for index, mothers in enumerate(block_slices(plan)):
        block = simulate_plan_block(plan, seed, index, mothers, first_id, first_report, pools)
        first_id, first_report = block.extra["next_id"], block.extra["next_report"]
        writer.write_block(World.from_block(prof, scale, seed, plan.areas, block, index))
        del block
    summary = writer.finish()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    (Path(out) / "truth" / "world.json").write_text(
        json.dumps(
            {**json.loads((Path(out) / "truth" / "world.json").read_text()), "seconds": summary["seconds"]}, indent=2
        )
    )
    return summary
