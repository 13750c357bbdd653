"""Reductions fitted on a paired bridge and reused, unchanged, on unpaired query datasets.

Bridge pairing only works when every query is put into the *same* low-dimensional coordinate
system the model was trained on. Each reduction here is fitted once on the bridge's raw counts
(its features, scaling statistics, IDF and loadings are stored) and then ``transform`` maps the raw
counts of any dataset into that space, matching features by name.

- :class:`RNAReduction`: library-size normalisation, log1p, optional highly variable genes,
  standardisation (clipped), PCA.
- :class:`ATACReduction`: binarisation, log-TF-IDF, truncated SVD (LSI), first component dropped.
- :class:`ProteinReduction`: centred log-ratio per cell, PCA (or pass-through for small panels).

All work on sparse counts without densifying them.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import anndata as ad
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._peaks import canonical_peak_name
from ._validate import (
    check_anndata,
    check_bool,
    check_counts,
    check_modality,
    check_seed,
    is_integer,
    non_integer_example,
)

__all__ = [
    "ATACReduction",
    "ProjectedLSI",
    "ProjectedPCA",
    "ProteinReduction",
    "RNAReduction",
    "Reduction",
    "canonical_peak_name",
    "make_reduction",
    "reduction_from_state",
]

# Rows are processed in blocks of about this many stored entries so that per-entry temporaries
# (row/column factors gathered to the entries) stay small on very large matrices.
_CHUNK_NNZ = 1 << 22


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _check_n_components(n_components: object) -> int:
    if not is_integer(n_components):
        raise TypeError(f"`n_components` must be a positive integer; got {n_components!r}.")
    if n_components < 1:
        raise ValueError(f"`n_components` must be a positive integer; got {n_components}.")
    return int(n_components)


def _check_min_overlap(min_overlap: object) -> float:
    if isinstance(min_overlap, bool) or not isinstance(min_overlap, (int, float, np.floating)):
        raise TypeError(f"`min_overlap` must be a number in [0, 1]; got {min_overlap!r}.")
    if not 0.0 <= float(min_overlap) <= 1.0:
        raise ValueError(f"`min_overlap` must be in [0, 1]; got {min_overlap}.")
    return float(min_overlap)


_READERS = {"rna": "RNAReduction", "atac": "ATACReduction", "protein": "ProteinReduction"}


def _counts_fix(adata: ad.AnnData, layer: str | None, kind: str) -> str:
    """How to point scpairing at raw counts, for an error message."""
    others = [str(k) for k in adata.layers.keys() if k != layer]
    name = others[0] if others else "counts"
    listed = ", ".join(map(repr, others)) if others else "none"
    reader = f"scp.pp.{_READERS.get(kind, 'RNAReduction')}(layer={name!r})"
    modality = kind if kind in _READERS else "rna"
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    return (
        f"Point scpairing at the raw counts: keep them in a layer and name it on the reduction, "
        f"e.g. `{reader}` (for a model: `ScPairing(data, reductions={{{modality!r}: {reader}}})`"
        f"; layers of this AnnData: {listed}), or put them where they are read "
        f"(`{where} = raw_counts`)"
    )


def read_counts(
    adata: ad.AnnData,
    layer: str | None,
    argname: str,
    *,
    allow_non_integer: bool = False,
    kind: str = "rna",
) -> np.ndarray | sp.csr_matrix:
    """Return the counts of ``adata`` (``X`` or ``layers[layer]``) as a checked ndarray or CSR.

    Missing layers, non-2-D, empty, negative or non-finite values raise errors naming ``argname``.
    So do non-integer values (log-normalised or scaled data), unless ``allow_non_integer``:
    floats are checked for whole numbers on every stored value, or on a seeded random sample of
    a million of them for larger matrices. ``kind`` (``"rna"``, ``"atac"``, ``"protein"``) only
    shapes the advice in error messages. CSR input is returned without copying unless it has
    duplicate or unsorted entries.
    """
    check_anndata(adata, argname)
    allow_non_integer = check_bool(allow_non_integer, "allow_non_integer")
    if layer is None:
        values, where = adata.X, f"{argname}.X"
    else:
        if layer not in adata.layers:
            available = ", ".join(map(repr, adata.layers.keys())) or "none"
            raise KeyError(
                f"`layer`: layer {layer!r} not found in `{argname}` (available: {available})."
            )
        values, where = adata.layers[layer], f"{argname}.layers[{layer!r}]"
    if values is None:
        raise ValueError(f"`{where}` is empty; expected a cells x features count matrix.")
    if sp.issparse(values):
        values = sp.csr_matrix(values)
        if not values.has_canonical_format:
            values = values.copy()
            values.sum_duplicates()
    else:
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(
                f"`{where}` must be a 2-D cells x features matrix; got {values.shape}."
            )
    try:
        check_counts(values, where)
    except ValueError as error:
        if "negative" not in str(error):
            raise
        raise ValueError(f"{error} {_counts_fix(adata, layer, kind)}.") from None
    if values.shape[1] == 0:
        raise ValueError(f"`{where}` has no features.")
    if not allow_non_integer:
        example = non_integer_example(values)
        if example is not None:
            raise ValueError(
                f"`{where}` holds non-integer values (e.g. {example:.6g}) where raw counts are "
                f"required; log-normalised or scaled data look like this. "
                f"{_counts_fix(adata, layer, kind)}. If these values are what you mean to use "
                "(e.g. ambient-corrected counts), pass `allow_non_integer=True` (to "
                "`ScPairing`, `embed`, `bridge_pair` or the reduction)."
            )
    return values


def _to_csr(values: np.ndarray | sp.csr_matrix) -> sp.csr_matrix:
    return values if sp.issparse(values) else sp.csr_matrix(values)


def _row_totals(x: sp.csr_matrix) -> np.ndarray:
    return np.asarray(x.sum(axis=1), dtype=np.float64).ravel()


def _entry_blocks(indptr: np.ndarray):
    """Yield ``(row_start, row_stop, entry_start, entry_stop)`` blocks of ~_CHUNK_NNZ entries."""
    n_rows = len(indptr) - 1
    start = 0
    while start < n_rows:
        stop = int(np.searchsorted(indptr, indptr[start] + _CHUNK_NNZ, side="right")) - 1
        stop = min(max(stop, start + 1), n_rows)
        yield start, stop, int(indptr[start]), int(indptr[stop])
        start = stop


def _float_values(x: sp.csr_matrix, binarize: bool) -> sp.csr_matrix:
    """float32 copy of the stored values (1 where positive if ``binarize``); indices are shared."""
    data = (x.data > 0).astype(np.float32) if binarize else x.data.astype(np.float32)
    return sp.csr_matrix((data, x.indices, x.indptr), shape=x.shape)


def _scale_log1p_inplace(
    x: sp.csr_matrix, row_factor: np.ndarray, col_factor: np.ndarray | None
) -> sp.csr_matrix:
    """``x_ij <- log1p(x_ij * row_factor_i * col_factor_j)`` on the stored float32 entries."""
    row_factor = row_factor.astype(np.float32)
    col_factor = None if col_factor is None else col_factor.astype(np.float32)
    for r0, r1, e0, e1 in _entry_blocks(x.indptr):
        block = x.data[e0:e1]
        block *= np.repeat(row_factor[r0:r1], np.diff(x.indptr[r0 : r1 + 1]))
        if col_factor is not None:
            block *= col_factor[x.indices[e0:e1]]
        np.log1p(block, out=block)
    return x


def _safe_inverse(totals: np.ndarray, scale: float) -> np.ndarray:
    """``scale / totals`` with empty rows (total 0, hence no stored entries) mapped to 0."""
    out = np.zeros_like(totals, dtype=np.float64)
    np.divide(scale, totals, out=out, where=totals > 0)
    return out


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip each component so that its largest-magnitude loading is positive (deterministic)."""
    biggest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), biggest])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def _check_unique(names: Sequence[str], argname: str) -> None:
    seen: set[str] = set()
    dups = [n for n in names if n in seen or seen.add(n)]
    if dups:
        raise ValueError(
            f"`{argname}` has duplicated feature names (e.g. {dups[:3]}); "
            "features are matched by name, so names must be unique (e.g. "
            "`adata.var_names_make_unique()`, or drop the duplicated features)."
        )


