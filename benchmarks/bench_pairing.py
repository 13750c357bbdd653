"""Pairing benchmark: sparse pairing vs the dense reference, and scale runs.

Reference: dense cosine matrix + cutoff + ``scipy.optimize.linear_sum_assignment`` (what
``pair(method="exact")`` does). Data: clustered unit vectors (d=10, 30 types in 10 lineages of 3
related types) with *different* type mixes in the two sets and two private types on each side.
Each run is a fresh subprocess so its peak RSS (VmHWM) is its own.

    python benchmarks/bench_pairing.py                      # 5k and 10k vs dense
    python benchmarks/bench_pairing.py --compare 20000      # 20k vs dense (~3 min, ~8 GB)
    python benchmarks/bench_pairing.py --compare --scale 100000 300000
    python benchmarks/bench_pairing.py --compare --scale 1000000 --time-budget 480  # ~9 min
    python benchmarks/bench_pairing.py --compare --scale 100000 --duplicates 0.2  # ties

``--duplicates F`` also runs every sparse case with a fraction ``F`` of each set's cells replaced
by exact copies of other cells of that set (ties: duplicated or empty cells), labelled ``+dup``.

Columns: wall time and its search (clustering + neighbour/pricing searches) / solve (matching)
split, ``load``: the one-off cost of the process's first call (numba loading its cached kernels,
~0.5 s; paid once per process, shown apart and not in the wall time), peak RSS, pairs, objective;
against dense: speedup, objective ratio, pair-count difference;
``gap``: proven relative gap (dual bound / objective - 1) of the sparse run, ``nan`` when its
search was approximate (``probe``); then ``est gap``: the gap to a dual bound estimated from an
exhaustive search of 10,000 random cells, with its standard error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def clustered(n: int, m: int, *, d: int = 10, n_types: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    lineages = np.repeat(unit(rng.normal(size=(n_types // 3, d))), 3, axis=0)
    centers = unit(lineages + 0.25 * rng.normal(size=lineages.shape))
    w1, w2 = rng.dirichlet(np.ones(n_types)), rng.dirichlet(np.ones(n_types))
    w1[:2], w2[2:4] = 0, 0
    l1 = rng.choice(n_types, n, p=w1 / w1.sum())
    l2 = rng.choice(n_types, m, p=w2 / w2.sum())
    z1 = unit(centers[l1] + 0.1 * rng.normal(size=(n, d)))
    z2 = unit(centers[l2] + 0.1 * rng.normal(size=(m, d)))
    return z1, z2


def _peak_rss_gb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _child(args: argparse.Namespace) -> None:
    from scpairing.pairing import pair

    z1, z2 = clustered(args.n, args.n, seed=args.seed)
    if args.dup > 0:
        rng = np.random.default_rng(args.seed + 1)
        for z in (z1, z2):
            copies = rng.choice(args.n, int(args.dup * args.n), replace=False)
            z[copies] = z[rng.choice(args.n, copies.size)]
    # One-off per process: numba loads its compiled kernels, torch / sklearn warm up.
    start = time.perf_counter()
    pair(z1[:500], z2[:500], args.cutoff, method=args.method)
    load = time.perf_counter() - start
    start = time.perf_counter()
    probe = (
        None if args.probe == "none" else args.probe if args.probe == "auto" else int(args.probe)
    )
    result = pair(
        z1, z2, args.cutoff, method=args.method, k=args.k, block_size=args.block_size,
        probe=probe, time_budget=args.time_budget,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    diag = result.diagnostics
    print(
        json.dumps(
            {
                "seconds": seconds,
                "load": load,
                "peak_gb": _peak_rss_gb(),
                "objective": result.objective,
                "pairs": result.n_pairs,
                "search": result.timings["search"],
                "solve": result.timings["solve"],
                "gap": diag.get("gap", float("nan")),
                "gap_estimate": diag.get("gap_estimate", float("nan")),
                "gap_stderr": diag.get("gap_stderr", float("nan")),
                "converged": bool(diag.get("converged", True)),
                "rounds": diag.get("rounds", 0),
            }
        )
    )


def _run(method: str, n: int, args: argparse.Namespace, dup: float = 0.0) -> dict:
    cmd = [sys.executable, __file__, "--child", "--method", method, "--n", str(n)]
    cmd += ["--dup", str(dup)]
    cmd += ["--k", str(args.k), "--block-size", str(args.block_size), "--cutoff", str(args.cutoff)]
    cmd += ["--probe", args.probe]
    if args.time_budget is not None:
        cmd += ["--time-budget", str(args.time_budget)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def real_data(seed: int, cutoff: float) -> None:
    """Exact vs sparse on the bundled SNARE-seq2 held-out query (RNA and ATAC of the same cells)."""
    import time

    import scpairing as scp

    rna, atac = scp.datasets.snareseq2_mop()
    labels = rna.obs["cell_type"].to_numpy()
    bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, seed=seed)
    model = scp.ScPairing({"rna": rna[bridge], "atac": atac[bridge]}, seed=seed)
    model.train(progress=False)
    z_rna, z_atac = model.embed(rna[query], "rna"), model.embed(atac[query], "atac")
    truth = np.arange(len(query))
    print(f"\nSNARE-seq2 query, {len(query)} x {len(query)} cells, cutoff {cutoff}")
    header = f"{'method':>7} {'time s':>7} {'pairs':>6} {'objective':>10}"
    print(header + f" {'type match':>10} {'partner':>8}")
    for method in ("exact", "sparse"):
        start = time.perf_counter()
        result = scp.pair(z_rna, z_atac, cutoff, method=method)
        seconds = time.perf_counter() - start
        scores = scp.metrics.pairing_accuracy(
            result, labels[query], labels[query], true_partner=truth
        )
        print(
            f"{method:>7} {seconds:>7.1f} {result.n_pairs:>6} {result.objective:>10.1f}"
            f" {scores['label_match']:>10.3f} {scores['exact_partner']:>8.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=int, nargs="*", default=[5000, 10000])
    parser.add_argument("--scale", type=int, nargs="*", default=[])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--block-size", type=int, default=400)
    parser.add_argument("--cutoff", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe", default="auto", help="'auto', 'none' (exhaustive) or an int")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds (sparse only)")
    parser.add_argument("--real", action="store_true", help="also exact vs sparse on real data")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="sparse", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dup", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--duplicates", type=float, default=0.0, help="also run with this fraction duplicated"
    )
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    head = f"{'n=m':>8} {'method':>10} {'time s':>7} {'search':>7} {'solve':>7} {'load':>5}"
    head += f" {'peak GB':>7}"
    print(
        head
        + f" {'pairs':>8} {'objective':>10} {'speedup':>7} {'obj ratio':>9} {'pairs':>7} {'gap':>8}"
        + f" {'est gap':>17}"
    )

    def line(n: int, name: str, res: dict, dense: dict | None) -> str:
        text = (
            f"{n:>8} {name:>10} {res['seconds']:>7.1f} {res['search']:>7.1f} {res['solve']:>7.1f}"
        )
        text += f" {res['load']:>5.1f} {res['peak_gb']:>7.2f} {res['pairs']:>8}"
        text += f" {res['objective']:>10.1f}"
        if dense is None or name.startswith("dense"):
            text += f" {'':>7} {'':>9} {'':>7}"
        else:
            text += f" {dense['seconds'] / res['seconds']:>6.1f}x"
            text += f" {res['objective'] / dense['objective']:>9.5f}"
            text += f" {(res['pairs'] - dense['pairs']) / dense['pairs']:>+7.2%}"
        text += f" {res['gap']:>8.1e}"
        if res["gap_estimate"] == res["gap_estimate"]:  # not nan: approximate search
            text += f" {res['gap_estimate']:>8.1e}±{res['gap_stderr']:.0e}"
        return text + ("" if res["converged"] else "  (stopped before converging)")

    for n in args.compare:
        dense = _run("exact", n, args)
        print(line(n, "dense", dense, None), flush=True)
        print(line(n, "sparse", _run("sparse", n, args), dense), flush=True)
        if args.duplicates:
            dense = _run("exact", n, args, args.duplicates)
            print(line(n, "dense+dup", dense, None), flush=True)
            print(line(n, "sparse+dup", _run("sparse", n, args, args.duplicates), dense))
    for n in args.scale:
        print(line(n, "sparse", _run("sparse", n, args), None), flush=True)
        if args.duplicates:
            print(line(n, "sparse+dup", _run("sparse", n, args, args.duplicates), None), flush=True)
    if args.real:
        real_data(args.seed, args.cutoff)


if __name__ == "__main__":
    main()
