"""Protein (ADT): centred log-ratio per cell, then PCA (or pass-through for small panels)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from ._base import Reduction, _fix_signs


# ----------------------------------------------------------------------------------------------
# protein
# ----------------------------------------------------------------------------------------------
class ProteinReduction(Reduction):
    """Centred log-ratio + PCA of protein (ADT) counts, fitted on a bridge.

    CLR per cell: ``log1p(x) - mean_j log1p(x_j)`` over the bridge's proteins (the additive
    pseudocount-1 CLR; Seurat's ``CLR`` with ``margin = 2`` uses ``log1p(x / geometric mean)``,
    which is close but not identical). Then PCA (exact, dense: protein panels are small), or, when
    the panel has at most ``n_components`` proteins, the CLR values centred by the bridge's mean.

    Parameters
    ----------
    n_components
        Number of principal components; the output has ``min(n_components, n_proteins)`` columns.
    layer
        Layer holding the raw counts; ``None`` reads ``X``.
    min_overlap
        Default smallest fraction of bridge proteins a query must contain.
    seed
        Unused by the exact PCA; kept for a uniform interface.
    allow_non_integer
        Accept non-integer values as counts (by default an error: raw counts are expected).
    """

    kind = "protein"
    _arrays = ("mean_", "components_")

    def __init__(
        self,
        n_components: int = 20,
        *,
        layer: str | None = None,
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

    def _min_cells(self, n_features: int) -> int:
        # The PCA's components cannot outnumber the cells; small panels skip the PCA.
        return 2 if n_features <= self.n_components else max(2, self.n_components)

    @staticmethod
    def _clr(counts) -> np.ndarray:
        dense = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
        logged = np.log1p(dense.astype(np.float64))
        return logged - logged.mean(axis=1, keepdims=True)

    def _fit(self, counts, names: list[str]) -> None:
        n_cells, n_proteins = counts.shape
        if n_cells < 2:
            raise ValueError(f"`adata` has {n_cells} cell; ProteinReduction needs at least 2.")
        clr = self._clr(counts)
        self.mean_ = clr.mean(axis=0)
        if n_proteins <= self.n_components:
            self.components_ = np.eye(n_proteins)
        else:
            if self.n_components > n_cells:
                raise ValueError(
                    f"`n_components`={self.n_components} is too large for {n_cells} cells; "
                    "PCA needs at most as many components as cells."
                )
            pca = PCA(n_components=self.n_components, svd_solver="full").fit(clr)
            self.components_ = _fix_signs(pca.components_)
        self._feature_names = list(names)
        self._n_output = self.components_.shape[0]

    def _transform(self, counts, columns) -> np.ndarray:
        clr = self._clr(self._align(counts, columns))
        return (clr - self.mean_) @ self.components_.T
