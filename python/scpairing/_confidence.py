"""Per-pair confidence and the bridge's own check that it can tell partners from random cells.

At the end of training, the bridge's held-out validation cells (true partners known, never
trained on) are embedded per modality. Their true-pair similarities and the similarities of
random cross-modal pairs among them give

- a **validation AUC**: the chance that a true pair is more similar than a random pair (0.5:
  the model cannot tell partners from random cells; 1: it always can), and the FOSCTTM;
- a **calibration** of similarity: for a similarity ``s``, ``p(s)`` is the share of true pairs
  among held-out pairs near ``s`` when true and random pairs are weighted equally (binned on the
  true pairs' quantiles, made non-decreasing by isotonic regression). The **confidence** is
  ``max(0, 2 p(s) - 1)``: 0 when random pairs reach ``s`` as often as true partners (no evidence
  of a match), 0.5 when true partners are 3 times as likely as random pairs to be that similar,
  0.8 at 9 times, 1 when only true partners reach it.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
from sklearn.isotonic import IsotonicRegression

# A validation AUC below this says the model cannot tell true partners from random cells.
MIN_AUC = 0.6
# Fewest validation cells a calibration is fitted on.
MIN_VALIDATION_CELLS = 10
_MAX_RANDOM_PAIRS = 200_000


def _auc(true: np.ndarray, random: np.ndarray) -> float:
    """P(a true pair is more similar than a random pair), ties counted half."""
    ordered = np.sort(random)
    below = np.searchsorted(ordered, true, side="left")
    ties = np.searchsorted(ordered, true, side="right") - below
    return float(np.mean((below + 0.5 * ties) / ordered.size))


def _foscttm(sim: np.ndarray) -> float:
    true = np.diag(sim)
    n = sim.shape[0]
    closer1 = (sim > true[:, None]).sum(1)
    closer2 = (sim > true[None, :]).sum(0)
    return float((closer1.mean() + closer2.mean()) / (2 * (n - 1)))


def fit_calibration(true: np.ndarray, random: np.ndarray) -> dict[str, list[float]]:
    """Similarity -> confidence knots from held-out true-pair and random-pair similarities.

    Bins are cut at quantiles of the true-pair similarities (about 30 true pairs per bin, at
    most 20 bins); in each, the balanced share of true pairs (half a pseudo-pair of each kind
    added) is made non-decreasing across bins and mapped to ``max(0, 2 p - 1)``. The knot of a
    bin is the median true-pair similarity in it.
    """
    n_bins = int(np.clip(true.size // 30, 2, 20))
    inner = np.quantile(true, np.linspace(0, 1, n_bins + 1)[1:-1])
    t_bin = np.searchsorted(inner, true, side="right")
    r_bin = np.searchsorted(inner, random, side="right")
    t_count = np.bincount(t_bin, minlength=n_bins).astype(float)
    r_count = np.bincount(r_bin, minlength=n_bins) * (true.size / random.size)
    share = (t_count + 0.5) / (t_count + r_count + 1.0)
    bins = np.arange(n_bins)
    share = IsotonicRegression().fit_transform(bins, share, sample_weight=t_count + r_count + 1.0)
    knots = np.array(
        [np.median(true[t_bin == b]) if (t_bin == b).any() else np.nan for b in range(n_bins)]
    )
    keep = np.isfinite(knots)
    knots, confidence = knots[keep], np.maximum(0.0, 2.0 * share[keep] - 1.0)
    # Equal knots (ties in the true similarities) would make the interpolation ill-defined.
    knots, first = np.unique(knots, return_index=True)
    return {"similarity": knots.tolist(), "confidence": confidence[first].tolist()}


def validate(z: dict[str, np.ndarray], seed: int = 0) -> dict:
    """Validation AUC, FOSCTTM and calibration from held-out cells embedded per modality.

    Parameters
    ----------
    z
        ``{modality: (n, d) unit vectors}`` of the same held-out cells in the same order.
    seed
        Seed of the random-pair subsample (used above 200,000 random pairs).

    Returns
    -------
    dict
        ``n_cells``, ``auc`` and ``foscttm`` (means over modality pairs), and ``pairs``:
        per ``"a+b"`` its ``auc``, ``foscttm``, ``true_median``, ``random_median`` and the
        calibration knots ``similarity`` / ``confidence``. With fewer than 10 cells, ``auc``
        and ``foscttm`` are NaN and ``pairs`` is empty.
    """
    n = next(iter(z.values())).shape[0]
    out: dict = {"n_cells": int(n), "auc": float("nan"), "foscttm": float("nan"), "pairs": {}}
    if n < MIN_VALIDATION_CELLS:
        return out
    rng = np.random.default_rng(seed)
    for a, b in combinations(z, 2):
        sim = z[a].astype(np.float64) @ z[b].astype(np.float64).T
        true = np.diag(sim).copy()
        random = sim[~np.eye(n, dtype=bool)]
        if random.size > _MAX_RANDOM_PAIRS:
            random = rng.choice(random, _MAX_RANDOM_PAIRS, replace=False)
        out["pairs"][f"{a}+{b}"] = {
            "auc": _auc(true, random),
            "foscttm": _foscttm(sim),
            "true_median": float(np.median(true)),
            "random_median": float(np.median(random)),
            **fit_calibration(true, random),
        }
    pairs = out["pairs"].values()
    out["auc"] = float(np.mean([p["auc"] for p in pairs]))
    out["foscttm"] = float(np.mean([p["foscttm"] for p in pairs]))
    return out


def calibrated(validation: dict, a: str, b: str, similarity: np.ndarray) -> np.ndarray | None:
    """Confidence of pairs of modalities ``a`` and ``b`` with these similarities, or None
    when the validation holds no calibration for them."""
    knots = validation.get("pairs", {}).get(f"{a}+{b}") or validation.get("pairs", {}).get(
        f"{b}+{a}"
    )
    if not knots or not knots["similarity"]:
        return None
    values = np.interp(similarity, knots["similarity"], knots["confidence"])
    return np.clip(values, 0.0, 1.0)


def similarity_at(validation: dict | None, a: str, b: str, min_confidence: float) -> float | None:
    """Lowest similarity whose calibrated confidence reaches ``min_confidence`` (> 1 when none
    does), or None when ``min_confidence`` is 0 or there is no calibration for ``a``/``b``."""
    if min_confidence <= 0 or not validation:
        return None
    pairs = validation.get("pairs", {})
    knots = pairs.get(f"{a}+{b}") or pairs.get(f"{b}+{a}")
    if not knots or not knots["similarity"]:
        return None
    x, y = np.asarray(knots["similarity"]), np.asarray(knots["confidence"])
    reached = np.flatnonzero(y >= min_confidence)
    if reached.size == 0:
        return 2.0
    k = reached[0]
    if k == 0:
        return -1.0
    # Linear between the last knot below and the first at or above (the interpolation used).
    t = (min_confidence - y[k - 1]) / (y[k] - y[k - 1])
    return float(x[k - 1] + t * (x[k] - x[k - 1]))


def random_pair_percentile(
    z1: np.ndarray, z2: np.ndarray, similarity: np.ndarray, n_sample: int = 100_000, seed: int = 0
) -> np.ndarray:
    """Share of random cross-set pairs (sampled) less similar than each given similarity."""
    if z1.shape[0] == 0 or z2.shape[0] == 0 or similarity.size == 0:
        return np.zeros(similarity.size)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, z1.shape[0], n_sample)
    j = rng.integers(0, z2.shape[0], n_sample)
    ordered = np.sort(np.einsum("ij,ij->i", z1[i].astype(np.float64), z2[j].astype(np.float64)))
    return np.searchsorted(ordered, similarity, side="left") / n_sample


def no_signal_message(validation: dict | None) -> str | None:
    """The warning text when the held-out AUC says the model cannot pair, else None."""
    if not validation or not np.isfinite(validation.get("auc", np.nan)):
        return None
    auc = validation["auc"]
    if auc >= MIN_AUC:
        return None
    return (
        f"the model cannot tell true partners from random cells on its {validation['n_cells']} "
        f"held-out bridge cells (validation AUC {auc:.2f}, FOSCTTM "
        f"{validation['foscttm']:.2f}; 0.5 is chance, a working bridge scores > {MIN_AUC}), so "
        "its pairs are little better than random. Try: a larger or deeper bridge, checking that "
        "the bridge's modalities are truly paired (same cells, same order), other reductions or "
        "more components, or more epochs (`model.train(max_epochs=...)`); look at "
        "`mdata.obs['confidence']`, which is near 0 for such pairs."
    )


def warn_no_signal(validation: dict | None, where: str, stacklevel: int = 3) -> None:
    """Raise the no-signal ``UserWarning`` (see :func:`no_signal_message`) when it applies."""
    message = no_signal_message(validation)
    if message is not None:
        warnings.warn(f"{where}: {message}", UserWarning, stacklevel=stacklevel)
