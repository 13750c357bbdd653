"""Cluster-pruned cross-modal search on unit vectors (never builds the n x m matrix).

Both sets are clustered together (spherical k-means centroids); every cluster keeps, per set, the
angular radius of its members around the centroid. Two cells whose clusters' centroids are more
than ``arccos(cutoff) + r_a + r_b`` apart cannot reach ``cutoff`` (triangle inequality on the
sphere), so the search skips those cluster pairs *exactly*. The search ranks partners by the
*reduced* similarity ``s_ij - offset_j`` (offset = a dual price; 0 for plain nearest neighbours).
Members of a cluster are kept sorted by offset, so a query's scan of a cluster stops at the first
cell whose ``max s - offset`` cannot beat its threshold (a whole cluster is skipped when even its
lowest offset cannot).
``probe`` caps the base cells searched per query cluster (nearest centres and cheapest cells
first): approximate, for atlas-size inputs; ``probe=None`` is exhaustive.

Two scans give the same result: the default, a numba kernel on the CPU that walks each
candidate cluster cell by cell (early stops on the offsets), and, when a torch ``device`` is
given, blocked matrix products of each query cluster against all its candidate clusters' cells
on that device (:func:`_scan_torch`; the shape of work a GPU is fast at).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
import torch
from sklearn.cluster import KMeans

# Entries of one similarity block; 2**24 float32 = 64 MiB, which bounds the search memory.
BLOCK_ENTRIES = 2**24


class ClusterIndex:
    """Joint clustering of ``z1`` and ``z2`` for pruned cross-set searches.

    Parameters
    ----------
    z1, z2
        Float32 unit rows, shapes ``(n, d)`` and ``(m, d)``.
    n_clusters
        Number of k-means clusters (fit on a subsample of both sets together).
    seed
        k-means seed.
    device
        ``None``: the CPU, searched by the numba kernel; a ``torch.device``: the index lives
        there and is searched by blocked matrix products (:func:`_scan_torch`).
    """

    def __init__(
        self,
        z1: np.ndarray,
        z2: np.ndarray,
        n_clusters: int,
        seed: int,
        device: torch.device | None = None,
    ) -> None:
        self.scan = _scan if device is None else functools.partial(_scan_torch, device=device)
        self.device = torch.device("cpu") if device is None else device
        both = np.concatenate([z1, z2])
        n_clusters = max(1, min(n_clusters, both.shape[0]))
        rng = np.random.default_rng(seed)
        sample = both[rng.choice(both.shape[0], min(both.shape[0], 32 * n_clusters), replace=False)]
        # Duplicated cells (empty cells embed to one point) can leave fewer distinct points than
        # clusters; k-means would then make empty clusters.
        n_clusters = min(n_clusters, np.unique(sample, axis=0).shape[0])
        # Random init: k-means++ costs minutes at atlas scale; cluster quality only affects speed.
        km = KMeans(n_clusters, init="random", n_init=1, max_iter=20, random_state=seed).fit(sample)
        centers = km.cluster_centers_.astype(np.float32)
        centers /= np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
        self.centers = torch.from_numpy(centers).to(self.device)
        self.z_np = [np.ascontiguousarray(z, dtype=np.float32) for z in (z1, z2)]
        self.z = [torch.from_numpy(z).to(self.device) for z in self.z_np]
        self.members, self.radius = [], []
        for z in self.z:
            label, cos = self._assign(z)
            order = torch.argsort(label, stable=True)
            counts = torch.bincount(label, minlength=n_clusters)
            ptr = np.concatenate([[0], torch.cumsum(counts, 0).cpu().numpy()])
            # Radius per cluster: largest angle of a member to its centroid (0 when empty).
            worst = torch.ones(n_clusters, device=self.device).scatter_reduce(
                0, label, cos, reduce="amin"
            )
            self.members.append((order.cpu().numpy(), ptr))
            self.radius.append(torch.arccos(worst.clamp(-1, 1)).cpu().numpy() + 1e-4)
        self.center_angle = torch.arccos((self.centers @ self.centers.T).clamp(-1, 1)).cpu().numpy()

    def _assign(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        labels, cosines = [], []
        step = max(1, BLOCK_ENTRIES // self.centers.shape[0])
        for start in range(0, z.shape[0], step):
            best = torch.max(z[start : start + step] @ self.centers.T, dim=1)
            cosines.append(best.values)
            labels.append(best.indices)
        return torch.cat(labels), torch.cat(cosines)

    def search(
        self,
        side: int,
        k: int,
        cutoff: float,
        offsets: np.ndarray | None = None,
        thresholds: np.ndarray | None = None,
        probe: int | None = None,
        active: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each query's ``k`` base cells of highest ``s - offset`` among those with ``s >= cutoff``.

        Parameters
        ----------
        side
            0: queries are ``z1``, base is ``z2``; 1: the reverse.
        k
            Partners kept per query.
        cutoff
            Pairs with smaller similarity are never returned.
        offsets
            Per base cell, subtracted from the similarity (default 0).
        thresholds
            Per query; only partners with ``s - offset > threshold`` are returned (default: all).
        probe
            Most base cells searched per query cluster; ``None`` searches every cluster that can
            hold a partner above the threshold (exhaustive).
        active
            Boolean mask of the queries to search (default: all).

        Returns
        -------
        rows, cols, sims, best
            Edges (query index, base index, cosine; int64, int64, float32) and, per query, the
            largest ``s - offset`` seen (``-inf`` if none): with ``probe=None`` the true maximum
            wherever it exceeds the threshold.
        """
        (q_order, q_ptr), (b_order, b_ptr) = self.members[side], self.members[1 - side]
        nq, nb = self.z_np[side].shape[0], self.z_np[1 - side].shape[0]
        offsets = np.zeros(nb) if offsets is None else offsets
        thresholds = np.full(nq, -np.inf) if thresholds is None else thresholds
        n_clusters = b_ptr.size - 1
        sizes = np.diff(b_ptr)
        nonempty = sizes > 0
        max_gap = np.arccos(np.clip(cutoff, -1, 1))
        r_q, r_b = self.radius[side], self.radius[1 - side]
        query_np, base_np = self.z_np[side], self.z_np[1 - side]
        centers = self.centers.cpu().numpy()
        # Within each cluster, base cells go by increasing offset: a scan can stop at the first
        # cell whose offset rules it out, since every later cell of that cluster is worse.
        cluster_of = np.repeat(np.arange(n_clusters), sizes)
        b_order = b_order[np.lexsort((offsets[b_order], cluster_of))]
        base_t = np.ascontiguousarray(base_np[b_order].T)
        off_sorted = offsets[b_order].astype(np.float64)
        # Per cluster: the lowest offset (exact pruning) and the k-th lowest. A probe visits
        # clusters by centre similarity minus the k-th lowest offset: the radius-widened bound
        # would favour loose clusters over near ones, and the lowest offset would let a few
        # unpriced cells make a cluster of expensive ones look promising.
        min_off = np.full(n_clusters, np.inf)
        kth_off = np.full(n_clusters, np.inf)
        first = b_ptr[:-1][nonempty]
        min_off[nonempty] = off_sorted[first]
        kth_off[nonempty] = off_sorted[first + np.minimum(k, sizes[nonempty]) - 1]
        best_all = np.full(nq, -np.inf)
        queries, query_cluster, cand_lists = [], [], []
        for a in range(n_clusters):
            members = q_order[q_ptr[a] : q_ptr[a + 1]]
            if active is not None:
                members = members[active[members]]
            if members.size == 0:
                continue
            gap = np.maximum(self.center_angle[a] - r_q[a] - r_b, 0.0)
            bound = np.cos(gap) - min_off
            cand = np.flatnonzero(nonempty & (gap <= max_gap) & (bound > thresholds[members].min()))
            key = np.cos(self.center_angle[a]) - kth_off
            cand = cand[np.argsort(-key[cand], kind="stable")]
            if probe is not None:
                cand = cand[: max(1, int(np.searchsorted(np.cumsum(sizes[cand]), probe)) + 1)]
            queries.append(members)
            query_cluster.append(np.full(members.size, len(cand_lists)))
            cand_lists.append(cand)
        if not queries:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy(), np.empty(0, np.float32), best_all
        queries = np.concatenate(queries)
        cand_ptr = np.concatenate([[0], np.cumsum([c.size for c in cand_lists])])
        cols, vals, sims = self.scan(
            query_np, queries, np.concatenate(query_cluster), cand_ptr,
            np.concatenate(cand_lists).astype(np.int64), centers, b_ptr, np.cos(r_b),
            np.sin(r_b), base_t, off_sorted, b_order.astype(np.int64), float(cutoff),
            thresholds, k,
        )  # fmt: skip
        best_all[queries] = vals[:, 0]
        r, c = np.nonzero(vals > thresholds[queries][:, None])
        return (
            queries[r].astype(np.int64),
            b_order[cols[r, c]].astype(np.int64),
            sims[r, c],
            best_all,
        )


