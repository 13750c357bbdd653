"""Atlas-scale benchmark: ``bridge_pair`` end to end on count matrices of n cells per side.

A bridge model is trained once on the bundled SNARE-seq2 data's 30% bridge split (few epochs: the
speed of the pipeline does not depend on how well the model is trained). Each atlas is resampled
from the other 70% of the real cells, with replacement, RNA and ATAC independently (so the two
atlases are unpaired), and every cell's counts are thinned binomially (each count kept with
probability ``--thin``), so that no two cells are exact copies. Each n runs in a fresh process so
that its peak RSS (VmHWM) is its own.

    python benchmarks/bench_atlas.py                        # 100k and 300k per side
    python benchmarks/bench_atlas.py 50000 200000           # any sizes
    python benchmarks/bench_atlas.py 1000000 --time-budget 480
    python benchmarks/bench_atlas.py 100000 300000 --r 100000 300000   # and from R

``--r``: the same atlases paired from R (``PairCells`` on Seurat objects, in a fresh ``Rscript``
process each, ``benchmarks/bench_atlas_r.R``; needs the R package installed, ``make setup-r``).

Columns (seconds, from ``mdata.uns["scpairing"]["stages"]``): ``reduce`` the bridge's
reductions applied to each atlas's counts (RNA / ATAC), ``encode`` both encoders, ``index``
clustering both sets for the search, ``search`` / ``solve`` the matcher's neighbour and pricing
searches and its auctions (summed over the pricing rounds), ``out`` confidence and building the
MuData (from R, building the paired Seurat object counts as ``own``); ``own``: the time outside
the Python core's stages (from R: the Seurat <-> AnnData conversions and reticulate); ``total``
the ``bridge_pair`` / ``PairCells`` call; ``data GB``: RSS once the atlases are built (before
the call); ``peak GB``: the process's VmHWM; pairs and the matcher's gap to a dual bound (``p``:
proven, exhaustive search; ``e``: estimated, approximate search). Last, per n run from both
fronts: the R path's overhead over Python's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def _rss_gb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _split(seed: int):
    import scpairing as scp

    rna, atac = scp.datasets.snareseq2_mop()
    labels = rna.obs["cell_type"].to_numpy()
    bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, seed=seed)
    return rna, atac, bridge, query


def _atlases(n: int, thin: float, seed: int):
    """The RNA and ATAC atlases of ``n`` cells each (both fronts pair these same cells)."""
    rna, atac, _, query = _split(seed)
    return _atlas(rna, query, n, thin, seed + 1, "r"), _atlas(atac, query, n, thin, seed + 2, "a")


def _child(args: argparse.Namespace) -> None:
    import scpairing as scp

    q_rna, q_atac = _atlases(args.n, args.thin, args.seed)
    model = scp.ScPairing.load(args.model)
    data_gb = _rss_gb("VmRSS")
    start = time.perf_counter()
    options = {} if args.time_budget is None else {"time_budget": args.time_budget}
    paired = scp.bridge_pair(model, {"rna": q_rna, "atac": q_atac}, cutoff=args.cutoff, **options)
    seconds = time.perf_counter() - start
    info = paired.uns["scpairing"]
    diag = info["diagnostics"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "stages": {k: v["seconds"] for k, v in info["stages"].items()},
                "growth": {k: v["peak_rss_growth_gb"] for k, v in info["stages"].items()},
                "data_gb": data_gb,
                "peak_gb": _rss_gb("VmHWM"),
                "pairs": int(paired.n_obs),
                "gap": float(diag.get("gap", np.nan)),
                "gap_estimate": float(diag.get("gap_estimate", np.nan)),
                "converged": bool(diag.get("converged", True)),
            }
        )
    )


def _atlas(adata, cells: np.ndarray, n: int, thin: float, seed: int, prefix: str):
    """``n`` cells resampled from ``cells`` of ``adata`` with replacement, counts thinned."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    counts = sp.csr_matrix(adata.X)[rng.choice(cells, n, replace=True)]
    counts.data = rng.binomial(counts.data.astype(np.int64), thin).astype(np.float32)
    counts.eliminate_zeros()
    out = ad.AnnData(counts, var=adata.var[[]].copy())
    out.obs_names = [f"{prefix}{i}" for i in range(n)]
    return out


