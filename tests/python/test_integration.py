"""End to end on real data: bridge training, held-out query embedding and pairing."""

import mudata as md
import numpy as np

import scpairing as scp


def test_held_out_query_embeds_far_better_than_random(snare, tmp_path):
    rna, atac = snare
    rng = np.random.default_rng(0)
    cells = np.sort(rng.choice(rna.n_obs, 3000, replace=False))
    rna, atac = rna[cells].copy(), atac[cells].copy()
    labels = rna.obs["cell_type"].to_numpy()
    bridge, query = scp.evaluation.bridge_query_split(rna.n_obs, labels, bridge_fraction=0.3)

    model = scp.ScPairing({"rna": rna[bridge], "atac": atac[bridge]}, seed=0)
    model.train(max_epochs=30, progress=False)
    z_rna = model.embed(rna[query], modality="rna")
    z_atac = model.embed(atac[query], modality="atac")

    assert scp.metrics.foscttm(z_rna, z_atac) < 0.25  # random is 0.5
    # Label transfer across modalities beats always guessing the most common type.
    majority = max(np.mean(labels[query] == t) for t in np.unique(labels))
    accuracy = scp.metrics.knn_accuracy(z_atac, labels[query], z_rna, labels[query])
    assert accuracy > majority + 0.2

    paired = scp.bridge_pair(model, {"rna": rna[query], "atac": atac[query]}, cutoff=0.5)
    n_paired = paired.n_obs
    assert n_paired + len(paired.uns["unpaired"]["rna"]) == len(query)
    assert n_paired + len(paired.uns["unpaired"]["atac"]) == len(query)
    same_type = (
        paired.mod["rna"].obs["cell_type"].to_numpy()
        == paired.mod["atac"].obs["cell_type"].to_numpy()
    )
    # Well above the match rate of random pairs (sum of squared type frequencies).
    _, counts = np.unique(labels[query], return_counts=True)
    random_rate = np.sum((counts / counts.sum()) ** 2)
    assert same_type.mean() > 1.5 * random_rate

    # The run's stages, in the order they ran, travel with the output (and its file).
    info = paired.uns["scpairing"]
    names = ["reduce:rna", "encode:rna", "reduce:atac", "encode:atac", "index", "search"]
    assert list(info["stages"]) == [*names, "solve", "pair", "confidence", "output"]
    stages = {name: record["seconds"] for name, record in info["stages"].items()}
    assert 0 < stages["index"] + stages["search"] + stages["solve"] <= stages["pair"]
    assert info["diagnostics"]["gap"] < 1e-4  # exhaustive search at this size: proven
    paired.write(tmp_path / "paired.h5mu")
    stored = md.read_h5mu(tmp_path / "paired.h5mu").uns["scpairing"]["stages"]
    assert stored["pair"]["seconds"] == info["stages"]["pair"]["seconds"]
