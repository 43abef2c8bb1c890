"""Named random streams: one independent, reproducible generator per (seed, component)."""

from __future__ import annotations

import numpy as np


def component_rng(seed: int, component: str) -> np.random.Generator:
    """An independent random stream per component, so adding draws to one component never
    changes another's output for the same seed."""
    tag = int.from_bytes(component.encode("utf-8")[:16].ljust(16, b"\0"), "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), tag]))
