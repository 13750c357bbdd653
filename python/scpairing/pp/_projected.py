"""Reductions computed elsewhere (Seurat, Signac, scanpy, muon) that the bridge already carries,
with what it takes to project new cells' counts into them."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import anndata as ad
import numpy as np
import scipy.sparse as sp

from .._validate import (
    check_anndata,
)
from ._base import Reduction, _check_unique, _plain, _row_totals, _to_csr


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

    refittable = False

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
        counts, names = self._read(adata, argname, self.allow_non_integer)
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
        aligned = _to_csr(self._align(x, self._alignment(names, 1.0)))
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

    def _transform(self, counts, columns) -> np.ndarray:
        x = self._prepare(counts)
        totals = _row_totals(x)  # over all features of the input, as on the bridge
        aligned = _to_csr(self._align(x, columns))
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