def _train(path: Path, seed: int, epochs: int) -> None:
    import scpairing as scp

    rna, atac, bridge, _ = _split(seed)
    model = scp.ScPairing({"rna": rna[bridge], "atac": atac[bridge]}, seed=seed)
    model.train(max_epochs=epochs, progress=False)
    model.save(path)


def _own_seconds(res: dict) -> float:
    """Seconds of a run outside the Python core's stages (``pair`` holds index, search, solve)."""
    core = sum(v for k, v in res["stages"].items() if k not in ("index", "search", "solve"))
    return res["seconds"] - core


def _run(front: str, n: int, model: Path, args: argparse.Namespace) -> dict:
    if front == "py":
        cmd = [sys.executable, __file__, "--child", "--model", str(model), "--n", str(n)]
        cmd += ["--cutoff", str(args.cutoff), "--thin", str(args.thin), "--seed", str(args.seed)]
        if args.time_budget is not None:
            cmd += ["--time-budget", str(args.time_budget)]
    else:
        cmd = ["Rscript", str(Path(__file__).with_name("bench_atlas_r.R")), str(model), str(n)]
        cmd += [str(args.cutoff), str(args.thin), str(args.seed)]
        if args.time_budget is not None:
            cmd += [str(args.time_budget)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _row(front: str, n: int, res: dict) -> str:
    st = res["stages"]
    encode = st.get("encode:rna", 0.0) + st.get("encode:atac", 0.0)
    gap = f"{res['gap']:.1e} p" if res["gap"] == res["gap"] else ""
    if res["gap_estimate"] == res["gap_estimate"]:
        gap = f"{res['gap_estimate']:.1e} e"
    reduce = f"{st['reduce:rna']:.1f} / {st['reduce:atac']:.1f}"
    out = st.get("confidence", 0.0) + st.get("output", 0.0)
    own = _own_seconds(res)
    return (
        f"{front:>5} {n:>9,} {reduce:>15} {encode:>6.1f} {st.get('index', 0.0):>6.1f}"
        f" {st.get('search', 0.0):>6.1f} {st.get('solve', 0.0):>6.1f}"
        f" {out:>5.1f} {own:>5.1f} {res['seconds']:>6.1f}"
        f" {res['data_gb']:>7.2f} {res['peak_gb']:>7.2f} {res['pairs']:>8,} {gap}"
        + ("" if res["converged"] else " (stopped before converging)")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="*", default=[100_000, 300_000])
    parser.add_argument("--r", type=int, nargs="*", default=[], metavar="N",
                        help="also run PairCells from R at these sizes")  # fmt: skip
    parser.add_argument("--cutoff", type=float, default=0.8)
    parser.add_argument("--thin", type=float, default=0.8, help="binomial thinning of counts")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=None, help="seconds for pricing")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    overheads = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "bridge.pt"
        _train(model, args.seed, args.epochs)
        head = f"{'front':>5} {'n/side':>9} {'reduce rna/atac':>15} {'encode':>6} {'index':>6}"
        head += f" {'search':>6} {'solve':>6} {'out':>5} {'own':>5} {'total':>6}"
        print(head + f" {'data GB':>7} {'peak GB':>7} {'pairs':>8} gap", flush=True)
        for n in sorted(set(args.sizes) | set(args.r)):
            results = {}
            for front in ("py", "R"):
                if n in (args.sizes if front == "py" else args.r):
                    results[front] = _run(front, n, model, args)
                    print(_row(front, n, results[front]), flush=True)
            if len(results) == 2:
                py, r = results["py"], results["R"]
                own = [_own_seconds(res) for res in (py, r)]
                overheads.append(
                    f"{n:>9,}: R total / Python total - 1 = {r['seconds'] / py['seconds'] - 1:+.1%}"
                    f"; R's own cost over Python's = {(own[1] - own[0]) / py['seconds']:+.1%}"
                    " of the Python total"
                )
    for line in overheads:
        print(line)


if __name__ == "__main__":
    main()
