"""One-to-one pairing of cells across modalities: exact, scalable, trimodal, and ``bridge_pair``."""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import _confidence, _validate
from .._device import check_device
from ._auction import SparseMatch, edge_similarity, match_dense, match_sparse

METHODS = ("auto", "exact", "sparse")
# "auto" solves exactly up to this many matrix entries (2000 x 2000 cells: about 0.1 GB, < 1 s).
EXACT_MAX_ENTRIES = 4_000_000
# Above this many cell pairs the pricing search is approximate by default (``probe="auto"``).
EXHAUSTIVE_MAX_ENTRIES = 10**10
AUTO_PROBE = 16_384
# "auto" re-solves a group exactly when the sparse path stops before converging and the group
# has at most this many cell pairs (5000 x 5000: a 0.2 GB float64 matrix).
EXACT_FALLBACK_MAX_ENTRIES = 25_000_000


@dataclass
class Pairing:
    """Result of a one-to-one pairing of set 1 (``z1``) with set 2 (``z2``).

    Attributes
    ----------
    index1, index2
        Row ``i`` pairs cell ``index1[i]`` of set 1 with cell ``index2[i]`` of set 2 (int64).
    similarity
        Cosine similarity of each pair (float64, computed from the float32 inputs; every
        value is ``>= cutoff``).
    unpaired1, unpaired2
        Cells of each set left without a partner (int64, sorted). Together with ``index1`` /
        ``index2`` they cover every input cell exactly once.
    objective
        Sum of ``similarity``.
    method
        ``"exact"`` or ``"sparse"`` (what actually ran).
    timings
        Seconds per step: ``search`` (clustering and neighbour / pricing searches), ``solve``
        (matching) and ``total``.
    diagnostics
        Sparse runs: ``rounds`` (pricing rounds), ``edges`` (final graph size), ``bids``
        (auction steps), ``n_clusters`` and ``dual_bound``: an upper bound on the best possible
        objective, proven when the search was exhaustive (``nan`` otherwise; summed over groups).
        ``gap`` is ``dual_bound / objective - 1``. An approximate search instead estimates a dual
        bound from an exhaustive search of 10,000 random rows (per group): ``gap_estimate`` and
        its standard error ``gap_stderr``. ``converged`` is 0 when pricing stopped on
        ``time_budget`` or ``repair_rounds`` in some group (a warning says so), else 1.
        ``exact_fallbacks``: groups that ``method="auto"`` re-solved exactly because the sparse
        path stopped before converging (their optimum counts as their dual bound).
    confidence
        Per pair, in [0, 1] (float64). From :func:`pair` it is model-free: the share of random
        cross-set pairs (100,000 sampled) that are less similar than the pair. That says how
        unusual the similarity is for these two sets, *not* whether the pair is right: a
        one-to-one matching picks the most similar partners, so matched pairs score high even
        on embeddings that carry no signal. :func:`bridge_pair` replaces it with the confidence
        calibrated on the bridge's held-out cells (see there), which is 0 for similarities
        random cells reach as often as true partners.
    """

    index1: np.ndarray
    index2: np.ndarray
    similarity: np.ndarray
    unpaired1: np.ndarray
    unpaired2: np.ndarray
    objective: float
    method: str
    timings: dict[str, float] = field(default_factory=dict)
    diagnostics: dict[str, float] = field(default_factory=dict)
    confidence: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))

    @property
    def n_pairs(self) -> int:
        return int(self.index1.size)

    def __repr__(self) -> str:
        n1 = self.n_pairs + self.unpaired1.size
        n2 = self.n_pairs + self.unpaired2.size
        text = (
            f"Pairing: {self.n_pairs:,} pairs of {n1:,} x {n2:,} cells "
            f"({self.unpaired1.size:,} / {self.unpaired2.size:,} unpaired), method={self.method!r}"
        )
        if self.n_pairs:
            low, mid, high = np.percentile(self.similarity, [0, 50, 100])
            text += (
                f"\n  similarity min / median / max: {low:.3f} / {mid:.3f} / {high:.3f}; "
                f"objective {self.objective:,.2f}"
            )
        gap = self.diagnostics.get("gap", np.nan)
        if gap == gap:
            text += f"\n  proven gap to the optimum: {gap:.1e}"
        elif "gap_estimate" in self.diagnostics:
            text += (
                f"\n  estimated gap to the optimum: {self.diagnostics['gap_estimate']:.1e}"
                f" ± {self.diagnostics['gap_stderr']:.0e}"
            )
        if self.diagnostics.get("converged", 1.0) == 0.0:
            text += "\n  pricing stopped before converging (see diagnostics)"
        return text


