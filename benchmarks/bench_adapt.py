"""Query-aware refinement (``ScPairing.adapt``, issue 19): held-out metrics before and after.

Protocols (each seed: train on the bridge, measure, ``adapt`` on the queries, measure again):

* ``snare``: the held-out protocol of ``bench_model.py`` on SNARE-seq2 (a stratified 30% of
  cells is the paired bridge; the other 70% are the queries, RNA and ATAC embedded separately).
* ``cross``: the same data split by sample: the bridge is every cell of 4 of the 12 SNARE-seq2
  batches, the queries every cell of the other 8 (bridge and queries from different samples).
* ``teaseq``: TEA-seq PBMC RNA + protein (``../shared/data/teaseq_pbmc_rna_adt``), 30% bridge.

The second query modality's rows are shuffled before ``adapt`` (adaptation must not know
which cells correspond); metrics undo the shuffle. Columns: FOSCTTM, top-1 / top-10 true
partner recovery, kNN (k=15) label transfer both ways, the cell-type match of a one-to-one
pairing of the queries (cutoff 0, every cell paired), the bridge's validation AUC, training
epochs and seconds (reductions + training for "before", adapting for "after").

    python benchmarks/bench_adapt.py [--protocols snare cross teaseq] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import anndata as ad
import numpy as np
import torch

import scpairing as scp

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _snare(seed: int, by_sample: bool):
    rna, atac = scp.datasets.snareseq2_mop()
    labels = rna.obs["cell_type"].to_numpy()
    if by_sample:
        batches = np.sort(rna.obs["batch"].unique())
        chosen = np.random.default_rng(seed).choice(batches, 4, replace=False)
        in_bridge = rna.obs["batch"].isin(chosen).to_numpy()
        bridge, query = np.flatnonzero(in_bridge), np.flatnonzero(~in_bridge)
    else:
        bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, seed=seed)
    return {"rna": rna, "atac": atac}, labels, bridge, query


def _teaseq(seed: int):
    folder = DATA / "teaseq_pbmc_rna_adt"
    rna = ad.read_h5ad(folder / "train_rna.h5ad")
    protein = ad.read_h5ad(folder / "train_adt.h5ad")
    labels = rna.obs["cell_type"].astype(str).to_numpy()
    bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, seed=seed)
    return {"rna": rna, "protein": protein}, labels, bridge, query


def _metrics(model, queries, labels, shuffle, first, second) -> dict[str, float]:
    z1 = model.embed(queries[first], first)
    z2 = model.embed(queries[second], second)[np.argsort(shuffle)]  # back to true order
    recovery = scp.metrics.partner_recovery(z1, z2, k=(1, 10))
    paired = scp.pair(z1, z2[shuffle], cutoff=0.0)
    return {
        "foscttm": scp.metrics.foscttm(z1, z2),
        "top1": recovery[1],
        "top10": recovery[10],
        "knn_12": scp.metrics.knn_accuracy(z1, labels, z2, labels, k=15),
        "knn_21": scp.metrics.knn_accuracy(z2, labels, z1, labels, k=15),
        "pair_type": float(np.mean(labels[paired.index1] == labels[shuffle][paired.index2])),
        "val_auc": model.validation["auc"],
        "epochs": len(model.history),
    }


def run(protocol: str, seed: int) -> tuple[dict, dict, dict]:
    if protocol == "teaseq":
        data, labels, bridge, query = _teaseq(seed)
    else:
        data, labels, bridge, query = _snare(seed, by_sample=protocol == "cross")
    first, second = list(data)
    shuffle = np.random.default_rng(seed + 100).permutation(query.size)
    queries = {first: data[first][query].copy(), second: data[second][query[shuffle]].copy()}
    start = time.perf_counter()
    model = scp.ScPairing({m: data[m][bridge].copy() for m in data}, seed=seed)
    model.train(progress=False)
    before = _metrics(model, queries, labels[query], shuffle, first, second)
    before["seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    model.adapt(queries, progress=False)
    after = _metrics(model, queries, labels[query], shuffle, first, second)
    after["seconds"] = time.perf_counter() - start
    return before, after, model.adaptation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", nargs="+", default=["snare", "cross", "teaseq"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    columns = [
        "foscttm",
        "top1",
        "top10",
        "knn_12",
        "knn_21",
        "pair_type",
        "val_auc",
        "epochs",
        "seconds",
    ]
    print("| protocol | seed | stage | " + " | ".join(columns) + " | kept |")
    print("|---" * (len(columns) + 4) + "|")
    for protocol in args.protocols:
        rows = {"before": [], "after": []}
        for seed in args.seeds:
            before, after, record = run(protocol, seed)
            for stage, row in (("before", before), ("after", after)):
                rows[stage].append(row)
                kept = "" if stage == "before" else str(record["accepted"])
                values = " | ".join(f"{row[c]:.3f}" for c in columns)
                print(f"| {protocol} | {seed} | {stage} | {values} | {kept} |", flush=True)
        for stage, stage_rows in rows.items():
            means = " | ".join(f"{np.mean([r[c] for r in stage_rows]):.3f}" for c in columns)
            print(f"| {protocol} | mean | {stage} | {means} | |", flush=True)


if __name__ == "__main__":
    main()
