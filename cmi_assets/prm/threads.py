"""Native thread limits for model fitting.

The prm fits are tall and narrow (thousands of children, tens of columns): multithreaded
BLAS and OpenMP gain nothing there, and on a shared machine their workers busy-wait when
cores are oversubscribed. Measured on the 2-core development machine under load: a stepwise
fit on 4,904 children took 1.1-1.3 s with default threads and 0.08 s with one; boosting
was 10-50 times slower. So fits default to one native thread; pass None to lift the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits  # ships with scikit-learn (a pinned dependency)

DEFAULT_NATIVE_THREADS = 1


@contextmanager
def native_threads(n_threads: int | None = DEFAULT_NATIVE_THREADS) -> Iterator[None]:
    """Limit BLAS and OpenMP threads inside the block (no limit when `n_threads` is None)."""
    if n_threads is None:
        yield
        return
    with threadpool_limits(limits=n_threads):
        yield