@numba.njit(cache=True)
def _tie_key(a, b):
    """Pseudo-random 64-bit key of the pair ``(a, b)`` (splitmix64 of a combined id).

    Ranks partners of *equal* reduced similarity. A fixed order (say by index) would give every
    query the same few partners among identical cells, and a graph in which thousands of cells
    compete for ten columns; a key that depends on both ends spreads them like a random graph.
    """
    x = np.uint64(a) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(b)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(parallel=True, cache=True, fastmath=True)
def _scan(
    query, queries, query_cluster, cand_ptr, cand_all, centers, b_ptr, cos_r, sin_r, base_t,
    off, base_id, cutoff, thr, k,
):  # fmt: skip
    """Exact top-``k`` of ``s - off`` (``s >= cutoff``) over the candidate clusters of a query.

    Equal values are ranked by :func:`_tie_key` of the query's and the base cell's ids
    (``base_id``: original index of each base column), so the result never depends on the
    order of the cells.

    Query ``t`` scans the clusters ``cand_all[cand_ptr[g]:cand_ptr[g + 1]]``, ``g =
    query_cluster[t]``.
    Per query, a cluster is skipped when the angle from the query to its centre minus its radius
    (``cos_r`` / ``sin_r``: cosine and sine of the radii) rules out ``cutoff``; its cells (sorted
    by ``off``) are scanned until ``max s - off`` can't beat the query's threshold. ``base_t``
    holds the base cells as columns, sorted by cluster.
    Returns positions in that order, reduced values and similarities.
    """
    nq, d = queries.size, query.shape[1]
    cols = np.full((nq, k), -1, np.int64)
    vals = np.full((nq, k), -np.inf)
    sims = np.zeros((nq, k), np.float32)
    keys = np.zeros((nq, k), np.uint64)
    width = 0
    for c in range(b_ptr.size - 1):
        width = max(width, b_ptr[c + 1] - b_ptr[c])
    for t in numba.prange(nq):
        buf = np.empty(width, np.float32)
        q = query[queries[t]]
        limit = thr[queries[t]]
        g = query_cluster[t]
        for c in cand_all[cand_ptr[g] : cand_ptr[g + 1]]:
            cos_c = 0.0
            for x in range(d):
                cos_c += q[x] * centers[c, x]
            # Largest similarity in the cluster: cos(angle to centre - radius), no trigonometry.
            bound = 1.0
            if cos_c < cos_r[c]:
                sin_c = np.sqrt(max(0.0, 1.0 - cos_c * cos_c))
                bound = cos_c * cos_r[c] + sin_c * sin_r[c]
                if bound < cutoff:
                    continue
            # Offsets increase within a cluster: cells after ``stop`` can't beat the limit
            # (those *at* it can still win a tie).
            start = b_ptr[c]
            floor = max(limit, vals[t, k - 1])
            stop = start + np.searchsorted(off[start : b_ptr[c + 1]], bound - floor, "right")
            # Similarities of the whole run first: base_t is (d, nb), so this loop vectorises.
            buf[: stop - start] = 0.0
            for x in range(d):
                qx = q[x]
                for j in range(start, stop):
                    buf[j - start] += qx * base_t[x, j]
            for j in range(start, stop):
                s = buf[j - start]
                if s < cutoff:
                    continue
                value = s - off[j]
                if value < vals[t, k - 1]:
                    continue
                key = _tie_key(queries[t], base_id[j])
                if value == vals[t, k - 1] and key <= keys[t, k - 1]:
                    continue
                pos = k - 1  # insertion into the sorted top-k row
                while pos > 0 and (
                    vals[t, pos - 1] < value
                    or (vals[t, pos - 1] == value and keys[t, pos - 1] < key)
                ):
                    vals[t, pos] = vals[t, pos - 1]
                    cols[t, pos] = cols[t, pos - 1]
                    sims[t, pos] = sims[t, pos - 1]
                    keys[t, pos] = keys[t, pos - 1]
                    pos -= 1
                vals[t, pos] = value
                cols[t, pos] = j
                sims[t, pos] = s
                keys[t, pos] = key
    return cols, vals, sims


