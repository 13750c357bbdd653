"""The default reduction of each modality and rebuilding fitted reductions from their state."""

from __future__ import annotations

import numpy as np

from .._validate import (
    check_modality,
)
from ._atac import ATACReduction
from ._base import Reduction, _plain
from ._projected_lsi import ProjectedLSI
from ._projected_pca import ProjectedPCA
from ._protein import ProteinReduction
from ._rna import RNAReduction

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
