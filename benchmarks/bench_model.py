"""Held-out integration benchmark of the model (issue 3 protocol) on the bundled SNARE-seq2 data.

Protocol: a stratified 30% of cells is the paired bridge (reductions fitted on the bridge only);
the other 70% is the query, whose RNA and ATAC are embedded separately. Reported per seed and as
the median: query FOSCTTM, top-1/top-10 true-partner recovery, kNN (k=15) label transfer both
ways, FOSCTTM on the bridge's own cells (to show the generalisation gap) and training time.

Two references computed in the same run show what the data allow:

* ``clf_atac`` / ``clf_rna``: a logistic regression trained on the bridge's *labels* over the same
  bridge-fitted representation, scored on the query. RNA->ATAC transfer predicts each ATAC cell's
  label from its ATAC profile alone (the RNA side only supplies labels), so a supervised
  classifier on that profile is a practical ceiling for it; ``clf_rna`` is the same for
  ATAC->RNA.
* ``ridge_foscttm``: FOSCTTM of a ridge regression from the ATAC representation to the RNA one,
  fitted on the bridge: the linear cross-modal baseline.
* ``type_foscttm``: the FOSCTTM of an embedding that knows every query cell's type perfectly and
  nothing finer (types far apart, random order within a type): each cell's true partner then
  ranks mid-way among its own type, ``sum_t n_t (n_t - 1) / (2 n (n - 1))``. Beating it needs
  partner information *within* cell types.

    python benchmarks/bench_model.py [--seeds 0 1 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge

import scpairing as scp

# Measured on the same protocol with the public scPairing implementation (issue 3).
PUBLIC = {"foscttm": 0.135, "knn_rna_to_atac": 0.62, "knn_atac_to_rna": 0.72, "train_s": 120.0}


def run(seed: int) -> dict[str, float]:
    rna, atac = scp.datasets.snareseq2_mop()
    labels = rna.obs["cell_type"].to_numpy()
    bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, seed=seed)
    start = time.perf_counter()
    model = scp.ScPairing({"rna": rna[bridge], "atac": atac[bridge]}, seed=seed)
    fit_s = time.perf_counter() - start
    model.train(progress=False)
    train_s = time.perf_counter() - start - fit_s
    z_rna, z_atac = model.embed(rna[query], "rna"), model.embed(atac[query], "atac")
    b_rna, b_atac = model.embed(rna[bridge], "rna"), model.embed(atac[bridge], "atac")
    recovery = scp.metrics.partner_recovery(z_rna, z_atac, k=(1, 10))
    q_labels = labels[query]
    x = {
        (name, part): model.reductions[name].transform(data[cells])
        for name, data in (("rna", rna), ("atac", atac))
        for part, cells in (("bridge", bridge), ("query", query))
    }
    clf = {
        name: LogisticRegression(max_iter=3000)
        .fit(x[name, "bridge"], labels[bridge])
        .score(x[name, "query"], q_labels)
        for name in ("rna", "atac")
    }
    ridge = Ridge(alpha=10.0).fit(x["atac", "bridge"], x["rna", "bridge"])
    sizes = np.unique(q_labels, return_counts=True)[1]
    return {
        "foscttm": scp.metrics.foscttm(z_rna, z_atac),
        "bridge_foscttm": scp.metrics.foscttm(b_rna, b_atac),
        "top1": recovery[1],
        "top10": recovery[10],
        "knn_rna_to_atac": scp.metrics.knn_accuracy(z_rna, q_labels, z_atac, q_labels, k=15),
        "knn_atac_to_rna": scp.metrics.knn_accuracy(z_atac, q_labels, z_rna, q_labels, k=15),
        "clf_atac": clf["atac"],
        "clf_rna": clf["rna"],
        "ridge_foscttm": scp.metrics.foscttm(ridge.predict(x["atac", "query"]), x["rna", "query"]),
        "type_foscttm": (sizes * (sizes - 1)).sum() / (2 * len(query) * (len(query) - 1)),
        "epochs": len(model.history),
        "reduce_s": fit_s,
        "train_s": train_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {seed: run(seed) for seed in args.seeds}
    columns = list(next(iter(rows.values())))
    print("| seed | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for seed, row in rows.items():
        print(f"| {seed} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    median = {c: float(np.median([row[c] for row in rows.values()])) for c in columns}
    print("| median | " + " | ".join(f"{median[c]:.3f}" for c in columns) + " |")
    print(
        "| public scPairing | "
        + " | ".join(f"{PUBLIC[c]:.3f}" if c in PUBLIC else "" for c in columns)
        + " |"
    )


if __name__ == "__main__":
    main()