# ----------------------------------------------------------------------------------------------
# base class
# ----------------------------------------------------------------------------------------------
class Reduction(ABC):
    """A dimensionality reduction fitted on a bridge's raw counts and reused on queries.

    Subclasses implement ``_fit`` and ``_transform`` on a CSR (or dense, for proteins) count
    matrix whose columns are already aligned to :attr:`feature_names`.
    """

    kind: ClassVar[str]
    # Constructor options saved in the state; subclasses extend this.
    _params: ClassVar[tuple[str, ...]] = (
        "n_components",
        "layer",
        "min_overlap",
        "seed",
        "allow_non_integer",
    )
    # Options added after the first file version: states written before them use the default.
    _optional_params: ClassVar[dict[str, Any]] = {"allow_non_integer": False}
    # Fitted arrays saved in the state; subclasses set this.
    _arrays: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        n_components: int,
        *,
        layer: str | None = None,
        min_overlap: float = 0.5,
        seed: int = 0,
        allow_non_integer: bool = False,
    ) -> None:
        self.n_components = _check_n_components(n_components)
        if layer is not None and not isinstance(layer, str):
            raise TypeError(f"`layer` must be a string or None; got {layer!r}.")
        self.layer = layer
        self.min_overlap = _check_min_overlap(min_overlap)
        self.seed = check_seed(seed)
        self.allow_non_integer = check_bool(allow_non_integer, "allow_non_integer")
        self._feature_names: list[str] | None = None
        self._n_output: int | None = None

    # -- fitted attributes -------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called."""
        return self._feature_names is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(bridge) first."
            )

    @property
    def feature_names(self) -> list[str]:
        """Names of the bridge features the reduction uses, in order (canonical for peaks)."""
        self._check_fitted()
        return list(self._feature_names)

    @property
    def n_output(self) -> int:
        """Number of output dimensions of :meth:`transform`."""
        self._check_fitted()
        return int(self._n_output)

    def _min_cells(self, n_features: int) -> int:
        """Fewest bridge cells :meth:`fit` accepts for ``n_features`` input features (more
        features than components permitting); :class:`scpairing.ScPairing` checks it up front."""
        return 2

    def __repr__(self) -> str:
        params = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        fitted = f", fitted on {len(self._feature_names)} features" if self.is_fitted else ""
        return f"{type(self).__name__}({params}{fitted})"

    # -- public API ----------------------------------------------------------------------------
    def fit(self, adata: ad.AnnData) -> Reduction:
        """Fit the reduction on the raw counts of the bridge.

        Parameters
        ----------
        adata
            Bridge cells x features, counts in ``X`` or in ``layers[layer]`` (dense or sparse,
            integer or float, non-negative).

        Returns
        -------
        self
        """
        return self._fit_named(adata, "adata")

    def _fit_named(self, adata: ad.AnnData, argname: str) -> Reduction:
        """:meth:`fit`, with errors naming the argument ``argname``."""
        counts = read_counts(
            adata, self.layer, argname, allow_non_integer=self.allow_non_integer, kind=self.kind
        )
        names = self._canonical_names(adata.var_names)
        _check_unique(names, f"{argname}.var_names")
        self._fit(counts, names)
        return self

    def transform(
        self,
        adata: ad.AnnData,
        *,
        min_overlap: float | None = None,
        allow_non_integer: bool | None = None,
    ) -> np.ndarray:
        """Map raw counts into the bridge's fitted space.

        Features are matched to the bridge's by name (reordered; missing ones are zero-filled
        with a ``UserWarning``; features unknown to the bridge are ignored).

        Parameters
        ----------
        adata
            Cells x features counts in ``X`` or ``layers[layer]``.
        min_overlap
            Smallest fraction of the bridge's features that must be present; ``None`` uses the
            value given to the constructor.
        allow_non_integer
            Accept non-integer values (otherwise an error: raw counts are expected); ``None``
            uses the value given to the constructor.

        Returns
        -------
        np.ndarray
            float32 array of shape ``(adata.n_obs, n_output)``.
        """
        return self._transform_named(
            adata, "adata", min_overlap=min_overlap, allow_non_integer=allow_non_integer
        )

    def _transform_named(
        self,
        adata: ad.AnnData,
        argname: str,
        *,
        min_overlap: float | None = None,
        allow_non_integer: bool | None = None,
    ) -> np.ndarray:
        """:meth:`transform`, with errors naming the argument ``argname``."""
        self._check_fitted()
        min_overlap = self.min_overlap if min_overlap is None else _check_min_overlap(min_overlap)
        if allow_non_integer is None:
            allow_non_integer = self.allow_non_integer
        counts = read_counts(
            adata, self.layer, argname, allow_non_integer=allow_non_integer, kind=self.kind
        )
        names = self._canonical_names(adata.var_names)
        _check_unique(names, f"{argname}.var_names")
        out = self._transform(counts, names, min_overlap)
        return np.ascontiguousarray(out, dtype=np.float32)

    def fit_transform(self, adata: ad.AnnData) -> np.ndarray:
        """Fit on ``adata`` and return its transform (same as ``fit(adata).transform(adata)``)."""
        return self.fit(adata).transform(adata)

    def to_state(self) -> dict[str, Any]:
        """Return the fitted reduction as a dict of plain values, string lists and numpy arrays.

        :func:`reduction_from_state` rebuilds an identical fitted object from it.
        """
        self._check_fitted()
        state: dict[str, Any] = {"kind": self.kind}
        state.update({p: getattr(self, p) for p in self._params})
        state["feature_names"] = list(self._feature_names)
        state["n_output"] = int(self._n_output)
        state.update({a: np.array(getattr(self, a)) for a in self._arrays})
        return state

    # -- internals -----------------------------------------------------------------------------
    def _canonical_names(self, names: Sequence[str]) -> list[str]:
        return [str(n) for n in names]

    def _check_size(self, n_cells: int, n_features: int, n_needed: int, what: str) -> None:
        if n_needed >= min(n_cells, n_features):
            raise ValueError(
                f"`n_components`={self.n_components} is too large for {n_cells} cells x "
                f"{n_features} {what}: the decomposition needs {n_needed} components, which "
                "must be smaller than both the number of cells and of features."
            )

    def _alignment(self, names: Sequence[str], min_overlap: float) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(query_columns, bridge_columns)`` of the features shared with the bridge."""
        position = {name: i for i, name in enumerate(self._feature_names)}
        query_cols, bridge_cols = [], []
        for j, name in enumerate(names):
            i = position.get(name)
            if i is not None:
                query_cols.append(j)
                bridge_cols.append(i)
        n_bridge = len(self._feature_names)
        n_found = len(bridge_cols)
        if n_found < min_overlap * n_bridge or n_found == 0:
            raise ValueError(
                f"`adata` shares only {n_found} of the bridge's {n_bridge} features "
                f"({n_found / n_bridge:.1%}); at least {min_overlap:.0%} are required "
                "(`min_overlap`). Check that features are named as in the bridge."
            )
        if n_found < n_bridge:
            warnings.warn(
                f"{n_bridge - n_found} of the bridge's {n_bridge} features "
                f"({(n_bridge - n_found) / n_bridge:.1%}) are missing from `adata`; "
                "they are treated as zero counts.",
                UserWarning,
                stacklevel=5,
            )
        return np.asarray(query_cols, dtype=np.intp), np.asarray(bridge_cols, dtype=np.intp)

    def _align(self, counts, names: Sequence[str], min_overlap: float):
        """Columns of ``counts`` reordered to the bridge's features, missing ones zero."""
        if list(names) == self._feature_names:
            return counts
        query_cols, bridge_cols = self._alignment(names, min_overlap)
        n_bridge = len(self._feature_names)
        if sp.issparse(counts):
            # Take the shared columns, then relabel them to their bridge position.
            sub = counts[:, query_cols].tocsr()
            aligned = sp.csr_matrix(
                (sub.data, bridge_cols[sub.indices], sub.indptr), shape=(counts.shape[0], n_bridge)
            )
            aligned.sort_indices()
            return aligned
        aligned = np.zeros((counts.shape[0], n_bridge), dtype=counts.dtype)
        aligned[:, bridge_cols] = counts[:, query_cols]
        return aligned

    @abstractmethod
    def _fit(self, counts, names: list[str]) -> None: ...

    @abstractmethod
    def _transform(self, counts, names: list[str], min_overlap: float) -> np.ndarray: ...


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

    def _transform(self, counts, names: list[str], min_overlap: float) -> np.ndarray:
        x = _to_csr(counts)
        totals = _row_totals(x)  # library size over all genes of the input, as in fit
        aligned = _to_csr(self._align(x, names, min_overlap))
        scaled = self._standardise(self._lognorm(aligned, totals))
        loadings = self.components_.T.astype(np.float32)
        offset = (self.pca_mean_ @ self.components_.T).astype(np.float32)
        return scaled @ loadings - offset


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

    def _transform(self, counts, names: list[str], min_overlap: float) -> np.ndarray:
        values = _float_values(_to_csr(counts), self.binarize)
        totals = _row_totals(values)  # over all peaks of the input, as in fit
        aligned = _to_csr(self._align(values, names, min_overlap))
        scores = self._tfidf(aligned, totals) @ self.components_.T.astype(np.float32)
        return self._normalise_scores(scores).astype(np.float32)


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

    def _transform(self, counts, names: list[str], min_overlap: float) -> np.ndarray:
        clr = self._clr(self._align(counts, names, min_overlap))
        return (clr - self.mean_) @ self.components_.T


