"""Blocked top-k cross-modal neighbour search on unit vectors (never builds the n x m matrix)."""

from __future__ import annotations

import numpy as np
import torch

# Entries of one similarity block; 2**25 float32 = 128 MiB, which bounds the search memory.
BLOCK_ENTRIES = 2**25


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def topk_edges(
    query: np.ndarray,
    base: np.ndarray,
    k: int,
    cutoff: float,
    *,
    base_subset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query row's ``k`` most similar rows of ``base`` with similarity >= ``cutoff``.

    Parameters
    ----------
    query, base
        Float32 unit rows, shapes ``(n, d)`` and ``(m, d)``.
    k
        Neighbours kept per query row (fewer where fewer pass the cutoff).
    cutoff
        Edges with a smaller cosine similarity are dropped.
    base_subset
        Restrict the search to these rows of ``base``; returned column indices refer to ``base``.

    Returns
    -------
    rows, cols, sims
        Edge lists (int64, int64, float32): ``query[rows[e]]`` and ``base[cols[e]]`` have cosine
        ``sims[e]``.
    """
    if base_subset is not None:
        base = base[base_subset]
    n, m = query.shape[0], base.shape[0]
    k = min(k, m)
    if n == 0 or k == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=np.float32)
    device = _device()
    base_t = torch.from_numpy(np.ascontiguousarray(base)).to(device)
    step = max(1, BLOCK_ENTRIES // m)
    rows, cols, sims = [], [], []
    with torch.no_grad():
        for start in range(0, n, step):
            block = torch.from_numpy(np.ascontiguousarray(query[start : start + step])).to(device)
            vals, idx = torch.topk(block @ base_t.T, k, dim=1, sorted=False)
            keep = vals >= cutoff
            r, c = keep.nonzero(as_tuple=True)
            rows.append((r + start).cpu().numpy())
            cols.append(idx[r, c].cpu().numpy())
            sims.append(vals[r, c].cpu().numpy())
    rows_a = np.concatenate(rows).astype(np.int64)
    cols_a = np.concatenate(cols).astype(np.int64)
    if base_subset is not None:
        cols_a = np.asarray(base_subset, dtype=np.int64)[cols_a]
    return rows_a, cols_a, np.concatenate(sims).astype(np.float32)
