"""Small bridges: default reductions that fit them, and a warning when one does not generalise.

Two things happen only when a bridge is small:

- **Default reductions adapt.** A default reduction (``reductions=None`` or a missing key) whose
  ``n_components`` the bridge cannot support is capped at :func:`supported_components` with a
  ``UserWarning`` naming the value chosen and how to set another. A reduction the user built
  (``scp.pp.ATACReduction(n_components=...)``) is never changed: a value too large is an error.
- **Overfitting is measured.** After training, the FOSCTTM of the held-out validation cells is
  compared with the FOSCTTM of as many *training* cells (the mean over a few random draws of
  that size, so that both numbers come from sets of the same size). A model that learnt the
  bridge's own cells but not cells like them shows a large gap; :func:`generalisation` reports
  it and :func:`warn_if_overfit` warns when ``gap > MAX_GAP`` and the gap is more than
  ``Z_GAP`` standard errors of the validation FOSCTTM (so that a handful of validation cells
  cannot trigger it by chance).

The thresholds were measured (2 CPU threads, seed 0, see the README): the bundled SNARE-seq2
bridge of 3,093 cells has train / validation FOSCTTM 0.05 / 0.10 (gap 0.05, query 0.11); the
NeurIPS 2021 multiome sample with 150 bridge cells has 0.04 / 0.37 (gap 0.33, query 0.34).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

# Warn when the validation FOSCTTM exceeds the training cells' by more than this ...
MAX_GAP = 0.15
# ... and by more than this many standard errors of the validation FOSCTTM.
Z_GAP = 2.0
# Random same-size draws of training cells averaged for the training FOSCTTM.
_TRAIN_DRAWS = 5
# Validation cells used at most (the FOSCTTM is quadratic in them).
_MAX_VALIDATION = 2000


def supported_components(reduction: Any, n_cells: int, n_features: int) -> int:
    """``n_components`` of a default reduction on a bridge of ``n_cells`` cells and
    ``n_features`` features with counts: the reduction's own value, capped at half the cells (a
    decomposition with nearly as many components as cells fits each cell's noise: measured in
    the module docstring) and at what the decomposition can compute."""
    extra = int(getattr(reduction, "drop_first", False))
    feasible = min(n_cells, n_features) - 1 - extra
    return int(max(1, min(reduction.n_components, n_cells // 2, feasible)))


def open_features(x: Any) -> int:
    """Number of features (columns) with a non-zero value in some cell."""
    if sp.issparse(x):
        return int(np.unique(sp.csr_matrix(x).indices).size)
    return int(np.count_nonzero(np.any(np.asarray(x) != 0, axis=0)))


def adapt_default(reduction: Any, modality: str, adata: Any) -> None:
    """Cap a *default* reduction's ``n_components`` (in place) to what the bridge ``adata``
    supports (:func:`supported_components`), with a ``UserWarning`` saying what was chosen."""
    n_cells = adata.n_obs
    if reduction.n_components <= n_cells // 2 and modality == "protein":
        return  # the protein PCA keeps min(n_components, n_proteins): no feature limit
    layer = getattr(reduction, "layer", None)
    values = adata.X if layer is None or layer not in adata.layers else adata.layers[layer]
    n_open = adata.n_vars if values is None else open_features(values)
    if modality == "protein":
        n_open = max(n_open, reduction.n_components + 2)  # proteins cap only by cells
    chosen = supported_components(reduction, n_cells, n_open)
    if chosen >= reduction.n_components:
        return
    name = type(reduction).__name__
    features = "proteins" if modality == "protein" else f"{modality} features with counts"
    warnings.warn(
        f"small bridge: {n_cells} cells and {n_open} {features}, so the default {name} uses "
        f"n_components={chosen} instead of {reduction.n_components} (at most half the cells, "
        "fewer than the features). To choose another: "
        f"reductions={{{modality!r}: scp.pp.{name}(n_components=...)}}, or on the command "
        f"line --{modality}-components.",
        UserWarning,
        stacklevel=4,
    )
    reduction.n_components = chosen


def _foscttm_per_cell(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    """Per-cell FOSCTTM (mean of both directions) of paired rows."""
    sim = za.astype(np.float64) @ zb.astype(np.float64).T
    true = np.diag(sim)
    n = sim.shape[0]
    closer1 = (sim > true[:, None]).sum(1)
    closer2 = (sim > true[None, :]).sum(0)
    return (closer1 + closer2) / (2.0 * (n - 1))


def generalisation(
    z: dict[str, np.ndarray], train_idx: np.ndarray, val_idx: np.ndarray, seed: int = 0
) -> dict[str, float] | None:
    """Training-cell vs validation-cell FOSCTTM of bridge embeddings ``z`` (all bridge cells,
    per modality), on sets of the same size; None with fewer than 10 validation cells."""
    n_val = len(val_idx)
    if n_val < 10 or len(train_idx) < n_val:
        return None
    modalities = list(z)
    pairs = [(a, b) for i, a in enumerate(modalities) for b in modalities[i + 1 :]]

    def per_cell(idx: np.ndarray) -> np.ndarray:
        return np.mean([_foscttm_per_cell(z[a][idx], z[b][idx]) for a, b in pairs], axis=0)

    val = per_cell(np.asarray(val_idx))
    rng = np.random.default_rng(seed)
    train = [
        per_cell(np.sort(rng.choice(train_idx, n_val, replace=False))).mean()
        for _ in range(_TRAIN_DRAWS)
    ]
    gap = float(val.mean() - np.mean(train))
    return {
        "n_validation": int(n_val),
        "n_train": int(len(train_idx)),
        "train_foscttm": float(np.mean(train)),
        "validation_foscttm": float(val.mean()),
        "gap": gap,
        "gap_se": float(val.std(ddof=1) / np.sqrt(n_val)),
    }


def overfit_message(report: dict[str, float] | None) -> str | None:
    """The warning text when the validation-vs-training gap says the bridge is too small."""
    if not report:
        return None
    gap, se = report["gap"], report["gap_se"]
    if gap <= MAX_GAP or gap <= Z_GAP * se:
        return None
    return (
        f"the bridge looks too small to generalise: FOSCTTM {report['train_foscttm']:.3f} on "
        f"training cells but {report['validation_foscttm']:.3f} on {report['n_validation']} "
        f"held-out bridge cells (gap {gap:.3f} > {MAX_GAP}; 0 is perfect, 0.5 random), so "
        "expect query cells to pair about as well as the held-out ones. A larger bridge helps "
        f"most (this one trained on {report['n_train']} cells); fewer reduction components or "
        "a smaller latent_dim may also help."
    )


def check(model: Any, config: Any) -> dict[str, float] | None:
    """:func:`generalisation` of a just-trained ``model`` on its own bridge (the training split
    of :func:`scpairing.model._train.split_validation`, as in training); at most 2,000 validation
    cells are used."""
    import torch

    from ._train import split_validation

    n_cells = next(iter(model._bridge.values())).shape[0]
    train_idx, val_idx = split_validation(n_cells, config.validation_fraction, model.seed)
    rng = np.random.default_rng(model.seed)
    if len(val_idx) > _MAX_VALIDATION:
        val_idx = np.sort(rng.choice(val_idx, _MAX_VALIDATION, replace=False))
    model.module.eval()
    with torch.no_grad():
        z = {
            m: model.module.encoders[m](torch.from_numpy(x).to(model.device)).cpu().numpy()
            for m, x in model._bridge.items()
        }
    return generalisation(z, train_idx, val_idx, seed=model.seed)


def warn_if_overfit(validation: dict | None, where: str, stacklevel: int = 3) -> None:
    """Raise the small-bridge ``UserWarning`` (see :func:`overfit_message`) when it applies and
    the no-signal warning (:mod:`scpairing._confidence`) does not."""
    from .. import _confidence

    if not validation or _confidence.no_signal_message(validation) is not None:
        return
    message = overfit_message(validation.get("generalisation"))
    if message is not None:
        warnings.warn(f"{where}: {message}", UserWarning, stacklevel=stacklevel)


def max_components(reduction: Any, adata: Any) -> int | None:
    """Largest ``n_components`` ``reduction`` can be fitted with on the bridge ``adata`` (its
    cells and the features with counts); None when any value works (a protein panel no wider
    than the components)."""
    layer = getattr(reduction, "layer", None)
    values = adata.X if layer is None or layer not in adata.layers else adata.layers[layer]
    n_open = adata.n_vars if values is None else open_features(values)
    if reduction.kind == "protein":
        return None if n_open <= reduction.n_components else adata.n_obs
    extra = int(getattr(reduction, "drop_first", False))
    return max(0, min(adata.n_obs, n_open) - 1 - extra)
