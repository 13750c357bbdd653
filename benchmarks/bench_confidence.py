"""Crowding of the sphere, per-pair confidence and the no-signal flag on SNARE-seq2 (issue 15).

Held-out protocol of ``bench_model.py``: a stratified 30% bridge, the other 70% is the query,
whose RNA and ATAC are embedded separately. Per seed: mean cosine of random query RNA-ATAC pairs
(and the part of it a shared mean direction explains, ``|mean rna| . |mean atac|``), FOSCTTM,
top-10 partner recovery, validation AUC / FOSCTTM, pairs and cell-type agreement at similarity
0.8 and at ``min_confidence=0.5``, and agreement by confidence decile of all pairs
(``cutoff=0``) for the calibrated confidence, the model-free random-pair percentile and a
margin over the runner-up (for comparison). Then the no-signal control: the bridge's ATAC
cells permuted.

    python benchmarks/bench_confidence.py [--seeds 0 1 2] [--init-logit-scale 10] [--threads 1]

``--init-logit-scale 10`` reproduces the model before issue 15 (its CLIP scale start).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import scpairing as scp
from scpairing import _confidence


def _model(data: dict, seed: int, init_logit_scale: float | None) -> scp.ScPairing:
    model = scp.ScPairing(data, seed=seed)
    if init_logit_scale is not None:
        with torch.no_grad():
            model.module.log_logit_scale.fill_(float(np.log(init_logit_scale)))
    return model


def _margin(z1: np.ndarray, z2: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Pair similarity minus the best other similarity of either partner."""
    sim = z1 @ z2.T
    own = sim[i, j].copy()
    sim[i, j] = -np.inf
    return own - np.maximum(sim[i].max(1), sim[:, j].max(0))


def _deciles(score: np.ndarray, agree: np.ndarray) -> list[float]:
    order = np.argsort(score, kind="stable")
    return [float(agree[part].mean()) for part in np.array_split(order, 10)]


def run(seed: int, init_logit_scale: float | None, permute: bool = False) -> dict:
    rna, atac = scp.datasets.snareseq2_mop()
    labels = rna.obs["cell_type"].to_numpy()
    bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, seed=seed)
    b_atac = atac[bridge].copy()
    if permute:  # the no-signal control: no bridge cell's ATAC belongs to its RNA
        perm = np.random.default_rng(seed).permutation(len(bridge))
        names = b_atac.obs_names
        b_atac = b_atac[perm].copy()
        b_atac.obs_names = names
    model = _model({"rna": rna[bridge], "atac": b_atac}, seed, init_logit_scale)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.train(progress=False)
        train_s = time.perf_counter() - start
        q = {"rna": rna[query], "atac": atac[query]}
        z_rna, z_atac = model.embed(q["rna"], "rna"), model.embed(q["atac"], "atac")
        paired = scp.bridge_pair(model, q, cutoff=0.0)
        at_08 = scp.bridge_pair(model, q, cutoff=0.8)
        at_conf = scp.bridge_pair(model, q, cutoff=0.0, min_confidence=0.5)
    flagged = any("cannot tell true partners" in str(w.message) for w in caught)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(query), 50_000), rng.integers(0, len(query), 50_000)

    def agreement(mdata) -> float:
        a = mdata["rna"].obs["cell_type"].to_numpy()
        return float(np.mean(a == mdata["atac"].obs["cell_type"].to_numpy())) if a.size else 0.0

    cells = {n: q[n].obs_names.get_indexer(paired.obs[f"{n}_cell"]) for n in ("rna", "atac")}
    agree = paired["rna"].obs["cell_type"].to_numpy() == paired["atac"].obs["cell_type"].to_numpy()
    model_free = _confidence.random_pair_percentile(
        z_rna, z_atac, paired.obs["similarity"].to_numpy()
    )
    margin = _margin(z_rna, z_atac, cells["rna"], cells["atac"])
    return {
        "random_cos": float(np.mean(np.einsum("ij,ij->i", z_rna[i], z_atac[j]))),
        "mean_dot": float(z_rna.mean(0) @ z_atac.mean(0)),
        "foscttm": scp.metrics.foscttm(z_rna, z_atac),
        "top10": scp.metrics.partner_recovery(z_rna, z_atac, k=(10,))[10],
        "val_auc": model.validation["auc"],
        "val_foscttm": model.validation["foscttm"],
        "flagged": float(flagged),
        "pairs_0.8": at_08.n_obs,
        "agree_0.8": agreement(at_08),
        "pairs_conf0.5": at_conf.n_obs,
        "agree_conf0.5": agreement(at_conf),
        "sim_cut_conf0.5": at_conf.uns["scpairing"]["similarity_cutoff_used"],
        "pairs_all": paired.n_obs,
        "agree_all": float(agree.mean()),
        "conf_median": float(paired.obs["confidence"].median()),
        "deciles_calibrated": _deciles(paired.obs["confidence"].to_numpy(), agree),
        "deciles_model_free": _deciles(model_free, agree),
        "deciles_margin": _deciles(margin, agree),
        "epochs": len(model.history),
        "train_s": train_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--init-logit-scale", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-control", action="store_true", help="skip the no-signal control")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {f"seed {s}": run(s, args.init_logit_scale) for s in args.seeds}
    if not args.no_control:
        rows["no-signal control (seed 0)"] = run(args.seeds[0], args.init_logit_scale, True)
    scalars = [c for c in next(iter(rows.values())) if not c.startswith("deciles")]
    print("| run | " + " | ".join(scalars) + " |")
    print("|---" * (len(scalars) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in scalars) + " |")
    print("\nCell-type agreement by decile (lowest to highest score), all pairs at cutoff 0:")
    for name, row in rows.items():
        for key in ("deciles_calibrated", "deciles_model_free", "deciles_margin"):
            print(f"{name} {key[8:]}: " + " ".join(f"{v:.2f}" for v in row[key]))


if __name__ == "__main__":
    main()