# ----------------------------------------------------------------------------------------------
# reductions computed elsewhere (Seurat, Signac, scanpy, muon): projected from their loadings
# ----------------------------------------------------------------------------------------------
def _column_error(projected: np.ndarray, given: np.ndarray) -> float:
    """Largest absolute difference per component relative to that component's spread."""
    spread = given.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    return float((np.abs(projected - given).max(axis=0) / spread).max())


def _optional_vector(value: object, argname: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64).ravel()
    if not np.isfinite(array).all():
        raise ValueError(f"`{argname}` must be finite.")
    return array


class _ProjectedReduction(Reduction):
    """A reduction computed outside scpairing, on the bridge, and projected onto queries.

    The bridge carries the reduction (``obsm[obsm_key]``) and its feature loadings (a ``varm``
    key, or an array with the feature names). :meth:`fit` captures from the bridge's raw counts
    what the original pipeline computed from them (per-feature statistics, IDF, scaling) and
    checks that projecting the bridge's own counts reproduces ``obsm[obsm_key]`` (to
    ``tolerance``, relative to each component's spread; the error is kept as
    :attr:`reprojection_error_`). :meth:`transform` uses a query's own ``obsm[obsm_key]`` when it
    has one (then taken to be in the bridge's space already) and projects its counts otherwise;
    :meth:`project` always projects counts.
    """

    _params = ("obsm_key", "layer", "min_overlap", "allow_non_integer", "tolerance")
    _options: ClassVar[tuple[str, ...]] = ()
    _arrays: ClassVar[tuple[str, ...]] = ("components_",)
    _what: ClassVar[str] = "reduction"
    _hints: ClassVar[str] = ""

    def __init__(
        self,
        obsm_key: str,
        *,
        loadings: str | np.ndarray,
        features: Sequence[str] | None,
        layer: str | None,
        min_overlap: float,
        allow_non_integer: bool,
        tolerance: float | None,
    ) -> None:
        super().__init__(
            1, layer=layer, min_overlap=min_overlap, allow_non_integer=allow_non_integer
        )
        if not isinstance(obsm_key, str) or not obsm_key:
            raise TypeError(f"`obsm_key` must be a non-empty string; got {obsm_key!r}.")
        self.obsm_key = obsm_key
        if tolerance is not None and (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, (int, float))
            or not tolerance > 0
        ):
            raise ValueError(f"`tolerance` must be a positive number or None; got {tolerance!r}.")
        self.tolerance = None if tolerance is None else float(tolerance)
        if isinstance(loadings, str):
            if features is not None:
                raise ValueError(
                    "`features` names the rows of a `loadings` array; with a varm key "
                    f"({loadings!r}) the rows are the bridge's var_names."
                )
            self.n_components = None
        else:
            array = np.asarray(loadings, dtype=np.float64)
            if array.ndim == 1:
                array = array[:, None]
            if array.ndim != 2 or array.shape[1] == 0 or not np.isfinite(array).all():
                raise ValueError(
                    "`loadings` must be a finite features x components matrix (or a varm key); "
                    f"got shape {array.shape}."
                )
            if features is None or len(features) != array.shape[0]:
                n = "no" if features is None else len(features)
                raise ValueError(
                    f"`features` must name the {array.shape[0]} rows of `loadings`; got {n} names."
                )
            features = self._canonical_names([str(f) for f in features])
            _check_unique(features, "features")
            loadings = array
            self.n_components = array.shape[1]
        self._loadings = loadings
        self._given_features = None if features is None else list(features)
        self.reprojection_error_: float | None = None

    def __repr__(self) -> str:
        params = ", ".join(f"{p}={getattr(self, p)!r}" for p in (*self._params, *self._options))
        fitted = (
            f", fitted on {len(self._feature_names)} features x {self._n_output} components, "
            f"reprojection error {self.reprojection_error_:.2g}"
            if self.is_fitted
            else ""
        )
        return f"{type(self).__name__}({params}{fitted})"

    # -- fit -----------------------------------------------------------------------------------
    def _fit(self, counts, names: list[str]) -> None:  # pragma: no cover - _fit_named is used
        raise NotImplementedError

    def _bridge_loadings(self, adata: ad.AnnData, argname: str) -> tuple[list[str], np.ndarray]:
        spec = self._loadings
        if isinstance(spec, str):
            if spec not in adata.varm:
                available = ", ".join(map(repr, adata.varm.keys())) or "none"
                raise KeyError(
                    f"`{argname}.varm[{spec!r}]` not found (varm keys: {available}): the feature "
                    f"loadings of `obsm[{self.obsm_key!r}]` are what projects count-only "
                    f"queries into it. Pass them (`loadings=` a features x components array "
                    f"with `features=`), or give the plain obsm key "
                    f"(`reductions={{...: {self.obsm_key!r}}}`: queries must then carry the "
                    "reduction in the bridge's space), or None to fit scpairing's own reduction."
                )
            loadings = np.asarray(adata.varm[spec], dtype=np.float64)
            features = self._canonical_names(adata.var_names)
        else:
            loadings, features = spec, list(self._given_features)
        # scanpy's PCA on highly variable genes stores zero loadings for the other genes.
        used = np.flatnonzero(np.abs(loadings).sum(axis=1) > 0)
        if used.size == 0:
            raise ValueError(f"The loadings of `obsm[{self.obsm_key!r}]` are all zero.")
        return [features[i] for i in used], loadings[used]

    def _fit_named(self, adata: ad.AnnData, argname: str) -> Reduction:
        check_anndata(adata, argname)
        if self.obsm_key not in adata.obsm:
            available = ", ".join(map(repr, adata.obsm.keys())) or "none"
            raise KeyError(
                f"`{argname}.obsm[{self.obsm_key!r}]` not found (obsm keys: {available}); "
                f"{type(self).__name__} projects queries into a reduction the bridge carries."
            )
        given = np.asarray(adata.obsm[self.obsm_key], dtype=np.float64)
        features, loadings = self._bridge_loadings(adata, argname)
        if given.ndim != 2 or given.shape[1] != loadings.shape[1]:
            raise ValueError(
                f"`{argname}.obsm[{self.obsm_key!r}]` has shape {given.shape} but its loadings "
                f"have {loadings.shape[1]} components."
            )
        counts = read_counts(
            adata, self.layer, argname, allow_non_integer=self.allow_non_integer, kind=self.kind
        )
        names = self._canonical_names(adata.var_names)
        _check_unique(names, f"{argname}.var_names")
        missing = sorted(set(features) - set(names))
        if missing:
            raise ValueError(
                f"{len(missing)} features of the loadings of `obsm[{self.obsm_key!r}]` are not "
                f"in `{argname}.var_names` (e.g. {missing[:3]}); the bridge's counts must hold "
                "every feature the reduction used."
            )
        self._feature_names = features
        self.components_ = loadings.T.copy()
        self.n_components = self._n_output = loadings.shape[1]
        x = self._prepare(counts)
        totals = _row_totals(x)
        aligned = _to_csr(self._align(x, names, 1.0))
        tried = []
        for variant in self._variants(given):
            for name, value in variant.items():
                setattr(self, name, value)
            self._fit_statistics(aligned, totals, given)
            error = _column_error(self._project(aligned, totals), given)
            tried.append((error, variant))
            if self.tolerance is None or error <= self.tolerance:
                break
        else:
            error, variant = min(tried, key=lambda t: t[0])
            options = "; ".join(
                f"{err:.3g}"
                + (f" with {', '.join(f'{k}={v!r}' for k, v in var.items())}" if var else "")
                for err, var in tried
            )
            self._feature_names = None
            raise ValueError(
                f"{type(self).__name__} does not reproduce `{argname}.obsm[{self.obsm_key!r}]` "
                f"from the bridge's counts (relative error {options}; tolerance "
                f"{self.tolerance}): the {self._what} was computed differently from what these "
                f"options describe. Check {self._hints}, and that the counts are the raw counts "
                "the pipeline started from. Alternatives: give the plain obsm key "
                "(queries must then carry the reduction in the bridge's space), or None to fit "
                "scpairing's own reduction; `tolerance=None` skips this check."
            )
        self.reprojection_error_ = error
        return self

    def _variants(self, given: np.ndarray) -> list[dict[str, Any]]:
        return [{}]

    # -- transform -----------------------------------------------------------------------------
    def _transform_named(
        self,
        adata: ad.AnnData,
        argname: str,
        *,
        min_overlap: float | None = None,
        allow_non_integer: bool | None = None,
    ) -> np.ndarray:
        self._check_fitted()
        check_anndata(adata, argname)
        if self.obsm_key in adata.obsm:
            x = np.asarray(adata.obsm[self.obsm_key])
            if x.ndim != 2 or x.shape[1] != self.n_output:
                raise ValueError(
                    f"`{argname}.obsm[{self.obsm_key!r}]` has shape {x.shape} but the bridge's "
                    f"has {self.n_output} components; drop it to project the counts instead."
                )
            return np.ascontiguousarray(x, dtype=np.float32)
        return self._project_named(adata, argname, min_overlap, allow_non_integer)

    def project(
        self,
        adata: ad.AnnData,
        *,
        min_overlap: float | None = None,
        allow_non_integer: bool | None = None,
    ) -> np.ndarray:
        """Project the raw counts of ``adata`` into the bridge's reduction (ignoring its obsm).

        Features are matched by name (missing ones zero-filled with a ``UserWarning``).
        """
        self._check_fitted()
        check_anndata(adata, "adata")
        return self._project_named(adata, "adata", min_overlap, allow_non_integer)

    def _project_named(self, adata, argname, min_overlap, allow_non_integer) -> np.ndarray:
        values = adata.X if self.layer is None else adata.layers.get(self.layer)
        if values is None:
            where = "X" if self.layer is None else f"layers[{self.layer!r}]"
            raise ValueError(
                f"`{argname}` has neither `obsm[{self.obsm_key!r}]` (the bridge's reduction, in "
                f"its space) nor counts in `{where}` to project into it; give it one of them."
            )
        return super()._transform_named(
            adata, argname, min_overlap=min_overlap, allow_non_integer=allow_non_integer
        )

    def _transform(self, counts, names: list[str], min_overlap: float) -> np.ndarray:
        x = self._prepare(counts)
        totals = _row_totals(x)  # over all features of the input, as on the bridge
        aligned = _to_csr(self._align(x, names, min_overlap))
        return self._project(aligned, totals)

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        state = super().to_state()
        state["class"] = type(self).__name__
        state.update({o: getattr(self, o) for o in self._options})
        state["reprojection_error_"] = float(self.reprojection_error_)
        return state

    @classmethod
    def _from_state(cls, state: dict) -> _ProjectedReduction:
        required = {*cls._params, *cls._options, *cls._arrays, "feature_names", "n_output"}
        missing = sorted(required - set(state))
        if missing:
            raise KeyError(f"`state` of a {cls.__name__} lacks the entries {missing}.")
        reduction = cls.__new__(cls)
        Reduction.__init__(
            reduction,
            1,
            layer=_plain(state["layer"]),
            min_overlap=_plain(state["min_overlap"]),
            allow_non_integer=_plain(state["allow_non_integer"]),
        )
        reduction.obsm_key = str(state["obsm_key"])
        tolerance = _plain(state["tolerance"])
        reduction.tolerance = None if tolerance is None else float(tolerance)
        for name in cls._options:
            setattr(reduction, name, _plain(state[name]))
        for name in cls._arrays:
            setattr(reduction, name, np.asarray(state[name], dtype=np.float64))
        reduction._loadings = reduction.components_.T
        reduction._feature_names = [str(n) for n in state["feature_names"]]
        reduction._given_features = list(reduction._feature_names)
        reduction._n_output = reduction.n_components = int(state["n_output"])
        reduction.reprojection_error_ = float(_plain(state.get("reprojection_error_", np.nan)))
        return reduction

    # -- subclass hooks ------------------------------------------------------------------------
    @abstractmethod
    def _prepare(self, counts) -> sp.csr_matrix:
        """float32 CSR copy of the counts the totals and the projection are computed from."""

    @abstractmethod
    def _fit_statistics(self, aligned: sp.csr_matrix, totals: np.ndarray, given) -> None: ...

    @abstractmethod
    def _project(self, aligned: sp.csr_matrix, totals: np.ndarray) -> np.ndarray: ...


