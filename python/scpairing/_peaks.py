"""The one grammar of peak names: ``contig<sep>start<sep>end``.

Accepted: ``chr1:100-200``, ``chr1-100-200`` and ``chr1_100_200``. The two coordinates are read
from the right, so contigs holding ``-``, ``_`` or ``.`` (``chrUn-GL456394``, ``GL000205.2``)
are kept whole; leading zeros of coordinates are dropped. Names that do not match (gene names)
are not peaks. Python matches peaks by the canonical ``contig:start-end``; Signac and R's
``StandardizePeakNames()`` write ``contig-start-end``. ``tests/fixtures/peak_names.tsv`` holds
the cases both languages are tested on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

PEAK_PATTERN = r"^(.+)[:_-](\d+)[_-](\d+)$"
_PEAK_RE = re.compile(PEAK_PATTERN)


def _render(name: str, separator: str) -> str:
    match = _PEAK_RE.match(name)
    if match is None:
        return name
    contig, start, end = match.groups()
    return f"{contig}{separator}{int(start)}-{int(end)}"


def canonical_peak_name(name: str) -> str:
    """A peak name as ``contig:start-end``; names that are not peaks are returned as is."""
    return _render(name, ":")


def signac_peak_name(name: str) -> str:
    """A peak name as Signac writes it, ``contig-start-end``; other names are returned as is."""
    return _render(name, "-")


def split_peak_names(names: Sequence[str]) -> pd.DataFrame:
    """``chrom``, ``start``, ``end`` per name; ``None`` / ``NaN`` where a name is not a peak."""
    parts = pd.Series(np.asarray(names, dtype=str)).str.extract(PEAK_PATTERN)
    parts.columns = ["chrom", "start", "end"]
    for column in ("start", "end"):
        parts[column] = pd.to_numeric(parts[column])
    return parts
