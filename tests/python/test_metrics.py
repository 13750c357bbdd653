"""Tests of scpairing.metrics: hand-computable cases and brute-force references."""

from __future__ import annotations

from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats
from sklearn.neighbors import NearestNeighbors

from scpairing import evaluation, metrics


def _unit(z: np.ndarray) -> np.ndarray:
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _brute_closer(z1: np.ndarray, z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense cosine-distance matrix; count cells strictly closer than the true partner."""
    d = 1 - _unit(z1) @ _unit(z2).T
    n = len(d)
    off = ~np.eye(n, dtype=bool)
    rows = ((d < np.diag(d)[:, None]) & off).sum(axis=1)
    cols = ((d < np.diag(d)[None, :]) & off).sum(axis=0)
    return rows, cols


@pytest.fixture
def noisy_pair():
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(300, 8))
    return z1, z1 + rng.normal(scale=0.8, size=z1.shape)


# --- FOSCTTM and partner recovery ----------------------------------------------------------


def test_foscttm_hand_computed():
    # Angles of z1: 0, 90, 180 degrees; of z2: 0, 180, 90 (cells 1 and 2 swapped).
    # Cosines z1_i . z2_j: row 0 [1, -1, 0], row 1 [0, 0, 1], row 2 [-1, 1, 0].
    # z1 -> z2: cell 0 has no cell closer than its partner, cells 1 and 2 have one each
    # (of n - 1 = 2): mean (0 + 1/2 + 1/2) / 3 = 1/3. The columns give 1/3 likewise.
    angles1, angles2 = np.radians([0, 90, 180]), np.radians([0, 180, 90])
    z1 = np.column_stack([np.cos(angles1), np.sin(angles1)])
    z2 = np.column_stack([np.cos(angles2), np.sin(angles2)])
    assert metrics.foscttm(z1, z2) == pytest.approx(1 / 3)
    assert metrics.partner_recovery(z1, z2, k=(1, 2)) == pytest.approx({1: 1 / 3, 2: 1.0})


def test_foscttm_perfect_and_random():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(200, 5))
    assert metrics.foscttm(z, z) == 0.0
    random_value = metrics.foscttm(z, rng.normal(size=(200, 5)))
    assert 0.4 < random_value < 0.6


@pytest.mark.parametrize("block_size", [None, 1, 7, 1000])
def test_foscttm_matches_brute_force(noisy_pair, block_size):
    z1, z2 = noisy_pair
    rows, cols = _brute_closer(z1, z2)
    expected = (rows.mean() + cols.mean()) / (2 * (len(z1) - 1))
    assert metrics.foscttm(z1, z2, block_size=block_size) == pytest.approx(expected, abs=1e-12)


def test_foscttm_is_scale_invariant(noisy_pair):
    z1, z2 = noisy_pair
    assert metrics.foscttm(z1 * 3.0, z2) == pytest.approx(metrics.foscttm(z1, z2))


def test_partner_recovery_matches_brute_force(noisy_pair):
    z1, z2 = noisy_pair
    rows, cols = _brute_closer(z1, z2)
    result = metrics.partner_recovery(z1, z2, k=(1, 5, 10), block_size=64)
    assert set(result) == {1, 5, 10}
    for k, value in result.items():
        assert value == pytest.approx(((rows < k).mean() + (cols < k).mean()) / 2)
    assert result[1] <= result[5] <= result[10]
    assert metrics.partner_recovery(z1, z1, k=1) == {1: 1.0}


@pytest.mark.parametrize(
    ("z1", "z2", "match"),
    [
        (np.ones((3, 2)), np.ones((4, 2)), "same shape"),
        (np.ones((3, 2)), np.ones((3, 3)), "same shape"),
        (np.zeros((3, 2)), np.ones((3, 2)), "all-zero"),
        (np.full((3, 2), np.nan), np.ones((3, 2)), "NaN"),
        (np.ones(3), np.ones(3), "2-D"),
        (np.ones((1, 2)), np.ones((1, 2)), "at least 2"),
    ],
)
def test_foscttm_rejects_bad_input(z1, z2, match):
    with pytest.raises(ValueError, match=match):
        metrics.foscttm(z1, z2)


def test_bad_block_size_and_k(noisy_pair):
    z1, z2 = noisy_pair
    with pytest.raises(ValueError, match="block_size"):
        metrics.foscttm(z1, z2, block_size=0)
    with pytest.raises(ValueError, match="`k`"):
        metrics.partner_recovery(z1, z2, k=(0, 1))


# --- kNN accuracy -----------------------------------------------------------------------------


def test_knn_accuracy_separated_and_shuffled():
    rng = np.random.default_rng(2)
    centres = np.eye(3) * 10
    labels = np.repeat(["a", "b", "c"], 50)
    z_ref = centres[np.repeat(np.arange(3), 50)] + rng.normal(size=(150, 3))
    z_query = centres[np.repeat(np.arange(3), 50)] + rng.normal(size=(150, 3))
    assert metrics.knn_accuracy(z_ref, labels, z_query, labels, k=5) == 1.0
    wrong = np.roll(labels, 50)  # every query label is another cluster's
    assert metrics.knn_accuracy(z_ref, labels, z_query, wrong, k=5) == 0.0


def test_knn_accuracy_matches_brute_force():
    rng = np.random.default_rng(3)
    z_ref, z_query = rng.normal(size=(80, 4)), rng.normal(size=(40, 4))
    y_ref, y_query = rng.integers(0, 2, 80), rng.integers(0, 2, 40)
    k = 7  # odd with 2 classes: no ties in the vote
    sim = _unit(z_query) @ _unit(z_ref).T
    votes = y_ref[np.argsort(-sim, axis=1)[:, :k]]
    predicted = (votes.mean(axis=1) > 0.5).astype(int)
    expected = (predicted == y_query).mean()
    assert metrics.knn_accuracy(z_ref, y_ref, z_query, y_query, k=k) == pytest.approx(expected)


def test_knn_accuracy_rejects_bad_input():
    z = np.ones((5, 2)) + np.arange(10).reshape(5, 2)
    with pytest.raises(ValueError, match="labels_ref"):
        metrics.knn_accuracy(z, [0, 1], z, np.zeros(5), k=2)
    with pytest.raises(ValueError, match="`k`"):
        metrics.knn_accuracy(z, np.zeros(5), z, np.zeros(5), k=6)
    with pytest.raises(ValueError, match="dimension"):
        metrics.knn_accuracy(z, np.zeros(5), np.ones((5, 3)), np.zeros(5), k=2)


# --- LISI -------------------------------------------------------------------------------------


def _lisi_reference(z: np.ndarray, labels: np.ndarray, perplexity: float) -> np.ndarray:
    """Straightforward per-cell LISI following Korsunsky et al. (2019)."""
    k = int(3 * perplexity)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    distances, indices = distances[:, 1:], indices[:, 1:]
    out = np.empty(len(z))
    for i in range(len(z)):
        d = distances[i]
        beta, beta_min, beta_max = 1.0, -np.inf, np.inf
        for attempt in range(51):
            p = np.exp(-d * beta)
            entropy = np.log(p.sum()) + beta * (d * p).sum() / p.sum()
            p = p / p.sum()
            diff = entropy - np.log(perplexity)
            if abs(diff) < 1e-5 or attempt == 50:
                break
            if diff > 0:
                beta_min = beta
                beta = beta * 2 if np.isinf(beta_max) else (beta + beta_max) / 2
            else:
                beta_max = beta
                beta = beta / 2 if np.isinf(beta_min) else (beta + beta_min) / 2
        neighbour_labels = labels[indices[i]]
        simpson = sum(p[neighbour_labels == c].sum() ** 2 for c in np.unique(labels))
        out[i] = 1 / simpson
    return out


def test_lisi_matches_reference():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(250, 3))
    labels = rng.integers(0, 3, 250)
    z[:, 0] += labels * 1.5  # partly mixed
    result = metrics.lisi(z, labels, perplexity=10)
    np.testing.assert_allclose(result, _lisi_reference(z, labels, 10), rtol=1e-4)


def test_lisi_mixed_versus_separated():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(400, 2))
    mixed = np.tile([0, 1], 200)[rng.permutation(400)]
    mixed_lisi = metrics.lisi(z, mixed, perplexity=15)
    assert mixed_lisi.shape == (400,)
    assert 1.8 < mixed_lisi.mean() <= 2.0
    separated = np.repeat([0, 1], 200)
    z_sep = z + np.where(separated[:, None] == 1, 100.0, 0.0)
    np.testing.assert_allclose(metrics.lisi(z_sep, separated, perplexity=15), 1.0)
    # Three balanced, randomly mixed labels: near 3 (sampling noise in ~15 effective
    # neighbours keeps it below), and above two mixed labels.
    three = (np.arange(400) % 3)[rng.permutation(400)]
    assert mixed_lisi.mean() + 0.3 < metrics.lisi(z, three, perplexity=15).mean() <= 3.0


def test_lisi_rejects_bad_input():
    z = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="perplexity"):
        metrics.lisi(z, np.zeros(50), perplexity=30)
    with pytest.raises(ValueError, match="labels"):
        metrics.lisi(z, np.zeros(49), perplexity=5)
    with pytest.raises(ValueError, match="missing"):
        metrics.lisi(z, [None] + [1] * 49, perplexity=5)


# --- pairing accuracy -------------------------------------------------------------------------


def test_pairing_accuracy_hand_computed():
    pairing = SimpleNamespace(
        index1=np.array([0, 1, 2, 3]), index2=np.array([0, 2, 1, 4]), unpaired1=np.array([4])
    )
    labels1 = np.array(["a", "b", "b", "c", "c"])
    labels2 = np.array(["a", "a", "b", "c", "c"])
    result = metrics.pairing_accuracy(pairing, labels1, labels2, true_partner=np.arange(5))
    # labels of pairs: a-a, b-b, b-a, c-c -> 3 of 4; exact partners: (0, 0) only -> 1 of 4.
    assert result["label_match"] == pytest.approx(0.75)
    assert result["exact_partner"] == pytest.approx(0.25)
    assert result["n_pairs"] == 4
    assert result["paired_fraction1"] == pytest.approx(0.8)
    assert "exact_partner" not in metrics.pairing_accuracy(pairing, labels1, labels2)


def test_pairing_accuracy_rejects_bad_input():
    pairing = SimpleNamespace(index1=np.array([0, 5]), index2=np.array([0, 1]))
    with pytest.raises(ValueError, match="labels1"):
        metrics.pairing_accuracy(pairing, np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="index1"):
        metrics.pairing_accuracy(object(), np.zeros(3), np.zeros(3))
    good = SimpleNamespace(index1=np.array([0, 1]), index2=np.array([0, 1]))
    with pytest.raises(ValueError, match="true_partner"):
        metrics.pairing_accuracy(good, np.zeros(3), np.zeros(3), true_partner=np.zeros(2, int))


# --- gene-peak correlation --------------------------------------------------------------------


@pytest.fixture
def planted():
    """RNA counts and ATAC counts where peak 0 follows gene 0 and peak 1 opposes gene 1."""
    rng = np.random.default_rng(6)
    n = 600
    state = rng.random(n) < 0.5
    rna = rng.poisson(2.0, size=(n, 4)).astype(np.float32)
    rna[:, 0] += np.where(state, 20, 0)
    rna[:, 1] += np.where(state, 0, 20)
    atac = (rng.random((n, 5)) < 0.1).astype(np.float32)
    atac[:, 0] = np.where(state, rng.random(n) < 0.9, rng.random(n) < 0.05)
    atac[:, 1] = np.where(state, rng.random(n) < 0.6, rng.random(n) < 0.05)
    atac[:, 2] *= 3  # counts above 1 are binarised
    links = sp.csr_matrix(([1, 1, 1, 1], ([0, 1, 2, 3], [0, 1, 2, 3])), shape=(4, 5))
    return rna, atac, links


def _brute_correlation(rna, atac, links):
    rna = np.asarray(rna, dtype=np.float64)
    x = np.log1p(rna / rna.sum(axis=1, keepdims=True) * 1e4)
    y = (atac > 0).astype(float)
    coo = sp.coo_matrix(links)
    return np.array(
        [stats.pearsonr(x[:, g], y[:, p])[0] for g, p in zip(coo.row, coo.col, strict=True)]
    )


def test_gene_peak_correlation_planted(planted):
    rna, atac, links = planted
    table, summary = metrics.gene_peak_correlation(sp.csr_matrix(rna), sp.csr_matrix(atac), links)
    assert list(table.columns) == ["gene", "peak", "r"]
    r = table["r"].to_numpy()
    assert r[0] > 0.5 and r[1] < -0.4 and abs(r[2]) < 0.15
    np.testing.assert_allclose(r, _brute_correlation(rna, atac, links), atol=1e-10)
    assert summary["n"] == 4 and summary["mean"] == pytest.approx(r.mean())
    # Dense input gives the same numbers.
    dense_table, _ = metrics.gene_peak_correlation(rna, atac, links.toarray())
    np.testing.assert_allclose(dense_table["r"], r, atol=1e-10)


def test_gene_peak_correlation_random_links_and_chunks(planted, monkeypatch):
    rng = np.random.default_rng(7)
    rna = rng.poisson(1.0, size=(200, 30)).astype(np.float32) + 1
    atac = rng.poisson(0.3, size=(200, 50)).astype(np.float32)
    links = sp.random(30, 50, density=0.2, random_state=7, format="csr")
    table, _ = metrics.gene_peak_correlation(sp.csr_matrix(rna), sp.csr_matrix(atac), links)
    np.testing.assert_allclose(table["r"], _brute_correlation(rna, atac, links), atol=1e-10)
    # A tiny chunk budget exercises the row-chunked path and must not change the result.
    original = metrics._paired_column_products
    monkeypatch.setattr(
        metrics,
        "_paired_column_products",
        lambda *a, **k: original(*a, chunk_elements=50),
    )
    chunked, _ = metrics.gene_peak_correlation(sp.csr_matrix(rna), sp.csr_matrix(atac), links)
    np.testing.assert_allclose(chunked["r"], table["r"], atol=1e-12)


def test_gene_peak_correlation_constant_peak_is_nan(planted):
    rna, atac, links = planted
    atac = atac.copy()
    atac[:, 3] = 0
    table, summary = metrics.gene_peak_correlation(rna, atac, links)
    assert np.isnan(table["r"].iloc[3])
    assert summary["n"] == 3 and summary["n_constant"] == 1


def test_gene_peak_correlation_from_tss(planted):
    rna, atac, _ = planted
    rna_ad = ad.AnnData(rna, var=pd.DataFrame(index=["g0", "g1", "g2", "g3"]))
    peaks = [
        "chr1:1000-1500",
        "chr1:90000-90500",
        "chr2:5000-5200",
        "chr2:400000-400100",
        "chrX:1-2",
    ]
    atac_ad = ad.AnnData(atac, var=pd.DataFrame(index=peaks))
    coords = pd.DataFrame(
        {"chrom": ["chr1", "chr1", "chr2", "chr3"], "tss": [1600, 45_000, 5100, 10]},
        index=["g0", "g1", "g2", "g3"],
    )
    table, _ = metrics.gene_peak_correlation(rna_ad, atac_ad, gene_coords=coords, distance=50_000)
    found = set(zip(table["gene"], table["peak"], strict=True))
    # g0 reaches the first chr1 peak only (the second starts 88.4 kb away), g1 (window
    # -5 kb..95 kb) both, g2 its own chr2 peak, g3 nothing (no chr3 peaks).
    expected = {
        ("g0", "chr1:1000-1500"),
        ("g1", "chr1:1000-1500"),
        ("g1", "chr1:90000-90500"),
        ("g2", "chr2:5000-5200"),
    }
    assert found == expected
    r_g0 = table.loc[table["peak"] == "chr1:1000-1500"].set_index("gene")["r"]
    assert r_g0["g0"] > 0.5


def test_gene_peak_correlation_rejects_bad_input(planted):
    rna, atac, links = planted
    with pytest.raises(ValueError, match="exactly one"):
        metrics.gene_peak_correlation(rna, atac)
    with pytest.raises(ValueError, match="genes x peaks"):
        metrics.gene_peak_correlation(rna, atac, links.T)
    with pytest.raises(ValueError, match="cells"):
        metrics.gene_peak_correlation(rna[:10], atac, links)
    with pytest.raises(ValueError, match="negative"):
        metrics.gene_peak_correlation(-rna, atac, links)
    with pytest.raises(TypeError, match="rna"):
        metrics.gene_peak_correlation([[1]], atac, links)


def test_compare_correlations():
    rng = np.random.default_rng(8)
    real = rng.normal(0.0, 0.1, 2000)
    same = metrics.compare_correlations(real, rng.normal(0.0, 0.1, 2000))
    generated = rng.normal(0.05, 0.3, 2000)
    wider = metrics.compare_correlations(real, generated)
    assert same["ks"] < 0.06 < wider["ks"]
    assert wider["mean_diff"] == pytest.approx(0.05, abs=0.02)
    assert wider["sd_diff"] == pytest.approx(0.2, abs=0.03)
    assert wider["ks"] == pytest.approx(stats.ks_2samp(real, generated).statistic)
    with pytest.raises(ValueError, match="generated"):
        metrics.compare_correlations(real, [np.nan, 0.1])


def test_compare_correlations_tables_link_r(planted):
    rna, atac, links = planted
    table, _ = metrics.gene_peak_correlation(rna, atac, links)
    result = metrics.compare_correlations(table, table)
    assert result["ks"] == 0.0 and result["link_r"] == pytest.approx(1.0)


# --- imputation -------------------------------------------------------------------------------


def test_impute_knn_hand_computed():
    z_ref = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    values = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0], [0.0, 7.0]])
    z_source = np.array([[1.0, 0.05], [0.05, 1.0]])
    dense = evaluation.impute_knn(z_source, z_ref, values, k=2)
    np.testing.assert_allclose(dense, [[2.0, 0.0], [0.0, 6.0]])
    sparse = evaluation.impute_knn(z_source, z_ref, sp.csr_matrix(values), k=2)
    assert sp.issparse(sparse)
    np.testing.assert_allclose(sparse.toarray(), dense)


def test_impute_knn_rejects_bad_input():
    z = np.eye(3)
    with pytest.raises(ValueError, match="reference_values"):
        evaluation.impute_knn(z, z, np.ones((2, 4)))
    with pytest.raises(ValueError, match="`k`"):
        evaluation.impute_knn(z, z, np.ones((3, 4)), k=4)
    with pytest.raises(TypeError, match="reference_values"):
        evaluation.impute_knn(z, z, [[1.0]] * 3)