class ProjectedPCA(_ProjectedReduction):
    """A PCA computed on the bridge by Seurat or scanpy, projected onto query counts.

    Reproduces the pipeline ``counts -> per-cell normalisation to target_sum -> log1p -> per-gene
    standardisation (clipped) -> loadings`` on any dataset's raw counts: Seurat's
    ``NormalizeData`` (LogNormalize) + ``ScaleData`` + ``RunPCA`` (use :meth:`from_seurat`) or
    scanpy's ``normalize_total`` + ``log1p`` (+ ``scale``) + ``tl.pca`` (use
    :meth:`from_scanpy`). Library sizes are taken over all genes of the input, as the
    normalisation did; the per-gene mean and standard deviation (ddof=1) are the bridge's
    (given, or computed from the bridge's counts by :meth:`fit`). :meth:`fit` checks that the
    bridge's own counts reproduce ``obsm[obsm_key]`` (see ``tolerance``).

    Parameters
    ----------
    obsm_key
        The bridge's reduction, e.g. ``"X_pca"``; a query carrying it (same width) uses it as is.
    loadings
        A ``varm`` key of the bridge (``"PCs"`` in scanpy), or a features x components array
        (Seurat's ``Loadings()``) whose rows ``features`` names.
    features
        Names of the rows of a ``loadings`` array.
    target_sum
        Counts each cell is scaled to (Seurat's ``scale.factor``, scanpy's ``target_sum``), or
        ``"median"``: the bridge's median library size (scanpy's ``target_sum=None``).
    log1p
        Whether ``log1p`` follows the normalisation; ``log_base`` its base (``None``: natural).
    scale
        Whether genes were standardised (``ScaleData``, ``sc.pp.scale``); ``None`` tries both and
        keeps the one that reproduces the bridge.
    mean, std
        Per-feature mean and standard deviation used for the standardisation, in the order of
        ``features`` (Seurat's ``ScaleData`` with ``do.center``/``do.scale`` off: pass zeros /
        ones); ``None`` computes them on the bridge (ddof=1).
    max_value
        Clip of the standardised values (Seurat's ``scale.max``, 10 by default; scanpy's
        ``max_value``); ``None`` for none.
    clip
        ``"upper"`` (Seurat's ``ScaleData``: values above ``max_value`` only) or ``"both"``
        (``[-max_value, max_value]``); ``None`` tries both.
    center
        Whether the PCA centred its input (scanpy's ``zero_center``; Seurat's ``RunPCA`` does
        not): the bridge's mean of the standardised values is then subtracted.
    layer, min_overlap, allow_non_integer
        As for :class:`RNAReduction`.
    tolerance
        Largest reprojection error :meth:`fit` accepts (absolute difference relative to each
        component's standard deviation on the bridge); ``None`` skips the check.
    """

    kind = "rna"
    _options = ("target_sum", "log1p", "log_base", "scale", "max_value", "clip", "center")
    _arrays = ("components_", "mean_", "std_", "offset_", "target_sum_")
    _what = "PCA"
    _hints = (
        "`target_sum` (Seurat's scale.factor; scanpy's target_sum, 'median' for its default), "
        "`log1p`, `scale`, `max_value`/`clip` (ScaleData's scale.max, sc.pp.scale's max_value), "
        "`mean`/`std` and `center`"
    )

    def __init__(
        self,
        obsm_key: str = "X_pca",
        *,
        loadings: str | np.ndarray = "PCs",
        features: Sequence[str] | None = None,
        target_sum: float | str = 1e4,
        log1p: bool = True,
        log_base: float | None = None,
        scale: bool | None = True,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        max_value: float | None = 10.0,
        clip: str | None = "upper",
        center: bool = False,
        layer: str | None = None,
        min_overlap: float = 0.5,
        allow_non_integer: bool = False,
        tolerance: float | None = 1e-2,
    ) -> None:
        super().__init__(
            obsm_key,
            loadings=loadings,
            features=features,
            layer=layer,
            min_overlap=min_overlap,
            allow_non_integer=allow_non_integer,
            tolerance=tolerance,
        )
        if target_sum != "median" and (
            isinstance(target_sum, bool)
            or not isinstance(target_sum, (int, float))
            or not target_sum > 0
        ):
            raise ValueError(
                f"`target_sum` must be a positive number or 'median'; got {target_sum!r}."
            )
        self.target_sum = target_sum if target_sum == "median" else float(target_sum)
        self.log1p = check_bool(log1p, "log1p")
        if log_base is not None and not (isinstance(log_base, (int, float)) and log_base > 1):
            raise ValueError(f"`log_base` must be a number > 1 or None; got {log_base!r}.")
        self.log_base = None if log_base is None else float(log_base)
        self.scale = None if scale is None else check_bool(scale, "scale")
        if max_value is not None and (
            isinstance(max_value, bool) or not isinstance(max_value, (int, float)) or max_value <= 0
        ):
            raise ValueError(f"`max_value` must be a positive number or None; got {max_value!r}.")
        self.max_value = None if max_value is None else float(max_value)
        if clip not in ("upper", "both", None):
            raise ValueError(f"`clip` must be 'upper', 'both' or None; got {clip!r}.")
        self.clip = clip
        self.center = check_bool(center, "center")
        self._given_mean = _optional_vector(mean, "mean")
        self._given_std = _optional_vector(std, "std")
        for argname, vector in (("mean", self._given_mean), ("std", self._given_std)):
            if vector is not None and (
                self._given_features is None or len(vector) != len(self._given_features)
            ):
                raise ValueError(f"`{argname}` must give one value per row of a `loadings` array.")
        if self._given_std is not None and (self._given_std <= 0).any():
            raise ValueError("`std` must be positive.")

    @classmethod
    def from_seurat(
        cls,
        loadings: np.ndarray,
        features: Sequence[str],
        *,
        obsm_key: str = "X_pca",
        scale_factor: float = 1e4,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        scale_max: float | None = 10.0,
        **options: Any,
    ) -> ProjectedPCA:
        """Seurat's ``NormalizeData`` (LogNormalize) + ``ScaleData`` + ``RunPCA``.

        ``loadings``/``features``: ``Loadings(obj[["pca"]])`` and its row names;
        ``scale_factor``: NormalizeData's; ``mean``/``std``: ScaleData's per-feature centre and
        scale (``None``: the bridge's, as ScaleData computes them); ``scale_max``: ScaleData's.
        Further options as for :class:`ProjectedPCA`. The R package's ``RunScPairing()`` builds
        it from the Seurat object.
        """
        return cls(
            obsm_key,
            loadings=loadings,
            features=features,
            target_sum=scale_factor,
            mean=mean,
            std=std,
            scale=True,
            max_value=scale_max,
            clip="upper",
            center=False,
            **options,
        )

    @classmethod
    def from_scanpy(
        cls,
        adata: ad.AnnData | None = None,
        *,
        obsm_key: str = "X_pca",
        varm_key: str = "PCs",
        target_sum: float | str = 1e4,
        scale: bool | None = None,
        max_value: float | None = None,
        **options: Any,
    ) -> ProjectedPCA:
        """scanpy's ``normalize_total`` + ``log1p`` (+ ``scale``) + ``tl.pca``.

        What scanpy records is read from ``adata.uns`` when ``adata`` is given: the log base
        (``uns["log1p"]["base"]``) and the PCA's centring (``uns["pca"]["params"]
        ["zero_center"]``, default True). What it does not record is given here:
        ``target_sum`` (``"median"`` for ``normalize_total``'s default), ``scale`` (``None``:
        :meth:`fit` tries with and without ``sc.pp.scale``) and its ``max_value``.
        """
        log_base, center = None, True
        if adata is not None:
            check_anndata(adata, "adata")
            log_info = adata.uns.get("log1p") or {}
            log_base = log_info.get("base") if hasattr(log_info, "get") else None
            pca_info = adata.uns.get("pca") or {}
            params = pca_info.get("params", {}) if hasattr(pca_info, "get") else {}
            center = bool(params.get("zero_center", True))
        options.setdefault("log_base", log_base)
        options.setdefault("center", center)
        options.setdefault("clip", None if max_value is not None else "upper")
        return cls(
            obsm_key,
            loadings=varm_key,
            target_sum=target_sum,
            scale=scale,
            max_value=max_value,
            **options,
        )

    def _variants(self, given: np.ndarray) -> list[dict[str, Any]]:
        scales = [self.scale] if self.scale is not None else [False, True]
        variants = []
        for scale in scales:
            clips = [self.clip] if self.clip is not None else ["upper", "both"]
            if not scale or self.max_value is None:
                clips = clips[:1]
            variants += [
                {
                    **({"scale": scale} if self.scale is None else {}),
                    **({"clip": clip} if self.clip is None else {}),
                }
                for clip in clips
            ]
        return variants

    def _prepare(self, counts) -> sp.csr_matrix:
        return _float_values(_to_csr(counts), binarize=False)

    def _lognorm(self, aligned: sp.csr_matrix, totals: np.ndarray) -> sp.csr_matrix:
        factor = _safe_inverse(totals, float(self.target_sum_[0])).astype(np.float32)
        x = aligned.copy()
        x.data *= np.repeat(factor, np.diff(x.indptr))
        if self.log1p:
            np.log1p(x.data, out=x.data)
            if self.log_base is not None:
                x.data /= np.float32(np.log(self.log_base))
        return x

    def _fit_statistics(self, aligned, totals, given) -> None:
        if self.target_sum == "median":
            positive = totals[totals > 0]
            self.target_sum_ = np.array([np.median(positive) if positive.size else 1.0])
        else:
            self.target_sum_ = np.array([self.target_sum])
        lognorm = self._lognorm(aligned, totals)
        n_cells = lognorm.shape[0]
        mean, var = (np.asarray(v, dtype=np.float64) for v in mean_variance_axis(lognorm, axis=0))
        var *= n_cells / max(n_cells - 1, 1)
        std = np.sqrt(var)
        self.mean_ = self._given_mean if self._given_mean is not None else mean
        self.std_ = self._given_std if self._given_std is not None else np.where(std > 0, std, 1.0)
        self.offset_ = np.zeros(self.n_output)
        if self.center:
            self.offset_ = self._scores(lognorm).mean(axis=0)

    def _scores(self, lognorm: sp.csr_matrix) -> np.ndarray:
        loadings = self.components_.T
        if not self.scale:
            return np.asarray(lognorm @ loadings.astype(np.float32), dtype=np.float64)
        low = -np.inf
        high = np.inf if self.max_value is None else self.max_value
        if self.clip == "both" and self.max_value is not None:
            low = -self.max_value
        # Each gene's standardised zero, then stored entries relative to it: stays sparse.
        zero = np.clip(-self.mean_ / self.std_, low, high)
        x = lognorm.copy()
        cols = x.indices
        values = (x.data - self.mean_[cols]) / self.std_[cols]
        x.data = (np.clip(values, low, high) - zero[cols]).astype(np.float32)
        return np.asarray(x @ loadings.astype(np.float32), dtype=np.float64) + zero @ loadings

    def _project(self, aligned, totals) -> np.ndarray:
        return self._scores(self._lognorm(aligned, totals)) - self.offset_


