"""A PCA computed elsewhere (Seurat ``RunPCA``, scanpy ``pp.pca``) and its projection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp
from sklearn.utils.sparsefuncs import mean_variance_axis

from .._validate import (
    check_anndata,
    check_bool,
)
from ._base import _float_values, _safe_inverse, _to_csr
from ._projected import _optional_vector, _ProjectedReduction


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
