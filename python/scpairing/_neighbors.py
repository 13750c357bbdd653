"""Cluster-pruned cross-modal search on unit vectors (never builds the n x m matrix).

Both sets are clustered together (spherical k-means centroids); every cluster keeps, per set, the
angular radius of its members around the centroid. Two cells whose clusters' centroids are more
than ``arccos(cutoff) + r_a + r_b`` apart cannot reach ``cutoff`` (triangle inequality on the
sphere), so the search skips those cluster pairs *exactly*. The search ranks partners by the
*reduced* similarity ``s_ij - offset_j`` (offset = a dual price; 0 for plain nearest neighbours)
and also skips clusters whose bound ``max s - min offset`` cannot beat a query's threshold.
``probe`` caps the base cells searched per query cluster (best bounds first): approximate, for
atlas-size inputs; ``probe=None`` is exhaustive.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans

# Entries of one similarity block; 2**24 float32 = 64 MiB, which bounds the search memory.
BLOCK_ENTRIES = 2**24


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


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
    """

    def __init__(self, z1: np.ndarray, z2: np.ndarray, n_clusters: int, seed: int) -> None:
        self.device = _device()
        both = np.concatenate([z1, z2])
        n_clusters = max(1, min(n_clusters, both.shape[0]))
        rng = np.random.default_rng(seed)
        sample = both[rng.choice(both.shape[0], min(both.shape[0], 64 * n_clusters), replace=False)]
        km = KMeans(n_clusters, n_init=1, max_iter=20, random_state=seed).fit(sample)
        centers = km.cluster_centers_.astype(np.float32)
        centers /= np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
        self.centers = torch.from_numpy(centers).to(self.device)
        self.z = [torch.from_numpy(np.ascontiguousarray(z)).to(self.device) for z in (z1, z2)]
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
        query, base = self.z[side], self.z[1 - side]
        (q_order, q_ptr), (b_order, b_ptr) = self.members[side], self.members[1 - side]
        nq, nb = query.shape[0], base.shape[0]
        offsets = np.zeros(nb) if offsets is None else offsets
        thresholds = np.full(nq, -np.inf) if thresholds is None else thresholds
        # s - offset in one product: [q, 1] . [b, -offset]; s >= cutoff <=> that >= cutoff - offset.
        base_aug = torch.cat(
            [base, -torch.from_numpy(offsets.astype(np.float32)).to(self.device)[:, None]], 1
        )
        query_aug = torch.cat([query, torch.ones(nq, 1, device=self.device)], 1)
        floor = torch.from_numpy((cutoff - offsets).astype(np.float32)).to(self.device)
        # Per base cluster: the smallest offset of a member (for the bound).
        n_clusters = b_ptr.size - 1
        min_off = np.full(n_clusters, np.inf)
        nonempty = np.diff(b_ptr) > 0
        min_off[nonempty] = np.minimum.reduceat(offsets[b_order], b_ptr[:-1][nonempty])
        max_gap = np.arccos(np.clip(cutoff, -1, 1))
        r_q, r_b = self.radius[side], self.radius[1 - side]
        out_r, out_c, out_s = [], [], []
        best_all = np.full(nq, -np.inf)
        for a in range(n_clusters):
            queries = q_order[q_ptr[a] : q_ptr[a + 1]]
            if active is not None:
                queries = queries[active[queries]]
            if queries.size == 0:
                continue
            gap = np.maximum(self.center_angle[a] - r_q[a] - r_b, 0.0)
            bound = np.cos(gap) - min_off
            ok = nonempty & (gap <= max_gap) & (bound > thresholds[queries].min())
            cand = np.flatnonzero(ok)
            cand = cand[np.argsort(-bound[cand], kind="stable")]
            sizes = b_ptr[cand + 1] - b_ptr[cand]
            if probe is not None:
                cand = cand[: max(1, int(np.searchsorted(np.cumsum(sizes), probe)) + 1)]
            if cand.size == 0:
                continue
            bases = np.concatenate([b_order[b_ptr[c] : b_ptr[c + 1]] for c in cand])
            bases_t = torch.from_numpy(bases).to(self.device)
            base_z, base_floor = base_aug[bases_t], floor[bases_t]
            kk = min(k, bases.size)
            step = max(1, BLOCK_ENTRIES // bases.size)
            for start in range(0, queries.size, step):
                qi = queries[start : start + step]
                reduced = query_aug[torch.from_numpy(qi).to(self.device)] @ base_z.T
                reduced.masked_fill_(reduced < base_floor, -torch.inf)
                vals, idx = torch.topk(reduced, kk, dim=1)
                best_all[qi] = vals[:, 0].cpu().numpy()
                thr = torch.from_numpy(thresholds[qi].astype(np.float32)).to(self.device)
                r, c = (vals > thr[:, None]).nonzero(as_tuple=True)
                rows = torch.from_numpy(qi).to(self.device)[r]
                cols = bases_t[idx[r, c]]
                sims = (query[rows] * base[cols]).sum(1)
                keep = sims >= cutoff  # float32 rounding of the shifted test
                out_r.append(rows[keep].cpu().numpy())
                out_c.append(cols[keep].cpu().numpy())
                out_s.append(sims[keep].cpu().numpy())
        if not out_r:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy(), np.empty(0, np.float32), best_all
        return (
            np.concatenate(out_r).astype(np.int64),
            np.concatenate(out_c).astype(np.int64),
            np.concatenate(out_s).astype(np.float32),
            best_all,
        )
