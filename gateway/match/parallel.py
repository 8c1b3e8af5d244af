"""Case sources -> one Index, built by forked workers, one source each.

A million-case register takes about a minute on one core; with a worker per core
the build scales with the cores.  Workers are forked so that they share the
parent's hash seed (keys are built-in hashes) and read their source from the
parent's memory without pickling it; only the finished arrays come back.  Call it
before any thread starts (at start-up, or from a command), as with any fork.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from collections.abc import Callable, Iterable, Sequence

from gateway.match.index import Index, Part, build_part, merge
from gateway.register.model import Case, ProtectedLocation

Source = Callable[[], Iterable[Case]]
_sources: Sequence[Source] = ()


def build_index_parallel(
    sources: Sequence[Source], locations: Iterable[ProtectedLocation] = ()
) -> Index:
    """Index of every case of every source, each source built in its own process."""
    global _sources  # noqa: PLW0603 - how forked workers find their source
    _sources = sources
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(len(sources)) as pool:
            parts = pool.map(_build, range(len(sources)), chunksize=1)
    finally:
        _sources = ()
    index = merge([*parts, build_part((), locations)])
    del parts
    _release_freed_memory()
    return index


def split(cases: Sequence[Case], workers: int) -> list[Source]:
    """Sources for ``workers`` processes from a register already in memory."""
    size = -(-len(cases) // workers)
    return [
        lambda start=start: cases[start : start + size]  # type: ignore[misc]
        for start in range(0, len(cases), size)
    ]


def _release_freed_memory() -> None:
    """Give the parts' freed buffers back to the system (glibc keeps them otherwise)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def _build(number: int) -> Part:
    return build_part(_sources[number]())
