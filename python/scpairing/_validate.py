"""One place that checks user input and raises clear errors naming the argument."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import mudata
import numpy as np
import scipy.sparse as sp

MODALITIES = ("rna", "atac", "protein", "other")


def check_modality(modality: str, argname: str = "modality") -> str:
    """Return the canonical (lower-case) modality name or raise ``ValueError``."""
    if not isinstance(modality, str):
        raise TypeError(f"`{argname}` must be a string, one of {MODALITIES}; got {type(modality)}.")
    name = modality.lower()
    if name not in MODALITIES:
        raise ValueError(
            f"`{argname}`: unknown modality {modality!r}; expected one of {MODALITIES}."
        )
    return name


def check_anndata(adata: object, argname: str) -> ad.AnnData:
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"`{argname}` must be an AnnData object; got {type(adata).__name__}.")
    if adata.n_obs == 0:
        raise ValueError(f"`{argname}` has no cells.")
    return adata


def check_finite(values: np.ndarray | sp.spmatrix, argname: str) -> None:
    """Raise ``ValueError`` when ``values`` holds NaN or Inf."""
    data = values.data if sp.issparse(values) else np.asarray(values)
    if data.dtype.kind in "fc" and not np.isfinite(data).all():
        n_bad = int((~np.isfinite(data)).sum())
        raise ValueError(
            f"`{argname}` contains {n_bad} NaN or Inf values; expected finite numbers."
        )


def check_counts(values: np.ndarray | sp.spmatrix, argname: str) -> None:
    """Raise ``ValueError`` unless ``values`` are finite and non-negative."""
    check_finite(values, argname)
    data = values.data if sp.issparse(values) else np.asarray(values)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"`{argname}` must be numeric counts; got dtype {data.dtype}.")
    if data.size and data.min() < 0:
        raise ValueError(f"`{argname}` contains negative values; expected non-negative counts.")


def check_matrix_2d(values: np.ndarray, argname: str) -> np.ndarray:
    """Return ``values`` as a finite float32 2-D array or raise."""
    if sp.issparse(values):
        values = values.toarray()
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(
            f"`{argname}` must be a 2-D (cells x features) array; got shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"`{argname}` must be numeric; got dtype {array.dtype}.")
    check_finite(array, argname)
    return np.ascontiguousarray(array, dtype=np.float32)


def get_obsm(adata: ad.AnnData, key: str, argname: str) -> np.ndarray:
    """Return ``adata.obsm[key]`` as a checked float32 matrix."""
    if key not in adata.obsm:
        available = ", ".join(map(repr, adata.obsm.keys())) or "none"
        raise KeyError(f"`{argname}`: obsm key {key!r} not found (available: {available}).")
    return check_matrix_2d(adata.obsm[key], f"{argname}.obsm[{key!r}]")


def modality_mapping(data: object, argname: str) -> dict[str, ad.AnnData]:
    """Return ``{canonical modality: AnnData}`` for 2 or 3 modalities from a dict or a MuData."""
    if isinstance(data, mudata.MuData):
        data = dict(data.mod)
    if not isinstance(data, Mapping):
        raise TypeError(f"`{argname}` must be a dict {{modality: AnnData}} or a MuData.")
    out: dict[str, ad.AnnData] = {}
    for name, adata in data.items():
        canonical = check_modality(name, f"{argname} key")
        if canonical in out:
            raise ValueError(f"`{argname}`: modality {canonical!r} is given twice.")
        out[canonical] = check_anndata(adata, f"{argname}[{name!r}]")
    if not 2 <= len(out) <= 3:
        raise ValueError(f"`{argname}` must hold 2 or 3 modalities; got {len(out)} ({list(out)}).")
    return out


def check_modality_dict(data: object, argname: str = "data") -> dict[str, ad.AnnData]:
    """Check a paired ``{modality: AnnData}`` (or MuData) of 2 or 3 modalities of the same cells."""
    out = modality_mapping(data, argname)
    first_name, first = next(iter(out.items()))
    for name, adata in out.items():
        if adata.n_obs != first.n_obs:
            raise ValueError(
                f"`{argname}`: {name!r} has {adata.n_obs} cells but {first_name!r} has "
                f"{first.n_obs}; "
                "a paired dataset needs the same cells in every modality."
            )
        if not (adata.obs_names == first.obs_names).all():
            raise ValueError(
                f"`{argname}`: cell names of {name!r} differ from those of {first_name!r}; "
                "paired modalities must list the same cells in the same order."
            )
    return out


def check_labels(adata: ad.AnnData, key: str, argname: str) -> np.ndarray:
    """Return the obs column ``key`` as integer codes; missing values raise ``ValueError``."""
    if key not in adata.obs:
        raise KeyError(f"`{argname}`: obs column {key!r} not found.")
    column = adata.obs[key]
    if column.isna().any():
        raise ValueError(
            f"`{argname}`: obs column {key!r} has {int(column.isna().sum())} missing values."
        )
    return column.astype("category").cat.codes.to_numpy()


def check_unit_vectors(z: np.ndarray, argname: str, atol: float = 1e-3) -> np.ndarray:
    """Return ``z`` as float32 rows of unit norm, or raise ``ValueError``."""
    z = check_matrix_2d(z, argname)
    if z.shape[0] == 0:
        raise ValueError(f"`{argname}` is empty; expected at least one cell.")
    norms = np.linalg.norm(z, axis=1)
    if not np.allclose(norms, 1.0, atol=atol):
        worst = float(np.abs(norms - 1).max())
        raise ValueError(
            f"`{argname}` must hold unit vectors (rows of norm 1); the largest deviation is "
            f"{worst:.3g}. "
            "Use model.embed(...) output or normalise the rows."
        )
    return z


def is_integer(value: object) -> bool:
    """Python or NumPy integer, not ``bool`` (which would pass ``isinstance(value, int)``)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Python or NumPy integer or float, not ``bool``."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_seed(seed: object) -> int:
    if not is_integer(seed) or seed < 0:
        raise TypeError(f"`seed` must be a non-negative integer; got {seed!r}.")
    return int(seed)
