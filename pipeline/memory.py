"""Freed memory handed back to the operating system between the steps of a long job.

glibc's allocator keeps the pages of freed blocks for reuse, one heap per thread
(the chunks are scored on threads), so a job's resident memory after a step stays
near that step's peak, and the next step's peak comes on top. :func:`release` asks it
to return them (``malloc_trim``); elsewhere (another C library) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release() -> None:
    """Return the pages of freed blocks to the operating system, where the C library
    can (glibc's ``malloc_trim(0)``)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