# Signac's RunTFIDF methods as (normalize_tf, scale the TF, log_tf, log_idf, log_tfidf).
_SIGNAC_TFIDF = {
    1: {
        "normalize_tf": True,
        "scale_tf": True,
        "log_tf": False,
        "log_idf": False,
        "log_tfidf": True,
    },
    2: {
        "normalize_tf": True,
        "scale_tf": False,
        "log_tf": False,
        "log_idf": True,
        "log_tfidf": False,
    },
    3: {
        "normalize_tf": True,
        "scale_tf": True,
        "log_tf": True,
        "log_idf": True,
        "log_tfidf": False,
    },
    4: {
        "normalize_tf": False,
        "scale_tf": False,
        "log_tf": False,
        "log_idf": False,
        "log_tfidf": False,
    },
}


class ProjectedLSI(_ProjectedReduction):
    """An LSI (TF-IDF + SVD) computed on the bridge by Signac or muon, projected onto queries.

    A query's raw peak counts go through the bridge's TF-IDF, with the bridge's IDF
    (``n_bridge_cells / peak total on the bridge``), then onto the loadings, then the per-component
    scaling the bridge's embedding had: with ``scale_embeddings`` the bridge's mean and standard
    deviation of each component (Signac's ``RunSVD(scale.embeddings = TRUE)``, muon's
    ``lsi(scale_embeddings=True)``; optionally clipped at ``±scale_max``), else division by the
    singular values (the SVD's left vectors). This is what Seurat's ``ProjectSVD`` /
    ``lsiproject`` do, except that the IDF is the bridge's rather than the query's own, so that
    bridge and queries share one space. Term frequencies use each cell's total over all peaks of
    its input, as ``RunTFIDF`` does.

    TF-IDF (``tfidf``): Signac's ``RunTFIDF`` ``method`` 1 (default: ``log1p(TF * IDF *
    scale_factor)``, ``TF = count / cell total``), 2 (``TF * log(1 + IDF)``), 3
    (``log1p(TF * scale_factor) * log(1 + IDF)``), 4 (``count * IDF``); ``"muon"`` with
    ``muon_flags``; or ``None``: :meth:`fit` tries methods 1-4 and keeps the one that
    reproduces the bridge.

    Parameters
    ----------
    obsm_key
        The bridge's reduction (``"X_lsi"``); a query carrying it (same width) uses it as is.
    loadings, features
        A ``varm`` key (``"LSI"`` in muon) or a features x components array
        (``Loadings(obj[["lsi"]])``) with its row names (peaks, any of the usual separators).
    tfidf
        See above.
    scale_factor
        ``RunTFIDF``'s ``scale.factor`` (muon's ``scale_factor``).
    muon_flags
        For ``tfidf="muon"``: muon's ``log_tf``, ``log_idf``, ``log_tfidf`` (defaults True,
        True, False).
    binarize
        Whether the counts were binarised before the TF-IDF.
    scale_embeddings
        See above; ``None`` decides from the bridge's embedding (columns of unit standard
        deviation: scaled).
    embedding_ddof
        Degrees of freedom of that standard deviation (1: R's ``sd``, Signac; 0: muon).
    scale_max
        Signac's ``RunSVD(scale.max)``; ``None`` for none.
    layer, min_overlap, allow_non_integer, tolerance
        As for :class:`ProjectedPCA`.
    """

    kind = "atac"
    _options = (
        "tfidf",
        "scale_factor",
        "normalize_tf",
        "scale_tf",
        "log_tf",
        "log_idf",
        "log_tfidf",
        "binarize",
        "scale_embeddings",
        "embedding_ddof",
        "scale_max",
    )
    _arrays = ("components_", "idf_", "score_mean_", "score_std_", "singular_")
    _what = "LSI"
    _hints = (
        "the TF-IDF method (Signac's RunTFIDF `method`, `tfidf=` here; None tries 1-4), "
        "`scale_factor`, `binarize`, `scale_embeddings`/`embedding_ddof` and `scale_max`"
    )

    def __init__(
        self,
        obsm_key: str = "X_lsi",
        *,
        loadings: str | np.ndarray = "LSI",
        features: Sequence[str] | None = None,
        tfidf: int | str | None = 1,
        scale_factor: float = 1e4,
        muon_flags: dict[str, bool] | None = None,
        binarize: bool = False,
        scale_embeddings: bool | None = None,
        embedding_ddof: int = 1,
        scale_max: float | None = None,
        layer: str | None = None,
        min_overlap: float = 0.5,
        allow_non_integer: bool = False,
        tolerance: float | None = 1e-2,
    ) -> None:
        super().__init__(
            obsm_key,
            loadings=loadings,
            features=features,
            layer=layer,
            min_overlap=min_overlap,
            allow_non_integer=allow_non_integer,
            tolerance=tolerance,
        )
        if isinstance(tfidf, (bool, np.bool_)) or tfidf not in (1, 2, 3, 4, "muon", None):
            raise ValueError(
                f"`tfidf` must be a Signac RunTFIDF method (1, 2, 3, 4), 'muon' or None; "
                f"got {tfidf!r}."
            )
        self.tfidf = None if tfidf is None else (tfidf if tfidf == "muon" else int(tfidf))
        if (
            isinstance(scale_factor, bool)
            or not isinstance(scale_factor, (int, float))
            or not scale_factor > 0
        ):
            raise ValueError(f"`scale_factor` must be a positive number; got {scale_factor!r}.")
        self.scale_factor = float(scale_factor)
        flags: dict[str, bool] = {}
        if self.tfidf == "muon":
            given = dict(muon_flags or {})
            unknown = set(given) - {"log_tf", "log_idf", "log_tfidf"}
            if unknown:
                raise ValueError(
                    f"`muon_flags`: unknown {sorted(unknown)}; use log_tf, log_idf, log_tfidf."
                )
            flags = {
                "normalize_tf": True,
                "scale_tf": scale_factor not in (0, 1),
                "log_tf": check_bool(given.get("log_tf", True), "log_tf"),
                "log_idf": check_bool(given.get("log_idf", True), "log_idf"),
                "log_tfidf": check_bool(given.get("log_tfidf", False), "log_tfidf"),
            }
        elif muon_flags is not None:
            raise ValueError("`muon_flags` only applies with tfidf='muon'.")
        elif self.tfidf is not None:
            flags = _SIGNAC_TFIDF[self.tfidf]
        for name in ("normalize_tf", "scale_tf", "log_tf", "log_idf", "log_tfidf"):
            setattr(self, name, flags.get(name))
        self.binarize = check_bool(binarize, "binarize")
        self.scale_embeddings = (
            None if scale_embeddings is None else check_bool(scale_embeddings, "scale_embeddings")
        )
        if embedding_ddof not in (0, 1) or isinstance(embedding_ddof, bool):
            raise ValueError(f"`embedding_ddof` must be 0 or 1; got {embedding_ddof!r}.")
        self.embedding_ddof = int(embedding_ddof)
        if scale_max is not None and (
            isinstance(scale_max, bool) or not isinstance(scale_max, (int, float)) or scale_max <= 0
        ):
            raise ValueError(f"`scale_max` must be a positive number or None; got {scale_max!r}.")
        self.scale_max = None if scale_max is None else float(scale_max)

    @classmethod
    def from_signac(
        cls,
        loadings: np.ndarray,
        features: Sequence[str],
        *,
        obsm_key: str = "X_lsi",
        method: int | None = None,
        scale_factor: float = 1e4,
        scale_embeddings: bool | None = None,
        scale_max: float | None = None,
        **options: Any,
    ) -> ProjectedLSI:
        """Signac's ``RunTFIDF`` + ``RunSVD``.

        ``loadings``/``features``: ``Loadings(obj[["lsi"]])`` and its row names; ``method`` and
        ``scale_factor``: RunTFIDF's (Signac does not record them; ``method=None`` lets
        :meth:`fit` find the method that reproduces the bridge); ``scale_embeddings`` and
        ``scale_max``: RunSVD's (``None``: decided from the bridge's embedding).
        """
        return cls(
            obsm_key,
            loadings=loadings,
            features=features,
            tfidf=method,
            scale_factor=scale_factor,
            scale_embeddings=scale_embeddings,
            scale_max=scale_max,
            embedding_ddof=1,
            **options,
        )

    @classmethod
    def from_muon(
        cls,
        adata: ad.AnnData | None = None,
        *,
        obsm_key: str = "X_lsi",
        varm_key: str = "LSI",
        log_tf: bool = True,
        log_idf: bool = True,
        log_tfidf: bool = False,
        scale_factor: float = 1e4,
        scale_embeddings: bool | None = None,
        **options: Any,
    ) -> ProjectedLSI:
        """muon's ``atac.pp.tfidf`` + ``atac.tl.lsi`` (its defaults here; ``adata`` unused but
        accepted for symmetry with :meth:`ProjectedPCA.from_scanpy`)."""
        if adata is not None:
            check_anndata(adata, "adata")
        return cls(
            obsm_key,
            loadings=varm_key,
            tfidf="muon",
            muon_flags={"log_tf": log_tf, "log_idf": log_idf, "log_tfidf": log_tfidf},
            scale_factor=scale_factor,
            scale_embeddings=scale_embeddings,
            embedding_ddof=0,
            **options,
        )

    def _canonical_names(self, names: Sequence[str]) -> list[str]:
        return [canonical_peak_name(str(n)) for n in names]

    def _variants(self, given: np.ndarray) -> list[dict[str, Any]]:
        scaled = self.scale_embeddings
        if scaled is None:
            sd = given.std(axis=0, ddof=self.embedding_ddof)
            scaled = bool(np.all(np.abs(sd - 1.0) < 1e-3))
        methods = [self.tfidf] if self.tfidf is not None else [1, 2, 3, 4]
        variants = []
        for method in methods:
            variant: dict[str, Any] = {"scale_embeddings": scaled}
            if self.tfidf is None:
                variant.update(tfidf=method, **_SIGNAC_TFIDF[method])
            variants.append(variant)
        return variants

    def _prepare(self, counts) -> sp.csr_matrix:
        return _float_values(_to_csr(counts), self.binarize)

    def _tfidf_values(self, aligned: sp.csr_matrix, totals: np.ndarray) -> sp.csr_matrix:
        x = aligned.copy()
        data = x.data
        if self.normalize_tf:
            scale = self.scale_factor if self.scale_tf else 1.0
            data *= np.repeat(_safe_inverse(totals, scale).astype(np.float32), np.diff(x.indptr))
        if self.log_tf:
            np.log1p(data, out=data)
        idf = np.log1p(self.idf_) if self.log_idf else self.idf_
        data *= idf.astype(np.float32)[x.indices]
        if self.log_tfidf:
            np.log1p(data, out=data)
        return x

    def _raw_scores(self, aligned, totals) -> np.ndarray:
        tfidf = self._tfidf_values(aligned, totals)
        return np.asarray(tfidf @ self.components_.T.astype(np.float32), dtype=np.float64)

    def _fit_statistics(self, aligned, totals, given) -> None:
        n_cells = aligned.shape[0]
        peak_totals = np.asarray(aligned.sum(axis=0), dtype=np.float64).ravel()
        self.idf_ = _safe_inverse(peak_totals, float(n_cells))  # peaks never open: 0
        scores = self._raw_scores(aligned, totals)
        self.score_mean_ = scores.mean(axis=0)
        std = scores.std(axis=0, ddof=self.embedding_ddof)
        self.score_std_ = np.where(std > 0, std, 1.0)
        norms = np.linalg.norm(scores, axis=0)
        self.singular_ = np.where(norms > 0, norms, 1.0)

    def _project(self, aligned, totals) -> np.ndarray:
        scores = self._raw_scores(aligned, totals)
        if not self.scale_embeddings:
            return scores / self.singular_
        scaled = (scores - self.score_mean_) / self.score_std_
        if self.scale_max is not None:
            np.clip(scaled, -self.scale_max, self.scale_max, out=scaled)
        return scaled


