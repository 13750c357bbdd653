"""ATAC: binarisation, log-TF-IDF, truncated SVD (LSI) with the first component dropped."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from .._peaks import canonical_peak_name
from ._base import (
    Reduction,
    _fix_signs,
    _float_values,
    _row_totals,
    _safe_inverse,
    _scale_log1p_inplace,
    _to_csr,
)


# ----------------------------------------------------------------------------------------------
# ATAC
# ----------------------------------------------------------------------------------------------
class ATACReduction(Reduction):
    """TF-IDF + truncated SVD (latent semantic indexing) of ATAC peak counts, fitted on a bridge.

    Steps: counts binarised (optional); TF-IDF weighting with the IDF learned on the bridge
    (``IDF = n_bridge_cells / peak total on the bridge``); truncated SVD of the sparse TF-IDF
    matrix by randomized SVD (scikit-learn's ``randomized_svd``, 7 power iterations, seeded;
    Halko et al. 2011); cell scores ``tfidf @ V``, then normalised per cell. With ``drop_first``
    the first component, which mostly tracks sequencing depth, is computed and discarded, so the
    output still has ``n_components`` columns.

    Two TF-IDF variants (``tfidf``):

    * ``"idf"`` (default): ``x_ij * log(IDF_j)`` on the (binarised) counts, no per-cell term
      frequency. Cell depth then only scales a cell's score vector, which the per-cell L2
      normalisation removes.
    * ``"log"``: Signac's default ``RunTFIDF``, ``log1p(TF * IDF * 1e4)`` with
      ``TF = count / cell total`` over all peaks of the input.

    Two score normalisations (``normalize``): ``"l2"`` (default) scales each cell's score vector
    to unit length; ``"standardize"`` standardises each component with the bridge's mean and
    standard deviation (Signac's ``scale.embeddings``).

    The defaults and ``n_components=200`` were chosen by measurement: on the bundled SNARE-seq2
    data (shallow: median 83 ATAC counts per cell), bridge-to-query FOSCTTM of the trained model
    was 0.152 with Signac's variant, standardised, 50 components, 0.125 with ``"idf"`` + ``"l2"``
    0.120 with 100 and 0.114 with 200 components (30% bridge, seed 0; median over seeds 0-2 with
    100/150/200/300 components: 0.116/0.113/0.112/0.115; ``benchmarks/bench_model.py``).

    Randomized rather than Krylov (ARPACK/PROPACK) SVD: the TF-IDF spectrum is flat beyond the first
    few components, and ARPACK then needs hundreds of passes over the matrix (60 s for 2M entries
    here, hours at 200M) where randomized SVD needs 16 block passes. The leading components agree;
    trailing ones are rotated within nearly degenerate subspaces, which is harmless because queries
    are projected on the very same stored loadings.

    Peaks never open on the bridge are dropped. Peak names ``chr1:100-200``, ``chr1-100-200`` and
    ``chr1_100_200`` are the same peak (see :func:`canonical_peak_name`). The TF-IDF matrix is
    float32 CSR sharing the input's index arrays.

    Parameters
    ----------
    n_components
        Number of output dimensions.
    drop_first
        Drop the first (depth) component.
    binarize
        Binarise counts before TF-IDF.
    tfidf
        ``"idf"`` or ``"log"`` (see above).
    normalize
        ``"l2"`` or ``"standardize"`` (see above).
    layer
        Layer holding the raw counts; ``None`` reads ``X``.
    min_overlap
        Default smallest fraction of bridge peaks a query must contain.
    seed
        Seed of the randomized SVD.
    allow_non_integer
        Accept non-integer values as counts (by default an error: raw counts are expected).
    """

    kind = "atac"
    _params = (*Reduction._params, "drop_first", "binarize", "tfidf", "normalize")
    _arrays = ("idf_", "components_", "score_mean_", "score_std_")

    def __init__(
        self,
        n_components: int = 200,
        *,
        drop_first: bool = True,
        binarize: bool = True,
        tfidf: str = "idf",
        normalize: str = "l2",
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
        for argname, value in (("drop_first", drop_first), ("binarize", binarize)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"`{argname}` must be True or False; got {value!r}.")
        if tfidf not in ("idf", "log"):
            raise ValueError(f"`tfidf` must be 'idf' or 'log'; got {tfidf!r}.")
        if normalize not in ("l2", "standardize"):
            raise ValueError(f"`normalize` must be 'l2' or 'standardize'; got {normalize!r}.")
        self.drop_first = bool(drop_first)
        self.binarize = bool(binarize)
        self.tfidf = tfidf
        self.normalize = normalize

    def _min_cells(self, n_features: int) -> int:
        # The SVD (n_components, plus the dropped first one) needs fewer components than cells.
        return self.n_components + int(self.drop_first) + 1

    def _canonical_names(self, names: Sequence[str]) -> list[str]:
        return [canonical_peak_name(str(n)) for n in names]

    def _tfidf(self, values: sp.csr_matrix, totals: np.ndarray) -> sp.csr_matrix:
        """TF-IDF in place on float32 ``values`` (binarised or not) given the cells' totals."""
        if self.tfidf == "log":
            return _scale_log1p_inplace(values, _safe_inverse(totals, 1e4), self.idf_)
        values.data *= np.log(self.idf_).astype(np.float32)[values.indices]
        return values

    def _normalise_scores(self, scores: np.ndarray) -> np.ndarray:
        if self.normalize == "standardize":
            return (scores - self.score_mean_) / self.score_std_
        norms = np.linalg.norm(scores, axis=1, keepdims=True)
        return scores / np.where(norms > 0, norms, 1.0)

    def _fit(self, counts, names: list[str]) -> None:
        # One float32 copy of the values serves the totals, the IDF and (in place) the TF-IDF.
        values = _float_values(_to_csr(counts), self.binarize)
        n_cells = values.shape[0]
        totals = _row_totals(values)
        peak_totals = np.asarray(values.sum(axis=0), dtype=np.float64).ravel()
        keep = np.flatnonzero(peak_totals > 0)
        n_svd = self.n_components + int(self.drop_first)
        self._check_size(n_cells, keep.size, n_svd, "peaks open on the bridge")
        if keep.size < values.shape[1]:
            values = values[:, keep]
        self.idf_ = n_cells / peak_totals[keep]
        tfidf = self._tfidf(values, totals)
        _, _, vt = randomized_svd(tfidf, n_svd, n_iter=7, random_state=self.seed)
        if self.drop_first:
            vt = vt[1:]
        self.components_ = _fix_signs(np.asarray(vt, dtype=np.float64))
        scores = tfidf @ self.components_.T.astype(np.float32)
        self.score_mean_ = scores.mean(axis=0, dtype=np.float64)
        std = scores.std(axis=0, ddof=1, dtype=np.float64)
        self.score_std_ = np.where(std > 0, std, 1.0)
        self._feature_names = [names[i] for i in keep]
        self._n_output = self.n_components

    def _transform(self, counts, columns) -> np.ndarray:
        values = _float_values(_to_csr(counts), self.binarize)
        totals = _row_totals(values)  # over all peaks of the input, as in fit
        aligned = _to_csr(self._align(values, columns))
        scores = self._tfidf(aligned, totals) @ self.components_.T.astype(np.float32)
        return self._normalise_scores(scores).astype(np.float32)
