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

import re
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
_PEAK_RE = re.compile(r"^(.+)[:_-](\d+)[_-](\d+)$")


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


def canonical_peak_name(name: str) -> str:
    """Return a peak name as ``contig:start-end``; names that are not peaks are returned as is.

    ``chr1:100-200``, ``chr1-100-200`` and ``chr1_100_200`` all give ``chr1:100-200``. The two
    coordinates are parsed from the right, so contigs holding ``-``, ``_`` or ``.`` (for example
    ``chrUn-GL456394`` or ``GL000205.2``) are kept whole.
    """
    match = _PEAK_RE.match(name)
    if match is None:
        return name
    contig, start, end = match.groups()
    return f"{contig}:{int(start)}-{int(end)}"


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
