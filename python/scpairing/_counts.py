"""Small count transforms shared by the metrics and the evaluation (one copy each)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def binarise(
    values: np.ndarray | sp.spmatrix, dtype: type = np.float64
) -> sp.csr_matrix | np.ndarray:
    """1 where a value is positive, else 0 (e.g. peak accessibility); sparse stays sparse."""
    if sp.issparse(values):
        out = sp.csr_matrix(values, dtype=dtype, copy=True)
        out.data = (out.data > 0).astype(dtype)
        out.eliminate_zeros()
        return out
    return (np.asarray(values) > 0).astype(dtype)


def log_normalise(
    counts: np.ndarray | sp.spmatrix, target_sum: float = 1e4
) -> sp.csr_matrix | np.ndarray:
    """Counts per ``target_sum`` per cell, then ``log1p`` (float64; sparse stays sparse)."""
    totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    if sp.issparse(counts):
        out = sp.csr_matrix(counts, dtype=np.float64, copy=True)
        out.data *= np.repeat(scale, np.diff(out.indptr))
        np.log1p(out.data, out=out.data)
        return out
    return np.log1p(np.asarray(counts, dtype=np.float64) * scale[:, None])