# splitmix64 constants of :func:`_tie_key` as the int64 values of the same bits.
_GOLDEN, _MIX1, _MIX2 = (
    c - (1 << 64) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
)
_SIGN = -(1 << 63)


def _tie_key_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`_tie_key` on int64 tensors (broadcast), its top bit flipped so that signed order
    is the unsigned order of the numba key (int64 products wrap as uint64 ones do)."""

    def shift(x: torch.Tensor, bits: int) -> torch.Tensor:  # logical right shift
        return (x >> bits) & ((1 << (64 - bits)) - 1)

    x = a * _GOLDEN + b
    x = (x ^ shift(x, 30)) * _MIX1
    x = (x ^ shift(x, 27)) * _MIX2
    return (x ^ shift(x, 31)) ^ _SIGN


def _cluster_positions(clusters: np.ndarray, b_ptr: np.ndarray) -> np.ndarray:
    """Positions (in the base's cluster-sorted order) of every cell of ``clusters``."""
    lengths = b_ptr[clusters + 1] - b_ptr[clusters]
    starts = np.repeat(b_ptr[clusters] - np.cumsum(lengths) + lengths, lengths)
    return (starts + np.arange(lengths.sum())).astype(np.int64)


def _top_k(values: torch.Tensor, keys: Callable[[torch.Tensor], torch.Tensor], k: int):
    """Per row, the ``k`` largest ``values`` (columns, values), equal values ranked by the
    larger key (``keys(rows)``: the key matrix of those rows), as :func:`_scan` ranks them."""
    top_values, top_cols = torch.topk(values, k, dim=1)
    kth = top_values[:, -1:]
    tied = torch.nonzero(((values >= kth).sum(dim=1) > k) & (kth[:, 0] > -np.inf))[:, 0]
    if tied.numel():
        # Lexicographic (value, key), both descending: sort by key, then stably by value.
        by_key = torch.argsort(keys(tied), dim=1, descending=True, stable=True)
        ranked = torch.gather(values[tied], 1, by_key)
        order = torch.gather(by_key, 1, torch.argsort(ranked, dim=1, descending=True, stable=True))
        top_cols[tied] = order[:, :k]
        top_values[tied] = torch.gather(values[tied], 1, order[:, :k])
    return top_cols, top_values


def _scan_torch(
    query, queries, query_cluster, cand_ptr, cand_all, centers, b_ptr, cos_r, sin_r, base_t,
    off, base_id, cutoff, thr, k, *, device,
):  # fmt: skip
    """:func:`_scan` by blocked matrix products on a torch ``device``: same arguments, result.

    The queries of each query cluster (consecutive in ``queries``) are multiplied with every
    cell of their candidate clusters, at most :data:`BLOCK_ENTRIES` products at a time; pairs
    below ``cutoff`` are dropped and the top ``k`` of ``s - off`` kept, ties ranked by the key of
    :func:`_tie_key`. Per query it may see more cells than :func:`_scan`, whose cluster bounds
    and early stops (``centers``, ``cos_r``, ``sin_r``, ``thr``; unused here) skip only cells
    that cannot enter the top ``k`` above the threshold, so the edges above ``thr`` agree.
    """
    nq = queries.size
    cols = np.full((nq, k), -1, np.int64)
    vals = np.full((nq, k), -np.inf)
    sims = np.zeros((nq, k), np.float32)
    base = torch.from_numpy(np.ascontiguousarray(base_t.T)).to(device)
    offsets = torch.from_numpy(np.ascontiguousarray(off, dtype=np.float64)).to(device)
    base_ids = torch.from_numpy(base_id).to(device)
    query_ids = torch.from_numpy(queries.astype(np.int64)).to(device)
    q_all = torch.from_numpy(np.ascontiguousarray(query[queries])).to(device)
    starts = np.flatnonzero(np.diff(query_cluster, prepend=-1))
    for a, b in zip(starts, np.append(starts[1:], nq), strict=True):
        g = query_cluster[a]
        positions = _cluster_positions(cand_all[cand_ptr[g] : cand_ptr[g + 1]], b_ptr)
        width = min(k, positions.size)
        if width == 0:
            continue
        where = torch.from_numpy(positions).to(device)
        cand, cand_off, cand_ids = base[where], offsets[where], base_ids[where]
        step = max(1, BLOCK_ENTRIES // positions.size)
        for r0 in range(a, b, step):
            r1 = min(r0 + step, b)
            s = q_all[r0:r1] @ cand.T
            value = (s.double() - cand_off).masked_fill(s < cutoff, -np.inf)
            ids = query_ids[r0:r1]

            def keys(rows, ids=ids, cand_ids=cand_ids):
                return _tie_key_torch(ids[rows, None], cand_ids[None, :])

            top, top_value = _top_k(value, keys, width)
            found = (top_value > -np.inf).cpu().numpy()
            top_np = top.cpu().numpy()
            vals[r0:r1, :width] = top_value.cpu().numpy()
            cols[r0:r1, :width] = np.where(found, positions[top_np], -1)
            sims[r0:r1, :width] = np.where(found, torch.gather(s, 1, top).cpu().numpy(), 0.0)
    return cols, vals, sims
