"""One place that checks user input and raises clear errors naming the argument.

Every message names the argument (in backticks, as the caller wrote it) and says what to do.
Which exception, by one rule:

- ``TypeError``: the argument's *type* is wrong — a string, float or bool where an integer is
  expected (``max_epochs=2.7`` and ``batch_size=256.0`` included: integer options take integers),
  a non-AnnData where an AnnData is expected, a non-dict where a dict is expected. An unknown
  option name, given as a keyword or as a key of an options dict (``train_config``,
  ``weights``), is also a ``TypeError``, as Python raises for an unexpected keyword argument.
- ``ValueError``: the type is right but the value is not — out of range, wrong shape or width,
  NaN/Inf, negative or non-integer counts, duplicated names, inconsistent with other arguments
  or with the trained model, a file that is not a scpairing model.
- ``KeyError``: a named key (``.obsm`` key, layer, ``.obs`` column) is not there.
- ``RuntimeError``: the call comes in the wrong state — e.g. embedding with an untrained model
  ("call model.train() first").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import anndata as ad
import mudata
import numpy as np
import pandas as pd
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
    """Return ``adata`` if it is an in-memory AnnData with cells, else raise."""
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"`{argname}` must be an AnnData object; got {type(adata).__name__}.")
    if adata.isbacked:
        raise ValueError(
            f"`{argname}` is a backed AnnData (opened from {str(adata.filename)!r} with "
            "`backed=`); scpairing needs it in memory: `adata = adata.to_memory()`."
        )
    if adata.n_obs == 0:
        raise ValueError(f"`{argname}` has no cells.")
    return adata


def check_unique_names(
    names: Sequence[object], argname: str, what: str = "cell", fix: str | None = None
) -> None:
    """Raise ``ValueError`` when ``names`` (obs or var names) hold duplicates.

    ``fix`` replaces the default advice (``call `adata.obs_names_make_unique()` first``).
    """
    index = pd.Index(names)
    if index.is_unique:
        return
    dups = [str(d) for d in dict.fromkeys(index[index.duplicated()])]
    if fix is None:
        method = "obs_names_make_unique" if what == "cell" else "var_names_make_unique"
        fix = f"call `adata.{method}()` first"
    raise ValueError(
        f"`{argname}` has duplicated {what} names ({len(dups)} duplicated, e.g. {dups[:3]}); "
        f"{what}s are identified by name, so names must be unique: {fix}."
    )


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


# Up to this many stored values are checked exhaustively; beyond it a seeded random sample of
# this size is checked (fractional data has fractional values nearly everywhere, so a sample of
# a million finds them with certainty; a handful of stray fractions among 10^9 may pass).
INTEGRALITY_SAMPLE = 1 << 20


def non_integer_example(values: np.ndarray | sp.spmatrix) -> float | None:
    """Return one stored value of ``values`` that is not a whole number, or ``None``.

    Integer dtypes return ``None`` at once. Float matrices are checked on every stored value up to
    :data:`INTEGRALITY_SAMPLE` values, else on a seeded random sample of that many.
    """
    if sp.issparse(values):
        data = values.data
        if data.dtype.kind != "f":
            return None
        if data.size > INTEGRALITY_SAMPLE:
            rng = np.random.default_rng(0)
            data = data[rng.integers(data.size, size=INTEGRALITY_SAMPLE)]
    else:
        array = np.asarray(values)
        if array.dtype.kind != "f":
            return None
        if array.size > INTEGRALITY_SAMPLE:
            rng = np.random.default_rng(0)
            idx = tuple(rng.integers(n, size=INTEGRALITY_SAMPLE) for n in array.shape)
            data = array[idx]
        else:
            data = array.ravel()
    bad = np.flatnonzero(np.abs(data - np.rint(data)) > 1e-4)
    return float(data[bad[0]]) if bad.size else None


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
    check_unique_names(
        first.obs_names,
        f"{argname}",
        fix="call `obs_names_make_unique()` on every modality (the same names come out, as "
        "paired modalities list the same cells)",
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
    zero = int((norms == 0).sum())
    if zero:
        raise ValueError(
            f"`{argname}` has {zero} all-zero rows, which have no direction to compare; drop "
            "those cells or embed them with model.embed(...), which gives every cell a direction."
        )
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


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return "finite"


def check_integer(
    value: object, name: str, *, low: int | None = None, high: int | None = None, why: str = ""
) -> int:
    """Return ``value`` as an ``int``; ``TypeError`` unless an integer, ``ValueError`` if out of
    ``[low, high]``. ``why`` (e.g. ``" (BatchNorm needs 2 cells)"``) is added to the message.
    """
    text = _range_text(low, high, False, False)
    kind = "an integer" if text == "finite" else f"an integer {text}"
    if not is_integer(value):
        raise TypeError(f"`{name}` must be {kind}{why}; got {_describe(value)}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"`{name}` must be {kind}{why}; got {value}.")
    return int(value)


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    why: str = "",
) -> float:
    """Return ``value`` as a finite ``float``; ``TypeError`` unless a real number (not bool),
    ``ValueError`` if NaN/Inf or out of range (``low_open``/``high_open`` exclude the bound).
    """
    text = _range_text(low, high, low_open, high_open)
    kind = "a finite number" if text == "finite" else f"a number {text}"
    if not is_number(value):
        raise TypeError(f"`{name}` must be {kind}{why}; got {_describe(value)}.")
    number = float(value)
    bad = (
        not math.isfinite(number)
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and (number >= high if high_open else number > high))
    )
    if bad:
        raise ValueError(f"`{name}` must be {kind}{why}; got {value}.")
    return number


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` as a ``bool``; ``TypeError`` unless ``True``/``False`` (or NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {_describe(value)}.")
    return bool(value)


# numpy's legacy RandomState (hence scikit-learn) takes seeds below 2**32; torch and
# numpy.random.default_rng take more, so this is the range all of them accept.
MAX_SEED = 2**32 - 1


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` as an ``int`` in ``[0, 2**32 - 1]`` (what numpy, scikit-learn and torch all
    accept); ``TypeError`` unless an integer, ``ValueError`` if out of range."""
    return check_integer(
        seed, name, low=0, high=MAX_SEED, why=" (the range numpy, scikit-learn and torch accept)"
    )


def check_option_names(given: Mapping, valid: Sequence[str], argname: str) -> None:
    """``TypeError`` naming the unknown keys of an options dict ``argname`` and the valid ones."""
    unknown = sorted(set(given) - set(valid), key=str)
    if unknown:
        raise TypeError(f"`{argname}` has unknown options {unknown}; valid: {list(valid)}.")
