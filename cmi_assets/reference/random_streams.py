"""Named random streams: one independent, reproducible generator per (seed, name).

Two taggings, kept apart on purpose: `component_rng` (the synthetic world's components) tags
by the name's first 16 bytes, and every world ever generated depends on it; `model_rng` (the
PRM study's named models, whose names share long prefixes) tags by a hash of the whole name,
so names that differ only after 16 bytes still get different streams."""

from __future__ import annotations

import hashlib

import numpy as np


def component_rng(seed: int, component: str) -> np.random.Generator:
    """An independent random stream per component, so adding draws to one component never
    changes another's output for the same seed."""
    tag = int.from_bytes(component.encode("utf-8")[:16].ljust(16, b"\0"), "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), tag]))


def model_rng(seed: int, name: str) -> np.random.Generator:
    """An independent stream per named model, the same for the same seed and name."""
    tag = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), tag]))
