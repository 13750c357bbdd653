import itertools

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from scpairing.bridge import bridge_pair, pair_queries
from scpairing.pairing import Pairing, pair, pair_three
from scpairing.pairing._auction import EPS_COLD, EPS_WARM, UNASSIGNED, _Graph, auction
from scpairing.pairing._index import ClusterIndex


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, m: int, *, d: int = 10, n_types: int = 12, seed: int = 0):
    """Clustered unit vectors with different type mixes and private types on each side."""
    rng = np.random.default_rng(seed)
    lineages = np.repeat(_unit(rng.normal(size=(n_types // 3, d))), 3, axis=0)
    centers = _unit(lineages + 0.25 * rng.normal(size=lineages.shape))
    w1, w2 = rng.dirichlet(np.ones(n_types)), rng.dirichlet(np.ones(n_types))
    w1[0], w2[1] = 0, 0
    labels1 = rng.choice(n_types, n, p=w1 / w1.sum())
    labels2 = rng.choice(n_types, m, p=w2 / w2.sum())
    z1 = _unit(centers[labels1] + 0.1 * rng.normal(size=(n, d)))
    z2 = _unit(centers[labels2] + 0.1 * rng.normal(size=(m, d)))
    return z1, z2, labels1, labels2


def check_partition(result: Pairing, n: int, m: int) -> None:
    for index, unpaired, size in (
        (result.index1, result.unpaired1, n),
        (result.index2, result.unpaired2, m),
    ):
        cells = np.concatenate([index, unpaired])
        assert cells.size == size
        np.testing.assert_array_equal(np.sort(cells), np.arange(size))
    assert result.n_pairs == result.index1.size == result.index2.size == result.similarity.size


def brute_force(z1: np.ndarray, z2: np.ndarray, cutoff: float) -> float:
    """Best total similarity over every partial one-to-one matching (tiny inputs only)."""
    sims = z1 @ z2.T
    best = 0.0
    n, m = sims.shape
    for size in range(1, min(n, m) + 1):
        for rows in itertools.combinations(range(n), size):
            for cols in itertools.permutations(range(m), size):
                vals = sims[list(rows), list(cols)]
                if (vals >= cutoff).all():
                    best = max(best, float(vals.sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    z1, z2 = _unit(rng.normal(size=(5, 3))), _unit(rng.normal(size=(4, 3)))
    result = pair(z1, z2, cutoff=0.3, method="exact")
    assert result.objective == pytest.approx(brute_force(z1, z2, 0.3), abs=1e-5)
    check_partition(result, 5, 4)


@pytest.mark.parametrize(("n", "m"), [(1500, 1500), (1200, 1700)])
def test_sparse_agrees_with_exact(n, m):
    z1, z2, _, _ = clustered(n, m, seed=n + m)
    exact = pair(z1, z2, 0.8, method="exact")
    sparse = pair(z1, z2, 0.8, method="sparse")
    assert sparse.method == "sparse" and exact.method == "exact"
    assert sparse.objective >= 0.995 * exact.objective
    assert sparse.objective <= exact.objective + 1e-3
    assert abs(sparse.n_pairs - exact.n_pairs) <= 0.005 * exact.n_pairs + 1
    for result in (exact, sparse):
        check_partition(result, n, m)
        assert result.similarity.min() >= 0.8
        np.testing.assert_allclose(
            result.similarity,
            np.einsum("ij,ij->i", z1[result.index1], z2[result.index2]),
            atol=1e-5,
        )
        assert result.objective == pytest.approx(float(result.similarity.sum()), rel=1e-5)


def test_pricing_recovers_surplus_pairs_and_proves_bound():
    z1, z2, _, _ = clustered(1500, 1500, seed=7)
    exact = pair(z1, z2, 0.8, method="exact")
    with pytest.warns(RuntimeWarning, match="before the matching converged"):
        plain = pair(z1, z2, 0.8, method="sparse", k=3, repair_rounds=0)
    assert plain.diagnostics["converged"] == 0.0
    priced = pair(z1, z2, 0.8, method="sparse", k=3)
    assert priced.diagnostics["rounds"] >= 1
    assert priced.n_pairs > plain.n_pairs
    # exhaustive pricing: the dual bound is a proven upper bound and nearly tight
    for result in (plain, priced):
        assert result.diagnostics["dual_bound"] >= exact.objective - 1e-3
    assert priced.diagnostics["gap"] < 1e-4
    assert priced.objective == pytest.approx(exact.objective, rel=1e-5)


def test_tolerance_stops_pricing_once_the_gap_is_proven():
    z1, z2, _, _ = clustered(1500, 1500, seed=7)
    exact = pair(z1, z2, 0.8, method="exact")
    to_the_end = pair(z1, z2, 0.8, method="sparse", k=3, tolerance=0)
    loose = pair(z1, z2, 0.8, method="sparse", k=3, tolerance=0.05)
    assert loose.diagnostics["rounds"] < to_the_end.diagnostics["rounds"]
    check_partition(loose, 1500, 1500)
    # the stop is only taken when the bound proves it: objective within 5% of the optimum
    assert loose.diagnostics["gap"] <= 0.05
    assert loose.objective >= exact.objective / 1.05
    assert to_the_end.objective == pytest.approx(exact.objective, rel=1e-5)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="`tolerance`"):
            pair(z1, z2, tolerance=bad)
    with pytest.raises(TypeError, match="`tolerance`"):
        pair(z1, z2, tolerance="small")


def test_time_budget_stops_pricing_with_an_honest_bound():
    z1, z2, _, _ = clustered(1500, 1500, seed=7)
    exact = pair(z1, z2, 0.8, method="exact")
    with pytest.warns(RuntimeWarning, match="`time_budget`"):
        quick = pair(z1, z2, 0.8, method="sparse", k=3, time_budget=1e-9)
    full = pair(z1, z2, 0.8, method="sparse", k=3)
    assert quick.diagnostics["converged"] == 0.0 < full.diagnostics["converged"]
    assert quick.diagnostics["rounds"] == 0 < full.diagnostics["rounds"]
    check_partition(quick, 1500, 1500)
    assert quick.objective < full.objective
    assert quick.diagnostics["dual_bound"] >= exact.objective - 1e-3
    assert quick.diagnostics["gap"] >= exact.objective / quick.objective - 1 - 1e-6
    with pytest.raises(ValueError, match="`time_budget`"):
        pair(z1, z2, time_budget=0)


def test_approximate_probe_covers_all_cells_and_stays_close_to_exact():
    z1, z2, _, _ = clustered(1500, 1300, seed=3)
    exact = pair(z1, z2, 0.8, method="exact")
    approx = pair(z1, z2, 0.8, method="sparse", block_size=50, probe=200)
    assert approx.diagnostics["n_clusters"] > 20
    assert np.isnan(approx.diagnostics["dual_bound"])
    check_partition(approx, 1500, 1300)
    assert approx.similarity.min() >= 0.8
    assert approx.objective >= 0.98 * exact.objective
    # The sampled bound covers every row here (fewer than 10,000), so it is exact and proven.
    assert approx.diagnostics["gap_stderr"] == 0.0
    bound = approx.objective * (1 + approx.diagnostics["gap_estimate"])
    assert bound >= exact.objective - 1e-6
    assert approx.diagnostics["gap_estimate"] < 0.05


def test_sampled_bound_is_unbiased_for_a_row_sample(monkeypatch):
    import scpairing.pairing._auction as matching

    z1, z2, _, _ = clustered(1500, 1300, seed=3)
    exact = pair(z1, z2, 0.8, method="exact")
    # One pricing round: far from converged, so there is a gap to estimate.
    with pytest.warns(RuntimeWarning, match="gap_estimate"):
        full = pair(z1, z2, 0.8, method="sparse", block_size=50, probe=50, repair_rounds=1)
    monkeypatch.setattr(matching, "ESTIMATE_SAMPLE", 300)
    with pytest.warns(RuntimeWarning):
        sampled = pair(z1, z2, 0.8, method="sparse", block_size=50, probe=50, repair_rounds=1)
    assert sampled.objective == full.objective
    assert full.diagnostics["gap_estimate"] >= exact.objective / full.objective - 1 - 1e-6
    assert sampled.diagnostics["gap_stderr"] > 0
    estimate, truth = sampled.diagnostics["gap_estimate"], full.diagnostics["gap_estimate"]
    assert abs(estimate - truth) < 4 * sampled.diagnostics["gap_stderr"]


@pytest.mark.parametrize("side", [0, 1])
def test_pruned_search_matches_brute_force_with_offsets(side):
    z1, z2, _, _ = clustered(700, 500, seed=5)
    rng = np.random.default_rng(side)
    index = ClusterIndex(z1, z2, n_clusters=12, seed=0)
    query, base = (z1, z2) if side == 0 else (z2, z1)
    offsets = np.where(rng.random(base.shape[0]) < 0.2, 0.0, rng.uniform(0, 0.5, base.shape[0]))
    thresholds = rng.uniform(0.3, 0.6, query.shape[0])
    rows, cols, sims, best = index.search(side, 3, 0.8, offsets, thresholds)
    sims_all = query @ base.T
    reduced = np.where(sims_all >= 0.8, sims_all - offsets, -np.inf)
    true_best = reduced.max(axis=1)
    hit = true_best > thresholds
    np.testing.assert_allclose(best[hit], true_best[hit], atol=1e-5)
    assert (best[~hit] <= thresholds[~hit] + 1e-6).all()
    # every returned edge qualifies, and each query gets min(3, #qualifying) edges
    assert (sims >= 0.8).all() and (sims - offsets[cols] > thresholds[rows]).all()
    np.testing.assert_allclose(sims, sims_all[rows, cols], atol=1e-5)
    counts = np.bincount(rows, minlength=query.shape[0])
    np.testing.assert_array_equal(counts, np.minimum(3, (reduced > thresholds[:, None]).sum(1)))


@pytest.mark.parametrize("warm", [False, True])
def test_auction_matches_scipy_on_random_graphs(warm):
    # Warm: start from arbitrary prices, as a re-solve on a grown graph does; columns that no
    # row takes must still end at price 0, or the matching stalls below the optimum.
    rng = np.random.default_rng(11)
    for n, m in ((40, 30), (30, 45)):
        weights = np.where(rng.random((n, m)) < 0.2, rng.uniform(0.5, 1.0, (n, m)), 0.0)
        rows, cols = np.nonzero(weights)
        graph = _Graph(n, m)
        graph.add(rows, cols, weights[rows, cols])
        price = rng.uniform(0.0, 1.0, m) if warm else np.zeros(m)
        row_col = np.full(n, UNASSIGNED, np.int64)
        col_row = np.full(m, UNASSIGNED, np.int64)
        auction(*graph.views(), price, row_col, col_row, EPS_WARM if warm else EPS_COLD)
        real = np.flatnonzero(row_col >= 0)
        assert np.unique(row_col[real]).size == real.size
        np.testing.assert_array_equal(col_row[row_col[real]], real)
        assert (price[col_row < 0] == 0).all()
        r, c = linear_sum_assignment(weights, maximize=True)
        best = weights[r, c].sum()
        assert weights[real, row_col[real]].all()
        assert weights[real, row_col[real]].sum() == pytest.approx(best, abs=n * 1e-6)


def test_groups_respected_and_deterministic():
    z1, z2, l1, l2 = clustered(600, 500, seed=4)
    g1 = np.where(l1 % 2 == 0, "even", "odd")
    g2 = np.where(l2 % 2 == 0, "even", "odd")
    g2[:50] = "only_in_2"
    for method in ("exact", "sparse"):
        result = pair(z1, z2, 0.5, method=method, groups1=g1, groups2=list(g2))
        check_partition(result, 600, 500)
        np.testing.assert_array_equal(g1[result.index1], g2[result.index2])
        assert not np.isin(np.arange(50), result.index2).any()
        again = pair(z1, z2, 0.5, method=method, groups1=g1, groups2=list(g2))
        np.testing.assert_array_equal(result.index1, again.index1)
        np.testing.assert_array_equal(result.index2, again.index2)


def test_high_cutoff_leaves_cells_unpaired():
    z1, z2, _, _ = clustered(300, 200, seed=5)
    result = pair(z1, z2, 0.999, method="sparse")
    check_partition(result, 300, 200)
    assert result.unpaired1.size >= 100
    assert (result.similarity >= 0.999).all()


def test_bad_inputs():
    z1, z2, _, _ = clustered(20, 20)
    with pytest.raises(ValueError, match="unit vectors"):
        pair(z1 * 2, z2)
    bad = z1.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pair(bad, z2)
    with pytest.raises(ValueError, match="latent dimension"):
        pair(z1, _unit(np.ones((5, 4))))
    with pytest.raises(ValueError, match="empty"):
        pair(np.empty((0, 10), np.float32), z2)
    with pytest.raises(ValueError, match="cutoff"):
        pair(z1, z2, cutoff=1.5)
    with pytest.raises(ValueError, match="method"):
        pair(z1, z2, method="hungarian")
    with pytest.raises(ValueError, match="groups1"):
        pair(z1, z2, groups1=np.zeros(3), groups2=np.zeros(20))
    with pytest.raises(ValueError, match="together"):
        pair(z1, z2, groups1=np.zeros(20))
    with pytest.raises(ValueError, match="`k`"):
        pair(z1, z2, k=0)
    with pytest.raises(TypeError, match="`probe`"):
        pair(z1, z2, probe="all")


class StandInModel:
    """Embeds a query by reading its (already unit) ``obsm['z']``."""

    name = "stand-in model"
    latent_dim = 10

    def __init__(self, modalities):
        self.modalities = list(modalities)

    def embed(self, adata, modality):
        return np.asarray(adata.obsm["z"], dtype=np.float32)


def _query(z: np.ndarray, prefix: str, n_vars: int = 7) -> ad.AnnData:
    rng = np.random.default_rng(len(z))
    adata = ad.AnnData(
        X=rng.poisson(1.0, size=(len(z), n_vars)).astype(np.float32),
        obs=pd.DataFrame({"batch": ["b0"] * len(z)}, index=[f"{prefix}{i}" for i in range(len(z))]),
    )
    adata.var_names = [f"{prefix}_f{j}" for j in range(n_vars)]
    adata.layers["counts"] = adata.X.copy()
    adata.obsm["z"] = z
    return adata


def test_bridge_pair_structure_and_provenance():
    z1, z2, _, _ = clustered(120, 90, seed=6)
    rna, atac = _query(z1, "r"), _query(z2, "a")
    mdata = bridge_pair(StandInModel(["rna", "atac"]), {"rna": rna, "atac": atac}, cutoff=0.8)
    assert isinstance(mdata, md.MuData)
    assert set(mdata.mod) == {"rna", "atac"}
    n_pairs = mdata.n_obs
    assert n_pairs > 0
    assert list(mdata.obs_names) == [f"pair_{i}" for i in range(n_pairs)]
    for name, source in (("rna", rna), ("atac", atac)):
        sub = mdata.mod[name]
        assert list(sub.obs_names) == list(mdata.obs_names)
        np.testing.assert_array_equal(sub.obs["source_cell"], mdata.obs[f"{name}_cell"])
        np.testing.assert_array_equal(sub.X, source[sub.obs["source_cell"].to_numpy()].X)
        assert "counts" in sub.layers and "batch" in sub.obs
        assert list(sub.var_names) == list(source.var_names)
        listed = set(mdata.uns["unpaired"][name]) | set(sub.obs["source_cell"])
        assert listed == set(source.obs_names)
        assert len(listed) == len(mdata.uns["unpaired"][name]) + n_pairs
    sims = np.einsum(
        "ij,ij->i",
        rna[mdata.obs["rna_cell"].to_numpy()].obsm["z"],
        atac[mdata.obs["atac_cell"].to_numpy()].obsm["z"],
    )
    np.testing.assert_allclose(mdata.obs["similarity"], sims, atol=1e-5)
    assert (mdata.obs["similarity"] >= 0.8).all()
    info = mdata.uns["scpairing"]
    assert info["model"] == "stand-in model" and info["cutoff"] == 0.8
    assert info["method"] == "exact"
    assert info["objective"] == pytest.approx(float(sims.sum()), rel=1e-5)


def test_pair_queries_is_the_one_result_bridge_pair_is_built_from():
    z1, z2, _, _ = clustered(120, 90, seed=6)
    queries = {"rna": _query(z1, "r"), "atac": _query(z2, "a")}
    model = StandInModel(["rna", "atac"])
    result = pair_queries(model, queries, cutoff=0.8)
    assert "QueryPairing:" in repr(result) and result.modalities == ["rna", "atac"]
    for name, size in (("rna", 120), ("atac", 90)):
        cells = np.concatenate([result.index[name], result.unpaired[name]])
        np.testing.assert_array_equal(np.sort(cells), np.arange(size))
        np.testing.assert_array_equal(
            result.cells[name], queries[name].obs_names[result.index[name]]
        )
        np.testing.assert_array_equal(
            result.embeddings[name], queries[name].obsm["z"][result.index[name]]
        )
    mdata = bridge_pair(model, queries, cutoff=0.8)
    np.testing.assert_array_equal(mdata.obs["rna_cell"], result.cells["rna"])
    np.testing.assert_array_equal(mdata.obs["atac_cell"], result.cells["atac"])
    np.testing.assert_allclose(mdata.obs["similarity"], result.similarity)
    np.testing.assert_allclose(mdata.obs["confidence"], result.confidence)
    # Two runs: everything but the stage timings agrees; the MuData adds its own output stage.
    stages = mdata.uns["scpairing"].pop("stages")
    assert mdata.uns["scpairing"] == {k: v for k, v in result.provenance.items() if k != "stages"}
    assert list(stages) == [*result.provenance["stages"], "output"]
    assert set(stages) == {"pair", "confidence", "output"}  # the stand-in model has no stages
    for record in stages.values():
        assert record["seconds"] >= 0 and record["peak_rss_growth_gb"] >= 0
    assert mdata.uns["unpaired"]["atac"] == list(result.unpaired_cells["atac"])


def test_bridge_pair_rejects_bad_queries():
    z1, z2, _, _ = clustered(30, 30)
    model = StandInModel(["rna", "atac"])
    with pytest.raises(KeyError, match="protein"):
        bridge_pair(model, {"rna": _query(z1, "r"), "protein": _query(z2, "p")})
    with pytest.raises(TypeError, match="queries"):
        bridge_pair(model, [z1, z2])
    with pytest.raises(ValueError, match="2 or 3"):
        bridge_pair(model, {"rna": _query(z1, "r")})
    with pytest.raises(ValueError, match="unknown modality"):
        bridge_pair(model, {"rna": _query(z1, "r"), "dna": _query(z2, "d")})
    # Modality names are case-insensitive, as in ScPairing.
    mdata = bridge_pair(model, {"RNA": _query(z1, "r"), "ATAC": _query(z2, "a")}, cutoff=-1)
    assert set(mdata.mod) == {"rna", "atac"}


def test_trimodal_pairing():
    rng = np.random.default_rng(8)
    truth = _unit(rng.normal(size=(200, 10)))
    z = {
        "rna": _unit(truth + 0.05 * rng.normal(size=truth.shape)),
        "atac": _unit(truth + 0.2 * rng.normal(size=truth.shape)),
        "protein": _unit(truth[::-1] + 0.05 * rng.normal(size=truth.shape)),
    }
    index, similarity, unpaired, _ = pair_three(z, 0.5, method="exact")
    for name, emb in z.items():
        cells = np.concatenate([index[name], unpaired[name]])
        np.testing.assert_array_equal(np.sort(cells), np.arange(len(emb)))
    assert similarity.size > 150
    # the correct triples (rna i, atac i, protein 199 - i) are recovered
    assert (index["rna"] == index["atac"]).mean() > 0.9
    assert (index["protein"] == 199 - index["rna"]).mean() > 0.9

    queries = {name: _query(emb, name[0]) for name, emb in z.items()}
    with md.set_options(pull_on_update=False):
        queries = md.MuData(queries)
    mdata = bridge_pair(StandInModel(list(z)), queries, cutoff=0.5)
    assert set(mdata.mod) == set(z) and mdata.n_obs == similarity.size
    for name in z:
        assert f"{name}_cell" in mdata.obs
        assert len(mdata.uns["unpaired"][name]) + mdata.n_obs == 200


def test_bridge_pair_with_trained_model():
    from scpairing import ScPairing

    rng = np.random.default_rng(9)
    latent = rng.normal(size=(240, 4))

    def modality(prefix, n_dims):
        adata = ad.AnnData(X=rng.poisson(1.0, size=(240, 12)).astype(np.float32))
        adata.obs_names = [f"c{i}" for i in range(240)]
        adata.var_names = [f"{prefix}{j}" for j in range(12)]
        adata.obsm[f"X_{prefix}"] = (latent @ rng.normal(size=(4, n_dims))).astype(np.float32)
        return adata

    rna, atac = modality("pca", 10), modality("lsi", 8)
    model = ScPairing(
        {"rna": rna[:160], "atac": atac[:160]},
        reductions={"rna": "X_pca", "atac": "X_lsi"},
        latent_dim=8,
        seed=0,
    ).train(max_epochs=5, progress=False)
    mdata = bridge_pair(model, {"rna": rna[160:], "atac": atac[160:]}, cutoff=0.0)
    assert mdata.uns["scpairing"]["model"] == model.name
    assert mdata.n_obs + len(mdata.uns["unpaired"]["rna"]) == 80
    assert mdata.n_obs > 0 and (mdata.obs["similarity"] >= 0).all()


def test_repr_summarises_instead_of_dumping_arrays():
    z1, z2, _, _ = clustered(400, 300, seed=8)
    result = pair(z1, z2, 0.8, method="sparse")
    text = repr(result)
    assert f"{result.n_pairs:,} pairs of 400 x 300 cells" in text
    assert f"({result.unpaired1.size:,} / {result.unpaired2.size:,} unpaired)" in text
    assert "proven gap" in text and "[" not in text and len(text.splitlines()) <= 4


# ---------------------------------------------------------------- the torch search (device=)


def test_torch_tie_key_is_the_numba_key():
    import torch

    from scpairing.pairing._index import _tie_key, _tie_key_torch

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2**40, 500), rng.integers(0, 2**40, 500)
    numba_keys = np.array([_tie_key(x, y) for x, y in zip(a, b, strict=True)], dtype=np.uint64)
    torch_keys = _tie_key_torch(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    # The torch key has its top bit flipped so that signed order is the unsigned order.
    np.testing.assert_array_equal((torch_keys ^ np.int64(-(1 << 63))).view(np.uint64), numba_keys)
    np.testing.assert_array_equal(np.argsort(torch_keys), np.argsort(numba_keys))


def test_index_search_torch_cpu_returns_the_numba_edges():
    import torch

    z1, z2, _, _ = clustered(700, 500, seed=4)
    numba_index = ClusterIndex(z1, z2, n_clusters=12, seed=0)
    torch_index = ClusterIndex(z1, z2, n_clusters=12, seed=0, device=torch.device("cpu"))
    rng = np.random.default_rng(1)
    offsets, thresholds = rng.uniform(0, 0.2, 500), rng.uniform(0.5, 0.7, 700)
    for kwargs in ({}, {"offsets": offsets, "thresholds": thresholds}, {"probe": 120}):
        r0, c0, _, best0 = numba_index.search(0, 5, 0.6, **kwargs)
        r1, c1, _, best1 = torch_index.search(0, 5, 0.6, **kwargs)
        assert r0.size > 500
        assert set(zip(r0, c0, strict=True)) == set(zip(r1, c1, strict=True))
        above = best0 > kwargs.get("thresholds", -np.inf)
        np.testing.assert_allclose(best1[above], best0[above], rtol=0, atol=1e-6)


@pytest.mark.parametrize("probe", [None, 300])
def test_pair_on_torch_cpu_agrees_with_the_default_path(probe):
    """The torch search path (device="cpu") gives the same pairs and objective as numba."""
    z1, z2, _, _ = clustered(2600, 2300, seed=5)
    default = pair(z1, z2, 0.8, method="sparse", probe=probe)
    on_torch = pair(z1, z2, 0.8, method="sparse", probe=probe, device="cpu")
    assert default.n_pairs > 1000
    np.testing.assert_array_equal(on_torch.index1, default.index1)
    np.testing.assert_array_equal(on_torch.index2, default.index2)
    assert on_torch.objective == pytest.approx(default.objective, rel=1e-12)
    check_partition(on_torch, 2600, 2300)


def test_pair_on_torch_cpu_spreads_ties():
    """Identical cells: the torch path ranks equal similarities by the pair key too, so all
    cells pair (ranking ties by position would leave most unpaired, see test_pairing_degenerate)."""
    z = np.zeros((1500, 4), np.float32)
    z[:, 0] = 1
    result = pair(z, z.copy(), 0.8, method="sparse", device="cpu", k=5)
    assert result.n_pairs == 1500
    assert result.diagnostics["converged"] == 1.0


def test_pair_device_is_checked():
    z1, z2, _, _ = clustered(50, 50)
    with pytest.raises(TypeError, match="device"):
        pair(z1, z2, device=3)
    with pytest.raises(ValueError, match="device"):
        pair(z1, z2, device="no-such-device")
