"""An LSI computed elsewhere (Signac ``RunTFIDF`` + ``RunSVD``, muon) and its projection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from .._peaks import canonical_peak_name
from .._validate import (
    check_anndata,
    check_bool,
)
from ._base import _float_values, _safe_inverse, _to_csr
from ._projected import _ProjectedReduction

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
