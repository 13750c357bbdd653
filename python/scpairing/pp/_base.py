"""What every reduction shares: the :class:`Reduction` interface, reading counts and the
sparse helpers the reductions use."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import anndata as ad
import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from .. import _stages
from .._validate import (
    check_anndata,
    check_bool,
    check_counts,
    check_seed,
    is_integer,
    non_integer_example,
)

# Rows are processed in blocks of about this many stored entries so that per-entry temporaries
# (row/column factors gathered to the entries) stay small on very large matrices.
_CHUNK_NNZ = 1 << 22
# ``transform`` reduces the cells in row blocks of about this many stored entries (or dense
# values): its float32 copies of the counts are then of one block, never of the whole query.
_TRANSFORM_ENTRIES = 1 << 23


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


def _row_blocks(counts: np.ndarray | sp.csr_matrix):
    """Yield ``(start, stop)`` row blocks of about :data:`_TRANSFORM_ENTRIES` entries each."""
    n_rows = counts.shape[0]
    if sp.issparse(counts):
        indptr = counts.indptr
        start = 0
        while start < n_rows:
            stop = int(np.searchsorted(indptr, indptr[start] + _TRANSFORM_ENTRIES, side="right"))
            stop = min(max(stop - 1, start + 1), n_rows)
            yield start, stop
            start = stop
        return
    step = max(1, _TRANSFORM_ENTRIES // max(1, counts.shape[1]))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


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
    # Whether :meth:`refit` on more cells is meaningful: False for reductions computed
    # elsewhere, whose space is fixed by their given loadings.
    refittable: ClassVar[bool] = True
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
        counts, names = self._read(adata, argname, self.allow_non_integer)
        self._fit(counts, names)
        return self

    def _read(self, adata: ad.AnnData, argname: str, allow_non_integer: bool):
        """The counts this reduction reads from ``adata`` and its canonical, unique feature
        names; errors name the argument ``argname``."""
        counts = read_counts(
            adata, self.layer, argname, allow_non_integer=allow_non_integer, kind=self.kind
        )
        names = self._canonical_names(adata.var_names)
        _check_unique(names, f"{argname}.var_names")
        return counts, names

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
        counts, names = self._read(adata, argname, allow_non_integer)
        columns = self._alignment(names, min_overlap)
        # Row blocks: every step is per cell, so this equals one pass over all cells, while the
        # float32 copies of the counts it makes stay of one block.
        out = np.empty((counts.shape[0], self.n_output), dtype=np.float32)
        blocks = list(_row_blocks(counts))
        for start, stop in _stages.progress(blocks, f"reducing {self.kind}"):
            out[start:stop] = self._transform(counts[start:stop], columns)
        return out

    def refit(self, bridge: ad.AnnData, extra: Sequence[tuple[ad.AnnData, str]]) -> Reduction:
        """A new reduction with these parameters fitted on ``bridge`` plus ``extra`` cells.

        Parameters
        ----------
        bridge
            The cells this reduction was fitted on (their features define the space).
        extra
            ``(AnnData, argname)`` of more cells of the same modality (e.g. unpaired queries),
            counts read as for :meth:`transform` and matched to ``bridge``'s features by name
            (missing ones zero; ``argname`` names them in errors).

        Returns
        -------
        Reduction
            A fitted reduction; this one is unchanged.
        """
        refitted = type(self)(**{p: getattr(self, p) for p in self._params})
        counts, names = self._read(bridge, "bridge", self.allow_non_integer)
        refitted._feature_names = names  # _align matches the extra cells to these
        blocks = [_to_csr(counts)]
        for adata, argname in extra:
            values, extra_names = self._read(adata, argname, self.allow_non_integer)
            aligned = refitted._align(values, refitted._alignment(extra_names, self.min_overlap))
            blocks.append(_to_csr(aligned).astype(blocks[0].dtype))
        refitted._fit(sp.vstack(blocks, format="csr"), names)
        return refitted

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

    def _alignment(
        self, names: Sequence[str], min_overlap: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``(query_columns, bridge_columns)`` of the features shared with the bridge, or
        ``None`` when ``names`` are the bridge's features in order (nothing to align)."""
        if list(names) == self._feature_names:
            return None
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
                stacklevel=3,
            )
        return np.asarray(query_cols, dtype=np.intp), np.asarray(bridge_cols, dtype=np.intp)

    def _align(self, counts, columns: tuple[np.ndarray, np.ndarray] | None):
        """Columns of ``counts`` reordered to the bridge's features, missing ones zero
        (``columns``: what :meth:`_alignment` returned for the names of ``counts``)."""
        if columns is None:
            return counts
        query_cols, bridge_cols = columns
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
    def _transform(self, counts, columns: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """The reduction of ``counts`` (cells are independent: any row block may be given),
        its columns aligned by ``self._align(counts, columns)``."""


def _plain(value: Any) -> Any:
    """numpy scalars (as a save/load round trip may give) to Python scalars."""
    return value.item() if isinstance(value, np.generic) else value