def pair(
    z1: np.ndarray,
    z2: np.ndarray,
    cutoff: float = 0.8,
    *,
    method: str = "auto",
    k: int = 10,
    groups1: Sequence | np.ndarray | None = None,
    groups2: Sequence | np.ndarray | None = None,
    block_size: int = 400,
    repair_rounds: int = 20,
    probe: int | str | None = "auto",
    time_budget: float | None = None,
    tolerance: float = 1e-5,
    seed: int = 0,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> Pairing:
    """Pair cells one-to-one, maximising the total cosine similarity of the pairs.

    Parameters
    ----------
    z1, z2
        Unit vectors, shapes ``(n, d)`` and ``(m, d)`` (e.g. ``model.embed(...)`` output);
        ``n`` and ``m`` may differ.
    cutoff
        Pairs with cosine similarity below ``cutoff`` are never made. In ``[-1, 1]``; pairs with
        non-positive similarity never raise the total and are not made either.
    method
        ``"exact"``: maximum-weight matching on the full ``n x m`` matrix (scipy; O(nm) memory,
        about cubic time: fine to ~10k cells). ``"sparse"``: never builds the full matrix. An
        auction solves the matching on each cell's top-``k`` partners; its dual prices then
        show which edges outside that graph could improve the matching (similarity minus
        partner's price above the cell's profit), those are added and the matching re-solved,
        until none is left (exact on the full problem when the search is exhaustive) or
        ``repair_rounds`` is spent. ``"auto"``: exact up to 2000 x 2000 cells, sparse above;
        a group the sparse path could not finish within ``repair_rounds`` is re-solved
        exactly when it has at most 25M cell pairs (``diagnostics["exact_fallbacks"]``) and no
        ``time_budget`` is set. Cells with equal similarities (duplicated or empty cells)
        are matched exactly too: ties are broken per pair, never by cell order.
    k
        Neighbours per cell in the initial sparse graph.
    groups1, groups2
        Optional labels (one per cell, e.g. cell type or batch); cells are only paired within the
        same label. Give both or neither.
    block_size
        Cells per cluster of the search index: the sets are clustered into about
        ``(n + m) / block_size`` clusters and cluster pairs that cannot reach ``cutoff`` are
        never compared.
    repair_rounds
        Most pricing rounds (0: solve the top-``k`` graph only).
    probe
        Most cells of the other set searched per cluster in a pricing round (nearest clusters
        and cheapest cells first; early rounds, which re-check nearly every cell, search fewer so
        that rounds cost about the same). ``None``: exhaustive, which makes the result optimal up
        to ``diagnostics["dual_bound"]``; ``"auto"``: exhaustive up to 10^10 cell pairs
        (100k x 100k), 16384 above (approximate: no proven bound, but
        ``diagnostics["gap_estimate"]`` estimates one from an exhaustive search of a sample).
    time_budget
        Seconds after which no new pricing round starts (``None``: no limit). The result is
        then the matching of the last graph, and with an exhaustive search
        ``diagnostics["dual_bound"]`` still proves how far it can be from the optimum.
    tolerance
        With an exhaustive search, pricing stops once the dual bound proves the matching within
        this relative gap of the optimum (``0``: go on until no improving edge is left; the last
        rounds add a handful of edges each and gain less than 1e-5 on clustered data).
    seed
        Seed of the clustering; results are deterministic for a given seed.
    progress
        Show a progress bar over groups.
    device
        Where the sparse path's neighbour and pricing searches run. ``None`` (default): the
        CPU, by a pruned numba scan. A torch device (``"cpu"``, ``"cuda"``, ...): blocked
        matrix products on it, the same pairs up to float32 rounding of the similarities (on
        a CPU the numba scan is the faster of the two; a GPU is where the products pay).
        The matching itself always runs on the CPU.

    Returns
    -------
    Pairing
    """
    start = time.perf_counter()
    z1, z2 = _check_embeddings(z1, z2)
    cutoff = _check_cutoff(cutoff)
    _check_options(method, k, block_size, repair_rounds, time_budget, tolerance, progress)
    seed = _validate.check_seed(seed)
    n, m = z1.shape[0], z2.shape[0]
    fallback = method == "auto" and time_budget is None
    if method == "auto":
        method = "exact" if n * m <= EXACT_MAX_ENTRIES else "sparse"
    sparse_options = {
        "k": k,
        "rounds": repair_rounds,
        "probe": _check_probe(probe, n * m),
        "seed": seed,
        "deadline": None if time_budget is None else start + time_budget,
        "tolerance": tolerance,
        "device": None if device is None else check_device(device),
    }
    totals = _SolveTotals()
    pairs1, pairs2 = [], []
    parts = _group_parts(groups1, groups2, n, m)
    for a, b in tqdm(parts, desc="groups", disable=not progress or len(parts) < 2):
        if a.size and b.size:
            r, c = _solve_group(
                z1[a], z2[b], cutoff, method, fallback, block_size, sparse_options, totals
            )
            pairs1.append(a[r])
            pairs2.append(b[c])
    index1 = np.concatenate(pairs1) if pairs1 else np.empty(0, dtype=np.int64)
    index2 = np.concatenate(pairs2) if pairs2 else np.empty(0, dtype=np.int64)
    order = np.argsort(index1, kind="stable")
    index1, index2 = index1[order], index2[order]
    similarity = edge_similarity(z1, z2, index1, index2)
    # The solvers judge the cutoff with the same float64 similarity, but BLAS may sum a dense
    # row in another order: a pair within an ulp below the cutoff is never reported.
    keep = similarity >= cutoff
    index1, index2, similarity = index1[keep], index2[keep], similarity[keep]
    objective = float(similarity.sum(dtype=np.float64))
    diagnostics = totals.diagnostics(objective)
    if diagnostics.get("converged") == 0.0:
        warnings.warn(
            "pair(): pricing stopped on `time_budget` / `repair_rounds` before the matching "
            "converged; more pairs or a higher objective may be possible. "
            "`Pairing.diagnostics` has the rounds run and the gap to a dual bound: proven "
            "(`gap`) for an exhaustive search, estimated (`gap_estimate`) for an approximate one.",
            RuntimeWarning,
            stacklevel=2,
        )
    return Pairing(
        index1=index1,
        index2=index2,
        similarity=similarity,
        unpaired1=np.setdiff1d(np.arange(n, dtype=np.int64), index1),
        unpaired2=np.setdiff1d(np.arange(m, dtype=np.int64), index2),
        objective=objective,
        method=method,
        timings={
            "search": totals.search,
            "solve": totals.solve,
            "total": time.perf_counter() - start,
        },
        diagnostics=diagnostics,
        confidence=_confidence.random_pair_percentile(z1, z2, similarity, seed=seed),
    )


@dataclass
class _SolveTotals:
    """Timings and solver statistics summed over the groups of one :func:`pair` call."""

    search: float = 0.0
    solve: float = 0.0
    sparse: list[SparseMatch] = field(default_factory=list)
    exact_fallbacks: int = 0

    def diagnostics(self, objective: float) -> dict[str, float]:
        """``Pairing.diagnostics`` (empty when no group was solved by the sparse path)."""
        if not self.sparse:
            return {}
        out: dict[str, float] = {
            "converged": float(min(run.converged for run in self.sparse)),
            "exact_fallbacks": self.exact_fallbacks,
        }
        for key in ("rounds", "bids", "edges", "n_clusters", "dual_bound"):
            out[key] = sum(getattr(run, key) for run in self.sparse)
        if objective > 0:
            out["gap"] = out["dual_bound"] / objective - 1.0
            estimate = sum(run.bound_estimate for run in self.sparse)
            if estimate == estimate:  # approximate searches: a sampled bound
                variance = sum(run.bound_variance for run in self.sparse)
                out["gap_estimate"] = estimate / objective - 1.0
                out["gap_stderr"] = float(np.sqrt(variance)) / objective
        return out


def _solve_group(
    z1: np.ndarray,
    z2: np.ndarray,
    cutoff: float,
    method: str,
    fallback: bool,
    block_size: int,
    sparse_options: dict[str, Any],
    totals: _SolveTotals,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of one group (positions in ``z1`` / ``z2``), adding its statistics to ``totals``."""
    t0 = time.perf_counter()
    if method == "exact":
        r, c = match_dense(z1, z2, cutoff)
        totals.solve += time.perf_counter() - t0
        return r, c
    n_clusters = int(np.ceil((z1.shape[0] + z2.shape[0]) / block_size))
    run = match_sparse(z1, z2, cutoff, n_clusters=n_clusters, **sparse_options)
    totals.search += run.search
    totals.solve += run.solve
    totals.sparse.append(run)
    if run.converged or not fallback or z1.shape[0] * z2.shape[0] > EXACT_FALLBACK_MAX_ENTRIES:
        return run.rows, run.cols
    # Input the fast path could not finish within `repair_rounds`: solve it exactly rather
    # than return a matching that may be worse. The group's optimum is its own dual bound.
    t0 = time.perf_counter()
    run.rows, run.cols = match_dense(z1, z2, cutoff)
    totals.solve += time.perf_counter() - t0
    run.converged = True
    run.dual_bound = float(edge_similarity(z1, z2, run.rows, run.cols).sum())
    if run.bound_estimate == run.bound_estimate:
        run.bound_estimate, run.bound_variance = run.dual_bound, 0.0
    totals.exact_fallbacks += 1
    return run.rows, run.cols


def _check_embeddings(z1: object, z2: object) -> tuple[np.ndarray, np.ndarray]:
    z1 = _validate.check_unit_vectors(z1, "z1")
    z2 = _validate.check_unit_vectors(z2, "z2")
    if z1.shape[1] != z2.shape[1]:
        raise ValueError(
            f"`z1` and `z2` must have the same latent dimension; got {z1.shape[1]} and "
            f"{z2.shape[1]}."
        )
    return z1, z2


def _check_options(
    method: object,
    k: object,
    block_size: object,
    repair_rounds: object,
    time_budget: object,
    tolerance: object,
    progress: object,
) -> None:
    if not isinstance(method, str):
        raise TypeError(f"`method` must be one of {METHODS}; got {method!r}.")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")
    for name, value, low in (
        ("k", k, 1),
        ("block_size", block_size, 2),
        ("repair_rounds", repair_rounds, 0),
    ):
        _validate.check_integer(value, name, low=low)
    if time_budget is not None:
        _validate.check_number(time_budget, "time_budget", low=0, low_open=True)
    _validate.check_number(tolerance, "tolerance", low=0, high=1, high_open=True)
    _validate.check_bool(progress, "progress")


def _check_probe(probe: object, entries: int) -> int | None:
    if probe == "auto":
        return None if entries <= EXHAUSTIVE_MAX_ENTRIES else AUTO_PROBE
    if probe is None:
        return None
    if not _validate.is_integer(probe):
        raise TypeError(f"`probe` must be a positive integer, None or 'auto'; got {probe!r}.")
    if probe < 1:
        raise ValueError(f"`probe` must be a positive integer, None or 'auto'; got {probe!r}.")
    return int(probe)


def _check_cutoff(cutoff: object) -> float:
    return _validate.check_number(cutoff, "cutoff", low=-1, high=1, why=" (a cosine similarity)")


def _group_parts(
    groups1: Sequence | np.ndarray | None, groups2: Sequence | np.ndarray | None, n: int, m: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index pairs ``(cells of set 1, cells of set 2)`` that may be matched with each other."""
    if groups1 is None and groups2 is None:
        return [(np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64))]
    if groups1 is None or groups2 is None:
        raise ValueError("`groups1` and `groups2` must be given together (one label per cell).")
    values = []
    for name, groups, size in (("groups1", groups1, n), ("groups2", groups2, m)):
        if isinstance(groups, (str, bytes)) or np.ndim(groups) != 1:
            raise TypeError(f"`{name}` must be a 1-D sequence of labels, one per cell.")
        labels = np.asarray(groups, dtype=object)
        if labels.size != size:
            raise ValueError(f"`{name}` has {labels.size} labels but its set has {size} cells.")
        missing = pd.isna(labels)
        if missing.any():
            raise ValueError(
                f"`{name}` has {int(missing.sum())} missing labels (None/NaN); give every cell a "
                "label (e.g. 'unknown') or leave those cells out."
            )
        values.append(labels)
    # Labels are matched by value (1 and 1.0 are one group), never by their string form.
    codes, _ = pd.factorize(np.concatenate(values))
    codes1, codes2 = codes[:n], codes[n:]
    common = np.intersect1d(codes1, codes2)
    return [
        (
            np.flatnonzero(codes1 == g).astype(np.int64),
            np.flatnonzero(codes2 == g).astype(np.int64),
        )
        for g in common
    ]


def _affinity(za: np.ndarray, zb: np.ndarray, n_sample: int = 2000) -> float:
    """Mean best-partner similarity between two embeddings on a fixed subsample."""
    rng = np.random.default_rng(0)
    a = za[rng.choice(za.shape[0], min(n_sample, za.shape[0]), replace=False)]
    b = zb[rng.choice(zb.shape[0], min(n_sample, zb.shape[0]), replace=False)]
    sims = a @ b.T
    return float((sims.max(axis=1).mean() + sims.max(axis=0).mean()) / 2)


def pair_three(
    z: Mapping[str, np.ndarray], cutoff: float = 0.8, **pair_kwargs: Any
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], str]:
    """Three-way one-to-one pairing by two scalable matchings.

    The two modalities whose embeddings agree best (mean best-partner similarity on a subsample)
    are paired first with :func:`pair`. Each pair is then represented by the normalised mean of
    its two directions, and the third modality is matched to these directions with a second
    :func:`pair` (same ``cutoff``). A triple is kept only when both matchings kept it; cells of
    pairs that found no third partner are listed as unpaired. Cost: two sparse matchings.

    Returns
    -------
    index, similarity, unpaired, method
        ``index[mod]`` are the cells of each triple; ``similarity`` is the mean of the three
        pairwise cosines of a triple; ``unpaired[mod]`` the cells left out.
    """
    names = list(z)
    (a, b) = max(itertools.combinations(names, 2), key=lambda ab: _affinity(z[ab[0]], z[ab[1]]))
    (c,) = [name for name in names if name not in (a, b)]
    first = pair(z[a], z[b], cutoff, **pair_kwargs)
    mean = z[a][first.index1] + z[b][first.index2]
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    if first.n_pairs:
        second = pair(mean, z[c], cutoff, **pair_kwargs)
        take, idx_c, left_c = second.index1, second.index2, second.unpaired2
        dropped = second.unpaired1
    else:
        take = dropped = np.empty(0, dtype=np.int64)
        idx_c, left_c = take, np.arange(z[c].shape[0], dtype=np.int64)
    index = {a: first.index1[take], b: first.index2[take], c: idx_c}
    unpaired = {
        a: np.sort(np.concatenate([first.unpaired1, first.index1[dropped]])),
        b: np.sort(np.concatenate([first.unpaired2, first.index2[dropped]])),
        c: left_c,
    }
    sims = [
        edge_similarity(z[p], z[q], index[p], index[q]) for p, q in itertools.combinations(names, 2)
    ]
    similarity = np.mean(sims, axis=0)
    return {name: index[name] for name in names}, similarity, unpaired, first.method
