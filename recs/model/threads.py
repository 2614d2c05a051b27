"""BLAS thread limits around model work (threadpoolctl lives only in this package)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit BLAS to *n* threads inside the block (implicit's own solver threads are separate)."""
    with threadpool_limits(limits=max(1, n), user_api="blas"):
        yield
