"""RNA: library-size normalisation, log1p, optional highly variable genes, clipped
standardisation, PCA."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._base import (
    Reduction,
    _check_n_components,
    _entry_blocks,
    _fix_signs,
    _float_values,
    _row_totals,
    _safe_inverse,
    _scale_log1p_inplace,
    _to_csr,
)


# ----------------------------------------------------------------------------------------------
# RNA
# ----------------------------------------------------------------------------------------------
def _highly_variable(mean: np.ndarray, var: np.ndarray, n_top: int, n_bins: int = 20) -> np.ndarray:
    """Indices (sorted) of the ``n_top`` genes of highest binned, normalised dispersion.

    Dispersion is ``log(var / mean)`` of the log-normalised data, z-scored within 20 equal-width
    bins of mean expression (the "seurat" flavour of scanpy / Seurat's ``mean.var.plot``), so that
    genes are compared with genes of similar expression. Ties keep gene order.
    """
    dispersion = np.log(var / mean)
    edges = np.linspace(mean.min(), mean.max(), n_bins + 1)
    bins = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, n_bins - 1)
    normalised = np.zeros_like(dispersion)
    for b in np.unique(bins):
        members = bins == b
        spread = dispersion[members].std(ddof=1) if members.sum() > 1 else 0.0
        if spread > 0:
            normalised[members] = (dispersion[members] - dispersion[members].mean()) / spread
    order = np.argsort(-normalised, kind="stable")
    return np.sort(order[:n_top])


class RNAReduction(Reduction):
    """Log-normalisation + standardisation + PCA of RNA counts, fitted on a bridge.

    Steps: counts of each cell scaled to ``target_sum`` (library size over all genes of the
    input), ``log1p``; optionally the ``n_top_genes`` most variable genes (binned normalised
    dispersion of the log-normalised bridge, see :func:`_highly_variable`); each gene standardised
    with the bridge's mean and standard deviation (ddof=1) and clipped above at ``max_value``
    (as Seurat's ``ScaleData``: only the upper tail is clipped, which keeps zeros as stored zeros);
    PCA of the result.

    The PCA runs on the sparse standardised matrix with implicit centring: scikit-learn's
    ``PCA(svd_solver="arpack")`` wraps it in a ``LinearOperator`` and calls
    ``scipy.sparse.linalg.svds``. That is exact up to ARPACK's tolerance, needs memory of the order
    of the stored entries plus a few (cells + genes) x components blocks, never densifies the
    matrix nor forms a genes x genes covariance, and is deterministic (seeded start vector).
    Components are signed so that each one's largest-magnitude loading is positive.

    Genes constant on the bridge (e.g. never detected) are dropped.

    Parameters
    ----------
    n_components
        Number of principal components (output dimensions).
    n_top_genes
        Number of highly variable genes to keep; ``None`` keeps all non-constant genes.
    target_sum
        Library size each cell is scaled to before ``log1p``.
    layer
        Layer holding the raw counts; ``None`` reads ``X``.
    max_value
        Upper clip of the standardised values.
    min_overlap
        Default smallest fraction of bridge genes a query must contain.
    seed
        Seed of the ARPACK start vector.
    allow_non_integer
        Accept non-integer values as counts. By default they raise an error, since
        log-normalised or scaled data given as counts would be transformed twice.
    """

    kind = "rna"
    _params = (*Reduction._params, "n_top_genes", "target_sum", "max_value")
    _arrays = ("mean_", "std_", "pca_mean_", "components_")

    def __init__(
        self,
        n_components: int = 50,
        *,
        n_top_genes: int | None = None,
        target_sum: float = 1e4,
        layer: str | None = None,
        max_value: float = 10.0,
        min_overlap: float = 0.5,
        seed: int = 0,
        allow_non_integer: bool = False,
    ) -> None:
        super().__init__(
            n_components,
            layer=layer,
            min_overlap=min_overlap,
            seed=seed,
            allow_non_integer=allow_non_integer,
        )
        self.n_top_genes = None if n_top_genes is None else _check_n_components(n_top_genes)
        if (
            isinstance(target_sum, bool)
            or not isinstance(target_sum, (int, float))
            or target_sum <= 0
        ):
            raise ValueError(f"`target_sum` must be a positive number; got {target_sum!r}.")
        self.target_sum = float(target_sum)
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or max_value <= 0:
            raise ValueError(f"`max_value` must be a positive number; got {max_value!r}.")
        self.max_value = float(max_value)

    def _min_cells(self, n_features: int) -> int:
        # ARPACK PCA needs fewer components than cells.
        return self.n_components + 1

    def _lognorm(self, x: sp.csr_matrix, totals: np.ndarray) -> sp.csr_matrix:
        """log1p of counts scaled to ``target_sum`` per cell, as a new float32 CSR matrix."""
        factor = _safe_inverse(totals, self.target_sum)
        return _scale_log1p_inplace(_float_values(x, binarize=False), factor, None)

    def _standardise(self, lognorm: sp.csr_matrix) -> sp.csr_matrix:
        """Clip above at mean + max_value * std, then divide by std, on the stored entries."""
        upper = (self.mean_ + self.max_value * self.std_).astype(np.float32)
        inv_std = (1.0 / self.std_).astype(np.float32)
        data = lognorm.data
        for _, _, e0, e1 in _entry_blocks(lognorm.indptr):
            cols = lognorm.indices[e0:e1]
            np.minimum(data[e0:e1], upper[cols], out=data[e0:e1])
            data[e0:e1] *= inv_std[cols]
        return lognorm

    def _fit(self, counts, names: list[str]) -> None:
        x = _to_csr(counts)
        lognorm = self._lognorm(x, _row_totals(x))
        del x
        n_cells = lognorm.shape[0]
        if n_cells < 2:
            raise ValueError(f"`adata` has {n_cells} cell; RNAReduction needs at least 2.")
        mean, var = (np.asarray(v, dtype=np.float64) for v in mean_variance_axis(lognorm, axis=0))
        var *= n_cells / (n_cells - 1)
        keep = np.flatnonzero(var > 0)
        if self.n_top_genes is not None and self.n_top_genes < keep.size:
            keep = keep[_highly_variable(mean[keep], var[keep], self.n_top_genes)]
        self._check_size(n_cells, keep.size, self.n_components, "non-constant genes")
        self.mean_ = mean[keep]
        self.std_ = np.sqrt(var[keep])
        scaled = self._standardise(lognorm[:, keep] if keep.size < lognorm.shape[1] else lognorm)
        pca = PCA(n_components=self.n_components, svd_solver="arpack", random_state=self.seed)
        pca.fit(scaled)
        self.pca_mean_ = np.asarray(pca.mean_, dtype=np.float64).ravel()
        self.components_ = _fix_signs(np.asarray(pca.components_, dtype=np.float64))
        self._feature_names = [names[i] for i in keep]
        self._n_output = self.n_components

    def _transform(self, counts, columns) -> np.ndarray:
        x = _to_csr(counts)
        totals = _row_totals(x)  # library size over all genes of the input, as in fit
        aligned = _to_csr(self._align(x, columns))
        scaled = self._standardise(self._lognorm(aligned, totals))
        loadings = self.components_.T.astype(np.float32)
        offset = (self.pca_mean_ @ self.components_.T).astype(np.float32)
        return scaled @ loadings - offset
