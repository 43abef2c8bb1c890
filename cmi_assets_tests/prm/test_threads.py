"""Native thread limits: applied inside the block, lifted after it, skipped for None."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from cmi_assets.prm.threads import native_threads


def _thread_counts() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


def test_limit_applies_inside_the_block_only():
    import numpy  # noqa: F401  (loads OpenBLAS so there is a pool to limit)

    before = _thread_counts()
    with native_threads(1):
        assert _thread_counts() and all(n == 1 for n in _thread_counts())
    assert _thread_counts() == before
    with native_threads(None):
        assert _thread_counts() == before
