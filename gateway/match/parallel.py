"""Case sources -> one Index, built by forked processes, one source each.

A million-case register takes about a minute on one core; with a process per core
the build scales with the cores.  The processes are plain forks (``os.fork``, so
that a daemonic builder process may have them too): they share the parent's hashing
key (``keys.use_key``) and read their source from the parent's memory without
pickling it; only the finished arrays come back, over a pipe.  The parent builds the
last source itself meanwhile.  Call it before any thread starts (at start-up, in a
builder process, or from a command), as with any fork.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter

from gateway.match.index import Index, Part, build_index, build_part, merge
from gateway.register.model import Case, ProtectedLocation, Register

Source = Callable[[], Iterable[Case]]
#: below this many cases one process builds faster than forking several
PARALLEL_FROM = 5_000


_CASES = TypeAdapter(list[Case])


def build_from_data(data: Mapping[str, Any], processes: int = 0) -> tuple[Index, int]:
    """The index of a stored register version from its parsed text, and its number of
    cases.  Each case is validated (into a ``Case``) by the process that indexes it,
    so validation runs on every core too; the rest of the register is validated here.
    (Ids are not checked for duplicates: the version was whole when it was stored.)"""
    processes = processes or len(os.sched_getaffinity(0))
    raw = data.get("cases") if isinstance(data, Mapping) else None
    if processes < 2 or not isinstance(raw, list) or len(raw) < PARALLEL_FROM:
        register = Register.model_validate(data)
        return build_index(register.cases, register.protected_locations), len(register.cases)
    rest = Register.model_validate({**data, "cases": []})
    size = -(-len(raw) // processes)
    sources: list[Source] = [
        lambda start=start: _CASES.validate_python(raw[start : start + size])  # type: ignore[misc]
        for start in range(0, len(raw), size)
    ]
    return build_index_parallel(sources, rest.protected_locations), len(raw)


def build_index_parallel(
    sources: Sequence[Source], locations: Iterable[ProtectedLocation] = ()
) -> Index:
    """Index of every case of every source, each source built in its own process
    (the last in this one)."""
    children = [_fork_build(source) for source in sources[:-1]]
    own = [build_part(sources[-1]())] if sources else []
    built = [_collect(*child) for child in children]  # every child reaped, failed or not
    parts = [part for part in built if part is not None]
    if len(parts) != len(built):
        raise RuntimeError("an index build process failed (see its error above)")
    index = merge([*parts, *own, build_part((), locations)])
    del parts, own
    _release_freed_memory()
    return index


def split(cases: Sequence[Case], workers: int) -> list[Source]:
    """Sources for ``workers`` processes from a register already in memory."""
    size = max(1, -(-len(cases) // workers))
    return [
        lambda start=start: cases[start : start + size]  # type: ignore[misc]
        for start in range(0, len(cases), size)
    ]


def _fork_build(source: Source) -> tuple[int, int]:
    """A child that builds ``source``'s part and writes it, pickled, to a pipe:
    (its pid, the pipe's reading end)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the parent's code
        code = 0
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                pickle.dump(build_part(source()), out, pickle.HIGHEST_PROTOCOL)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> Part | None:
    """The part a child wrote; None if it failed."""
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    part: Part = pickle.loads(data)  # noqa: S301 - from our own child
    return part


def _release_freed_memory() -> None:
    """Give the parts' freed buffers back to the system (glibc keeps them otherwise)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)
