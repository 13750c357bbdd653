"""Benchmark of scpairing.pp: memory/time of fitting on big sparse data, and why queries must be
transformed with the bridge's reductions.

1. Peak memory (tracemalloc peak of Python/numpy allocations and RSS growth sampled every 20 ms)
   and time of ``ATACReduction.fit`` on a synthetic 100k-cell x 200k-peak CSR count matrix of
   1% density, and of ``RNAReduction.fit`` on a 100k-cell x 20k-gene matrix of 5% density.
   Baselines in the same run: the size of the input CSR matrix, the size the matrix would have
   dense (float32), and the time of one sparse pass ``X @ (n_features x 51)``.
2. On the bundled SNARE-seq2 data, bridge = 30% of the cells, query = the rest: FOSCTTM of query
   RNA vs query ATAC embedded by a model trained on the bridge, when (a) the query is transformed
   by the reductions fitted on the bridge (``reductions=None``) and (b) the naive way, the query's
   PCA/LSI fitted on the query itself and handed over as obsm keys.

Usage::

    .venv/bin/python benchmarks/bench_pp.py                 # both parts, full size
    .venv/bin/python benchmarks/bench_pp.py --part memory --scale 0.1
    .venv/bin/python benchmarks/bench_pp.py --part quality --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import tracemalloc
from collections.abc import Callable

import anndata as ad
import numpy as np
import scipy.sparse as sp

import scpairing
from scpairing import pp

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def measure(fn: Callable[[], object]) -> tuple[float, float, int, int]:
    """Run ``fn``; return (wall s, CPU s, tracemalloc peak bytes, peak RSS growth bytes).

    CPU seconds are reported too because the benchmark machine is shared: wall time inflates
    under contention, CPU time much less.
    """
    start_rss = _rss()
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        fn()
    finally:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        done.set()
        sampler.join()
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return seconds, cpu, traced, max(peak[0], _rss()) - start_rss


def synthetic_counts(
    n_cells: int, n_features: int, density: float, *, n_groups: int = 10, seed: int = 0
) -> sp.csr_matrix:
    """int32 CSR counts with group structure, built row block by row block.

    Each cell gets a uniform background of detected features (70% of ``density``) plus features
    from its group's own block of ``n_features / n_groups`` features (the other 30%), so the
    matrix has a few dominant directions like real data rather than a flat spectrum.
    """
    rng = np.random.default_rng(seed)
    block = n_features // n_groups
    p_background = 0.7 * density
    p_group = min(0.3 * density * n_features / block, 0.9)
    n_bg = int(n_features * p_background * 1.3) + 64
    n_gr = int(block * p_group * 1.3) + 64
    indptr = [np.zeros(1, dtype=np.int64)]
    indices = []
    for r0 in range(0, n_cells, 4096):
        rows = min(4096, n_cells - r0)
        groups = rng.integers(0, n_groups, rows)
        background = np.cumsum(rng.geometric(p_background, (rows, n_bg)), axis=1) - 1
        own = np.cumsum(rng.geometric(p_group, (rows, n_gr)), axis=1) - 1
        own = np.where(own < block, own + (groups * block)[:, None], n_features)
        cols = np.sort(np.concatenate([background, own], axis=1), axis=1)
        keep = cols < n_features
        keep[:, 1:] &= cols[:, 1:] != cols[:, :-1]  # unique within a row
        indices.append(cols[keep].astype(np.int32))
        indptr.append(indptr[-1][-1] + np.cumsum(keep.sum(axis=1)))
        del background, own, cols, keep
    indices = np.concatenate(indices)
    data = rng.geometric(0.6, indices.size).astype(np.int32)
    return sp.csr_matrix(
        (data, indices, np.concatenate(indptr)), shape=(n_cells, n_features), copy=False
    )


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f}"


# name: (label, cells, features, density, reduction factory, feature-name pattern)
MEMORY_CASES = {
    "atac": (
        "ATACReduction.fit",
        100_000,
        200_000,
        0.01,
        lambda: pp.ATACReduction(50),
        "chr1:{}-{}",
    ),
    "rna_hvg": (
        "RNAReduction.fit (2000 HVG)",
        100_000,
        20_000,
        0.05,
        lambda: pp.RNAReduction(50, n_top_genes=2000),
        "g{}",
    ),
    "rna_all": ("RNAReduction.fit (all genes)", 100_000, 20_000, 0.05, pp.RNAReduction, "g{}"),
}


def bench_memory(scale: float, case_names: list[str]) -> None:
    header = (
        f"{'case':30s} {'cells x features':>18s} {'nnz':>11s} {'input GB':>9s} {'dense GB':>9s} "
        f"{'traced GB':>9s} {'RSS+ GB':>8s} {'peak/input':>10s} {'fit s':>7s} {'fit CPU s':>9s} "
        f"{'1 pass s':>8s} "
        f"{'fit/pass':>8s}"
    )
    print("\n## Memory and time of fit on synthetic sparse counts\n")
    print(header)
    print("-" * len(header))
    for name, n_cells, n_features, density, make, pattern in map(MEMORY_CASES.get, case_names):
        n_cells = max(int(n_cells * scale), 200)
        n_features = max(int(n_features * scale), 200)
        x = synthetic_counts(n_cells, n_features, density)
        names = [pattern.format(100 * i, 100 * i + 50) for i in range(n_features)]
        adata = ad.AnnData(x, var={"i": np.arange(n_features)})
        adata.var_names = names
        input_bytes = x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
        probe = np.random.default_rng(0).standard_normal((n_features, 51)).astype(np.float32)
        xf = sp.csr_matrix((x.data.astype(np.float32), x.indices, x.indptr), shape=x.shape)
        t0 = time.perf_counter()
        _ = xf @ probe
        one_pass = time.perf_counter() - t0
        del xf, probe
        reduction = make()
        seconds, cpu, traced, rss = measure(lambda r=reduction, a=adata: r.fit(a))
        peak = max(traced, rss)
        print(
            f"{name:30s} {f'{n_cells} x {n_features}':>18s} {x.nnz:>11,d} {_gb(input_bytes):>9s} "
            f"{_gb(4 * n_cells * n_features):>9s} {_gb(traced):>9s} {_gb(rss):>8s} "
            f"{peak / input_bytes:>10.2f} {seconds:>7.1f} {cpu:>9.1f} {one_pass:>8.2f} "
            f"{seconds / one_pass:>8.1f}",
            flush=True,
        )
        del x, adata, reduction


def _query_foscttm(model, q_rna: ad.AnnData, q_atac: ad.AnnData, pca, lsi) -> float:
    """FOSCTTM of the query embedded by an obsm-key model from the given representations."""
    from scpairing.metrics import foscttm

    q_rna.obsm["X_pca"], q_atac.obsm["X_lsi"] = pca, lsi
    return foscttm(model.embed(q_rna, modality="rna"), model.embed(q_atac, modality="atac"))


def bench_quality(seeds: list[int], max_epochs: int | None) -> None:
    from scpairing.metrics import foscttm
    from scpairing.model import ScPairing

    rna, atac = scpairing.datasets.snareseq2_mop()
    print("\n## Query FOSCTTM on SNARE-seq2 (bridge 30%, query 70%; lower is better)\n")
    print("(a)  model with reductions=None: fits pp on the bridge, transforms the query counts")
    print("(a') model trained on obsm keys (bridge pp); query obsm = bridge-fitted pp transform")
    print("(b)  same model as (a'); query obsm = PCA/LSI fitted on the query itself (naive)\n")
    header = (
        f"{'seed':>4s} {'bridge':>6s} {'query':>6s} {'(a)':>7s} {'(a´)':>7s} {'(b)':>7s} "
        f"{'(b)/(a)':>8s} {'train s (a)':>11s} {'train s (a´,b)':>14s}"
    )
    print(header)
    print("-" * len(header))
    train = {"progress": False}
    if max_epochs is not None:
        train["max_epochs"] = max_epochs
    results = []
    for seed in seeds:
        bridge_idx, query_idx = scpairing.evaluation.bridge_query_split(
            rna.n_obs, rna.obs["cell_type"], bridge_fraction=0.3, seed=seed
        )
        b_rna, b_atac = rna[bridge_idx].copy(), atac[bridge_idx].copy()
        q_rna, q_atac = rna[query_idx].copy(), atac[query_idx].copy()

        model = ScPairing({"rna": b_rna, "atac": b_atac}, reductions=None, latent_dim=10, seed=seed)
        t0 = time.perf_counter()
        model.train(**train)
        train_a = time.perf_counter() - t0
        fos_a = foscttm(model.embed(q_rna, modality="rna"), model.embed(q_atac, modality="atac"))

        rna_pp, atac_pp = pp.RNAReduction().fit(b_rna), pp.ATACReduction().fit(b_atac)
        b_rna.obsm["X_pca"], b_atac.obsm["X_lsi"] = (
            rna_pp.transform(b_rna),
            atac_pp.transform(b_atac),
        )
        on_obsm = ScPairing(
            {"rna": b_rna, "atac": b_atac},
            reductions={"rna": "X_pca", "atac": "X_lsi"},
            latent_dim=10,
            seed=seed,
        )
        t0 = time.perf_counter()
        on_obsm.train(**train)
        train_b = time.perf_counter() - t0

        fos_a2 = _query_foscttm(
            on_obsm, q_rna, q_atac, rna_pp.transform(q_rna), atac_pp.transform(q_atac)
        )
        fos_b = _query_foscttm(
            on_obsm,
            q_rna,
            q_atac,
            pp.RNAReduction().fit_transform(q_rna),
            pp.ATACReduction().fit_transform(q_atac),
        )
        results.append((fos_a, fos_a2, fos_b))
        print(
            f"{seed:>4d} {len(bridge_idx):>6d} {len(query_idx):>6d} {fos_a:>7.4f} {fos_a2:>7.4f} "
            f"{fos_b:>7.4f} {fos_b / fos_a:>8.2f} {train_a:>11.1f} {train_b:>14.1f}",
            flush=True,
        )
    mean_a, mean_a2, mean_b = np.mean(results, axis=0)
    print(
        f"{'mean':>4s} {'':>6s} {'':>6s} {mean_a:>7.4f} {mean_a2:>7.4f} {mean_b:>7.4f} "
        f"{mean_b / mean_a:>8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["memory", "quality", "all"], default="all")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor of part 1")
    parser.add_argument(
        "--cases", nargs="+", choices=list(MEMORY_CASES), default=list(MEMORY_CASES)
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args()
    if args.part in ("memory", "all"):
        bench_memory(args.scale, args.cases)
    if args.part in ("quality", "all"):
        bench_quality(args.seeds, args.max_epochs)


if __name__ == "__main__":
    main()
