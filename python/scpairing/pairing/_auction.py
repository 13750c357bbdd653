"""Maximum-weight one-to-one matching: dense (exact) and a sparse forward/reverse auction.

The sparse problem: rows ``i`` and columns ``j`` with candidate edges of weight ``w_ij > 0``;
find a matching (each row and column used at most once) of maximum total weight. Every row gets a
private "stay unpaired" column of weight 0 and price 0, so every row is always assigned; real
columns may stay unassigned. This is the asymmetric assignment problem of Bertsekas & Castanon
(1992), solved with the forward/reverse auction and epsilon scaling:

* forward step (unassigned row): bid for the column of best value ``w_ij - p_j`` and raise its
  price by (best - second best + eps);
* reverse step (unassigned real column with a positive price): take the row ``i`` of best value
  ``w_ij - profit_i`` away from its column if that gains more than ``eps``, else drop the price
  to 0.

At the end every row is eps-optimal and every unassigned column has price 0, so the prices ``p``
and the profits ``u_i = max(0, max_j w_ij - p_j)`` are a feasible dual of the LP up to ``eps``
per row: the primal is within ``n * eps`` of the optimum of the graph. The prices are what
:func:`scpairing.pairing` uses to look for improving edges outside the graph.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import linear_sum_assignment

from .. import _stages
from ._index import ClusterIndex

UNASSIGNED = -1
DUMMY = -2
# Cold solves scale eps down from 1e-2; warm re-solves (after adding edges) start at 1e-3:
# new edges can move prices by ~0.1, and bidding them up in 1e-5 steps is a price war
# (measured at 100k cells: 43M bids starting from 1e-5, 14M from 1e-3).
EPS_COLD = np.array([1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
EPS_WARM = np.array([1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
# With an approximate search (no bound to prove), pricing rounds solve only down to this eps (the
# graph's optimum within n * 1e-4), enough to find the edges the graph misses; the finer phases
# run once, when pricing has nothing left to add.
# Measured at 300k x 300k (bench_atlas embedding): the heaviest warm re-solve took 129 s at
# eps >= 1e-4, 234 s down to 1e-7.
COARSE_EPS = 1e-4
COARSE_COLD, COARSE_WARM = EPS_COLD[EPS_COLD >= COARSE_EPS], EPS_WARM[EPS_WARM >= COARSE_EPS]
# A coarse round that grew the graph by more than this share re-solves cold (from zero prices):
# at 300k x 300k the second round's warm auction took 129 s, a cold one ~30 s.
COLD_SHARE = 0.1
# An edge outside the graph is added when it beats its row's profit by more than this (once the
# prices are settled finely; by COARSE_EPS before).
TOL = 1e-6
# Rows searched exhaustively to estimate the dual bound of an approximate (probe) search.
ESTIMATE_SAMPLE = 10_000
# The float32 search admits pairs this far below the cutoff; each found pair is then judged by its
# float64 similarity (float32 dot products of unit vectors err by ~d * 6e-8).
SEARCH_SLACK = 1e-5
EDGE_CHUNK = 1 << 20


@dataclass
class SparseMatch:
    """What :func:`match_sparse` returns: the pairs and how the solve went.

    Attributes
    ----------
    rows, cols
        Pair ``t`` matches row ``rows[t]`` of ``z1`` with row ``cols[t]`` of ``z2``.
    search, solve
        Seconds in clustering / neighbour and pricing searches, and in the auction.
    rounds, bids, edges, n_clusters
        Pricing rounds run, auction steps, final graph size, clusters of the index.
    converged
        Pricing ended because nothing was violated or the gap was proven, not on a limit.
    dual_bound
        Upper bound on the optimum, proven by an exhaustive search (``nan`` when approximate).
    bound_estimate, bound_variance
        Approximate searches only (else ``nan``): a sampled estimate of a dual bound and its
        variance, see :func:`_estimate_dual_bound`.
    """

    rows: np.ndarray
    cols: np.ndarray
    search: float = 0.0
    solve: float = 0.0
    rounds: int = 0
    bids: int = 0
    edges: int = 0
    n_clusters: int = 0
    converged: bool = False
    dual_bound: float = np.nan
    bound_estimate: float = np.nan
    bound_variance: float = np.nan


def edge_similarity(
    z1: np.ndarray, z2: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Float64 cosine of each pair ``(z1[rows], z2[cols])``: the one definition of a pair's
    similarity that the cutoff is applied to, whichever method found the pair."""
    out = np.empty(rows.size, np.float64)
    for start in range(0, rows.size, EDGE_CHUNK):
        part = slice(start, start + EDGE_CHUNK)
        a = z1[rows[part]].astype(np.float64)
        out[part] = np.einsum("ij,ij->i", a, z2[cols[part]].astype(np.float64))
    return out