# ----------------------------------------------------------------------------------------------
# factory and state
# ----------------------------------------------------------------------------------------------
_KINDS: dict[str, type[Reduction]] = {
    cls.kind: cls for cls in (RNAReduction, ATACReduction, ProteinReduction)
}


def make_reduction(modality: str) -> Reduction:
    """Return the default (unfitted) reduction of a modality.

    Parameters
    ----------
    modality
        ``"rna"``, ``"atac"`` or ``"protein"``. ``"other"`` has no default reduction: give an obsm
        key holding a representation for it instead.

    Returns
    -------
    Reduction
        ``RNAReduction()``, ``ATACReduction()`` or ``ProteinReduction()``.
    """
    name = check_modality(modality)
    if name not in _KINDS:
        raise ValueError(
            f"`modality`: {modality!r} has no default reduction; give an obsm key holding a "
            f"representation of it (e.g. reductions={{{name!r}: 'X_embedding'}})."
        )
    return _KINDS[name]()


def reduction_from_state(state: dict) -> Reduction:
    """Rebuild a fitted reduction from :meth:`Reduction.to_state` output.

    Parameters
    ----------
    state
        The dict returned by ``to_state()`` (possibly after a save/load round trip).

    Returns
    -------
    Reduction
        A fitted reduction whose ``transform`` gives the same output as the original's.
    """
    if not isinstance(state, dict):
        raise TypeError(f"`state` must be a dict from Reduction.to_state(); got {type(state)}.")
    projected = {c.__name__: c for c in (ProjectedPCA, ProjectedLSI)}
    if state.get("class") in projected:
        return projected[state["class"]]._from_state(state)
    kind = state.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"`state['kind']` must be one of {sorted(_KINDS)}; got {kind!r}.")
    cls = _KINDS[kind]
    required = {*cls._params, *cls._arrays, "feature_names", "n_output"} - set(cls._optional_params)
    missing = sorted(required - set(state))
    if missing:
        raise KeyError(f"`state` of a {cls.__name__} lacks the entries {missing}.")
    params = {p: _plain(state.get(p, cls._optional_params.get(p))) for p in cls._params}
    reduction = cls(**params)
    for name in cls._arrays:
        setattr(reduction, name, np.asarray(state[name], dtype=np.float64))
    reduction._feature_names = [str(n) for n in state["feature_names"]]
    reduction._n_output = int(state["n_output"])
    return reduction


def _plain(value: Any) -> Any:
    """numpy scalars (as a save/load round trip may give) to Python scalars."""
    return value.item() if isinstance(value, np.generic) else value
