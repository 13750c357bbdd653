"""Seconds and peak-memory growth per stage of one pairing run, and its progress bars.

:func:`recorded` opens a :class:`Stages` record for the call it wraps (``pair_queries``,
``bridge_pair``), made current through a context variable; :func:`stage` blocks anywhere below
(the reductions, ``embed``, the pairing index) add their time and memory to it, and cost nothing
when no record is open. :func:`progress` wraps a long loop in a tqdm bar when the open record
was asked for one (``progress=True``).

Memory is the growth of the process's peak resident set (``VmHWM`` on Linux, ``ru_maxrss``
elsewhere) across a stage: how far the stage raised the highest memory use so far. A stage that
stays below an earlier peak shows 0.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from tqdm.auto import tqdm

_CURRENT: contextvars.ContextVar[Stages | None] = contextvars.ContextVar(
    "scpairing_stages", default=None
)
_T = TypeVar("_T")


def peak_rss_gb() -> float:
    """Highest resident memory of this process so far, in GiB (``nan`` where unknown)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


class Stages:
    """Per-stage seconds and peak-RSS growth (GiB) of one run, in the order stages first ran.

    Parameters
    ----------
    progress
        Whether :func:`progress` shows bars while this record is open.
    """

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress
        self._records: dict[str, dict[str, float]] = {}

    def add(self, name: str, seconds: float, growth_gb: float) -> None:
        """Add a run of stage ``name``: seconds add up, the memory growth is the largest
        (``nan`` where the platform reports no peak memory)."""
        record = self._records.setdefault(name, {"seconds": 0.0, "peak_rss_growth_gb": np.nan})
        record["seconds"] += float(seconds)
        record["peak_rss_growth_gb"] = float(np.fmax(record["peak_rss_growth_gb"], growth_gb))

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{stage: {"seconds": s, "peak_rss_growth_gb": g}}``, a copy."""
        return {name: dict(record) for name, record in self._records.items()}


def current() -> Stages | None:
    """The open record, or ``None``."""
    return _CURRENT.get()


def recorded(func: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``func`` with a :class:`Stages` record open (its ``progress=`` keyword, default
    ``False``, decides the bars); a record already open (an outer recorded call) is reused."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        if _CURRENT.get() is not None:
            return func(*args, **kwargs)
        token = _CURRENT.set(Stages(progress=kwargs.get("progress") is True))
        try:
            return func(*args, **kwargs)
        finally:
            _CURRENT.reset(token)

    return wrapper


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the time and peak-RSS growth of the block to the open record (if any) as ``name``."""
    record = _CURRENT.get()
    if record is None:
        yield
        return
    start, peak = time.perf_counter(), peak_rss_gb()
    try:
        yield
    finally:
        record.add(name, time.perf_counter() - start, peak_rss_gb() - peak)


def add_seconds(name: str, seconds: float) -> None:
    """Add ``seconds`` of a stage that ran in pieces between others (its memory: ``nan``)."""
    record = _CURRENT.get()
    if record is not None:
        record.add(name, seconds, np.nan)


def progress(iterable: Iterable[_T], desc: str, total: int | None = None) -> Iterable[_T]:
    """``iterable`` in a tqdm bar when the open record asked for progress, else as it is."""
    record = _CURRENT.get()
    if record is None or not record.progress:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)