def match_dense(z1: np.ndarray, z2: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact maximum-weight matching on the full cosine matrix; pairs below ``cutoff`` forbidden.

    Forbidden pairs get weight 0, so the optimum never gains from them and they are dropped after
    the assignment. Pairs with non-positive similarity never raise the total and are not made.
    Similarities are float64 (as :func:`edge_similarity`), so a pair at the cutoff is judged the
    same way by every method.
    """
    weights = z1.astype(np.float64) @ z2.astype(np.float64).T
    weights[(weights < cutoff) | (weights <= 0)] = 0.0
    r, c = linear_sum_assignment(weights, maximize=True)
    keep = weights[r, c] > 0
    return r[keep].astype(np.int64), c[keep].astype(np.int64)


@numba.njit(cache=True)
def _forward(i, indptr, cols, w, price, row_col, col_row, aw, eps):
    """One bid of row ``i``; returns the row it outbid (or -1)."""
    best, second, target, weight = 0.0, -np.inf, DUMMY, 0.0  # dummy column: value 0, price 0
    for e in range(indptr[i], indptr[i + 1]):
        value = w[e] - price[cols[e]]
        if value > best:
            second, best, target, weight = best, value, cols[e], w[e]
        elif value > second:
            second = value
    row_col[i] = target
    aw[i] = weight
    if target == DUMMY:
        return -1
    price[target] += best - second + eps
    loser = col_row[target]
    col_row[target] = i
    if loser >= 0:
        row_col[loser] = UNASSIGNED
    return loser


@numba.njit(cache=True)
def _profit(i, price, row_col, aw):
    j = row_col[i]
    return 0.0 if j < 0 else aw[i] - price[j]


@numba.njit(cache=True)
def _reverse(j, cindptr, crows, cw, price, row_col, col_row, aw, eps):
    """One reverse step of unassigned column ``j``; returns the column it freed (or -1)."""
    best, second, target, weight = -np.inf, -np.inf, -1, 0.0
    for e in range(cindptr[j], cindptr[j + 1]):
        i = crows[e]
        value = cw[e] - _profit(i, price, row_col, aw)
        if value > best:
            second, best, target, weight = best, value, i, cw[e]
        elif value > second:
            second = value
    if target < 0 or best < eps:
        price[j] = 0.0
        return -1
    price[j] = max(0.0, second - eps)
    freed = row_col[target]
    row_col[target] = j
    col_row[j] = target
    aw[target] = weight
    if freed >= 0:
        col_row[freed] = UNASSIGNED
        return freed
    return -1


@numba.njit(cache=True)
def auction(indptr, cols, w, cindptr, crows, cw, price, row_col, col_row, eps_schedule):
    """Forward/reverse auction with eps scaling, warm-started from ``price`` / assignments.

    ``row_col[i]`` is the column of row ``i`` (``DUMMY``: unpaired, ``UNASSIGNED``: not yet
    decided), ``col_row[j]`` the row of column ``j`` or -1. All arrays are updated in place.
    Returns the number of bids (forward and reverse steps).
    """
    n, m = row_col.size, col_row.size
    aw = np.zeros(n)
    for i in range(n):
        j = row_col[i]
        if j >= 0:
            for e in range(indptr[i], indptr[i + 1]):
                if cols[e] == j:
                    aw[i] = w[e]
    row_queue = np.empty(n, np.int64)
    col_queue = np.empty(m, np.int64)
    steps = 0
    for eps in eps_schedule:
        # Keep only assignments that are eps-optimal.
        n_rows, n_cols = 0, 0
        for i in range(n):
            best = 0.0
            for e in range(indptr[i], indptr[i + 1]):
                best = max(best, w[e] - price[cols[e]])
            if row_col[i] == UNASSIGNED or _profit(i, price, row_col, aw) < best - eps:
                j = row_col[i]
                if j >= 0:
                    col_row[j] = UNASSIGNED
                row_col[i] = UNASSIGNED
                row_queue[n_rows] = i
                n_rows += 1
        # Unassigned columns with a price (freed above, or priced by a warm start) go to the
        # reverse queue.
        for j in range(m):
            if col_row[j] == UNASSIGNED and price[j] > 0.0:
                col_queue[n_cols] = j
                n_cols += 1
        head = 0  # row_queue is a circular FIFO holding n_rows rows
        while n_rows > 0:
            i = row_queue[head]
            head = (head + 1) % n
            n_rows -= 1
            loser = _forward(i, indptr, cols, w, price, row_col, col_row, aw, eps)
            steps += 1
            if loser >= 0:
                row_queue[(head + n_rows) % n] = loser
                n_rows += 1
        # Reverse steps never unassign a row, so the phase ends when this stack is empty.
        while n_cols > 0:
            n_cols -= 1
            j = col_queue[n_cols]
            if col_row[j] != UNASSIGNED or price[j] <= 0.0:
                continue
            freed = _reverse(j, cindptr, crows, cw, price, row_col, col_row, aw, eps)
            steps += 1
            if freed >= 0 and price[freed] > 0.0:
                col_queue[n_cols] = freed
                n_cols += 1
    return steps


@numba.njit(cache=True)
def row_profits(indptr, cols, w, price):
    """``u_i = max(0, max_j w_ij - p_j)`` over each row's edges: the dual that goes with ``p``."""
    n = indptr.size - 1
    out = np.zeros(n)
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            out[i] = max(out[i], w[e] - price[cols[e]])
    return out


class _Graph:
    """Candidate edges with CSR (by row) and CSC (by column) views for the auction."""

    def __init__(self, n: int, m: int) -> None:
        self.n, self.m = n, m
        self.rows = np.empty(0, np.int64)
        self.cols = np.empty(0, np.int64)
        self.w = np.empty(0, np.float64)

    def add(self, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray) -> int:
        """Add the edges not yet present; returns how many were new."""
        key_old = self.rows * self.m + self.cols
        key, first = np.unique(rows * self.m + cols, return_index=True)
        fresh = first[~np.isin(key, key_old, assume_unique=True)]
        self.rows = np.concatenate([self.rows, rows[fresh]])
        self.cols = np.concatenate([self.cols, cols[fresh]])
        self.w = np.concatenate([self.w, sims[fresh].astype(np.float64)])
        return int(fresh.size)

    def views(self) -> tuple[np.ndarray, ...]:
        """CSR and CSC arrays: ``indptr, cols, w`` by row, then ``cindptr, rows, w`` by column."""
        by_row = sp.csr_matrix((self.w, (self.rows, self.cols)), shape=(self.n, self.m))
        by_col = by_row.tocsc()
        return (
            by_row.indptr, by_row.indices, by_row.data,
            by_col.indptr, by_col.indices, by_col.data,
        )  # fmt: skip


def _estimate_dual_bound(
    index: ClusterIndex,
    price: np.ndarray,
    profit: np.ndarray,
    cutoff: float,
    seed: int,
    n_sample: int,
) -> tuple[float, float]:
    """Unbiased estimate (and its variance) of a dual bound when pricing was approximate.

    With the final prices ``v``, ``u'_i = max(u_i, max_j s_ij - v_j)`` (max over *every*
    column at similarity >= cutoff) makes ``(u', v)`` feasible, so ``sum u' + sum v`` bounds
    the optimum. An exhaustive search of a random sample of rows estimates the part that is
    unknown, ``sum_i (u'_i - u_i)``, by its sample mean (finite-population variance).
    """
    n = profit.size
    size = min(n, n_sample)
    sample = np.zeros(n, bool)
    sample[np.random.default_rng(seed).choice(n, size, replace=False)] = True
    *_, best = index.search(0, 1, cutoff, price, profit, probe=None, active=sample)
    excess = np.maximum(best[sample] - profit[sample], 0.0)
    known = float(profit.sum() + price.sum())
    variance = 0.0
    if size > 1:
        variance = n**2 * excess.var(ddof=1) / size * (1.0 - size / n)
    return known + n * float(excess.mean()), float(variance)


def match_sparse(
    z1: np.ndarray,
    z2: np.ndarray,
    cutoff: float,
    *,
    k: int,
    rounds: int,
    probe: int | None,
    n_clusters: int,
    seed: int,
    add_k: int = 5,
    deadline: float | None = None,
    tolerance: float = 0.0,
    device: torch.device | None = None,
) -> SparseMatch:
    """Matching on a sparse candidate graph grown by dual pricing (column generation).

    1. Graph: each cell's top-``k`` partners (both directions) at similarity >= ``cutoff``
       among the cells of the few nearest clusters.
    2. Solve it with the auction; its prices ``v`` (set 2) and profits ``u`` (set 1) are an
       (eps-)optimal dual of the graph problem.
    3. Pricing: an edge outside the graph can improve the matching only if
       ``s_ij - v_j > u_i`` (a violated dual constraint). Search every cell's best *reduced*
       similarity (both directions), add the ``add_k`` most violated edges per cell, re-solve warm
       from the current prices (cold after a coarse round that grew the graph by more than
       :data:`COLD_SHARE`); repeat at most ``rounds`` times, until nothing is violated or
       the dual bound below proves the matching within a relative ``tolerance`` of the optimum;
       no new round starts after ``deadline`` (a ``time.perf_counter()`` value). With an
       approximate search, rounds solve to eps = :data:`COARSE_EPS`; when one adds nothing, the
       prices are settled down to eps = 1e-7 and a last round checks them.

    With an approximate search (``probe``), a round searching ``a`` cells probes
    ``p0 * (n + m) / a`` cells per cluster, clipped to ``[p0, probe]`` (``p0``: the first graph's
    probe): early rounds re-check nearly every cell and find violated edges close by, later ones
    re-check few and look further.

    After the first round only cells whose profit / price went down (or whose search was cut at
    ``add_k``) are searched again: any other pair was checked before and can't have become
    violated. The last pricing pass gives a dual bound for the *full* problem when the search is
    exhaustive (``probe=None``): ``sum_i max(u_i, best_i) + sum_j max(v_j, best_j)`` (+ tolerance)
    with ``best`` the largest reduced similarity a re-checked cell found.

    ``device``: where the searches run (see :class:`ClusterIndex`; ``None``: the numba kernel).

    Returns
    -------
    SparseMatch
    """
    n, m = z1.shape[0], z2.shape[0]
    search_cutoff = cutoff - SEARCH_SLACK

    def add_edges(rows: np.ndarray, cols: np.ndarray) -> int:
        # Judge each found pair by its float64 similarity (pairs at s <= 0 never help).
        sims = edge_similarity(z1, z2, rows, cols)
        keep = (sims >= cutoff) & (sims > 0)
        return graph.add(rows[keep], cols[keep], sims[keep])

    info = SparseMatch(np.empty(0, np.int64), np.empty(0, np.int64))
    t0 = time.perf_counter()
    with _stages.stage("index"):
        index = ClusterIndex(z1, z2, n_clusters, seed, device)
    index_seconds = time.perf_counter() - t0
    graph = _Graph(n, m)
    # The first graph only seeds the auction (pricing finds what it misses): search nearby cells.
    seed_probe = 4 * max(1, (n + m) // max(1, n_clusters))
    r1, c1, _, _ = index.search(0, k, search_cutoff, probe=seed_probe)
    c2, r2, _, _ = index.search(1, k, search_cutoff, probe=seed_probe)
    add_edges(np.concatenate([r1, r2]), np.concatenate([c1, c2]))
    info.search += time.perf_counter() - t0

    price = np.zeros(m)
    row_col = np.full(n, UNASSIGNED, np.int64)
    col_row = np.full(m, UNASSIGNED, np.int64)
    # An exhaustive search proves the tolerance, which needs finely settled prices all along
    # (coarse rounds left 100k x 100k at a proven 2.6e-4 after 20 rounds, against 1e-5 before).
    fine = probe is None
    eps, warm = (EPS_COLD, EPS_WARM) if fine else (COARSE_COLD, COARSE_WARM)
    active1, active2 = np.ones(n, bool), np.ones(m, bool)
    last_profit, last_price, added = None, None, 0
    for _ in _stages.progress(itertools.count(), "pricing rounds"):
        t0 = time.perf_counter()
        views = graph.views()
        if not fine and last_profit is not None and added > COLD_SHARE * graph.rows.size:
            # Many new edges: a cold solve beats a warm one's price war (see COLD_SHARE).
            price[:], row_col[:], col_row[:] = 0.0, UNASSIGNED, UNASSIGNED
            eps = COARSE_COLD
        info.bids += auction(*views, price, row_col, col_row, eps)
        profit = row_profits(views[0], views[1], views[2], price)
        info.solve += time.perf_counter() - t0
        if last_profit is not None:
            # A pair checked before can only become violated if its row's profit or its
            # column's price went down since: re-check those cells (and truncated searches).
            active1 |= profit < last_profit
            active2 |= price < last_price
        eps, last_profit, last_price = warm, profit, price.copy()

        t0 = time.perf_counter()
        # Prices settled to eps can leave edges violated by up to ~eps: coarse rounds add only
        # edges that beat their row's profit by more than that.
        slack = TOL if fine else COARSE_EPS
        round_probe = probe
        if probe is not None:
            # While most cells still have violated edges, a search near each finds them; the
            # probe widens as fewer cells need re-checking, so rounds cost about the same.
            n_active = max(1, int(active1.sum() + active2.sum()))
            round_probe = min(probe, max(seed_probe, seed_probe * (n + m) // n_active))
        r1, c1, _, best1 = index.search(
            0, add_k, search_cutoff, price, profit + slack, round_probe, active1
        )
        c2, r2, _, best2 = index.search(
            1, add_k, search_cutoff, profit, price + slack, round_probe, active2
        )
        proven = False
        if probe is None:
            bound = np.maximum(profit + slack, best1).sum() + np.maximum(price + slack, best2).sum()
            info.dual_bound = float(bound)
            real = np.flatnonzero(row_col >= 0)
            objective = np.einsum("ij,ij->", z1[real], z2[row_col[real]], dtype=np.float64)
            proven = bound <= (1.0 + tolerance) * objective
        active1 = np.bincount(r1, minlength=n) >= add_k
        active2 = np.bincount(c2, minlength=m) >= add_k
        added = add_edges(np.concatenate([r1, r2]), np.concatenate([c1, c2]))
        info.search += time.perf_counter() - t0
        late = deadline is not None and time.perf_counter() > deadline
        if added == 0 and not (fine or proven or late):
            # Nothing left to add at the coarse eps: settle the prices finely, then price again.
            eps, warm, fine = EPS_WARM, EPS_WARM, True
            continue
        if added == 0 or proven or info.rounds >= rounds or late:
            info.converged = bool(added == 0 or proven)
            break
        info.rounds += 1
    if probe is not None:
        t0 = time.perf_counter()
        info.bound_estimate, info.bound_variance = _estimate_dual_bound(
            index, price, profit, search_cutoff, seed, ESTIMATE_SAMPLE
        )
        info.search += time.perf_counter() - t0
    # Searches and solves alternate over the rounds: their sums, next to the index's stage.
    _stages.add_seconds("search", info.search - index_seconds)
    _stages.add_seconds("solve", info.solve)
    info.edges = int(graph.rows.size)
    info.n_clusters = int(index.centers.shape[0])
    info.rows = np.flatnonzero(row_col >= 0)
    info.cols = row_col[info.rows]
    return info
