"""Tests of scpairing.pp: reductions fitted on a bridge and reused on queries."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

import scpairing
from scpairing import pp
from scpairing.pp._base import _float_values


@pytest.fixture(scope="module")
def snare():
    """A small real subset: 400 bridge + 200 query cells, 600 genes, 3000 peaks."""
    rna, atac = scpairing.datasets.snareseq2_mop()
    rng = np.random.default_rng(0)
    cells = np.sort(rng.choice(rna.n_obs, 600, replace=False))
    rna = rna[cells, :600].copy()
    atac = atac[cells, :3000].copy()
    return rna[:400].copy(), atac[:400].copy(), rna[400:].copy(), atac[400:].copy()


def _protein(n_cells: int = 120, n_proteins: int = 12, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(2.0, 20.0, size=(n_cells, n_proteins))).astype(np.int64)
    return ad.AnnData(counts, var={"x": np.arange(n_proteins)}, obs={"c": np.arange(n_cells)})


def _subset_vars(adata: ad.AnnData, cols: np.ndarray) -> ad.AnnData:
    return adata[:, cols].copy()


def _zero_vars(adata: ad.AnnData, cols: np.ndarray) -> ad.AnnData:
    out = adata.copy()
    x = out.X.toarray() if sp.issparse(out.X) else np.array(out.X)
    x[:, cols] = 0
    out.X = sp.csr_matrix(x) if sp.issparse(adata.X) else x
    return out


# ---------------------------------------------------------------------------- fit / transform


@pytest.mark.parametrize("kind", ["rna", "atac", "protein"])
def test_transform_bridge_equals_fit_transform(snare, kind):
    rna, atac, _, _ = snare
    data, make = {
        "rna": (rna, lambda: pp.RNAReduction(10)),
        "atac": (atac, lambda: pp.ATACReduction(10)),
        "protein": (_protein(), lambda: pp.ProteinReduction(5)),
    }[kind]
    first = make().fit_transform(data)
    fitted = make().fit(data)  # a second, independent fit must be identical (seeded)
    second = fitted.transform(data)
    assert first.dtype == np.float32
    assert first.shape == (data.n_obs, fitted.n_output)
    np.testing.assert_array_equal(first, second)
    assert np.isfinite(first).all()
    assert first.std(axis=0).min() > 0


def test_rna_pca_matches_dense_reference(snare):
    rna = snare[0]
    red = pp.RNAReduction(6, target_sum=1e4).fit(rna)
    counts = rna.X.toarray().astype(np.float64)
    lognorm = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)
    std = lognorm.std(axis=0, ddof=1)
    keep = std > 0
    scaled = np.minimum((lognorm[:, keep] - lognorm[:, keep].mean(0)) / std[keep], 10.0)
    assert red.feature_names == list(rna.var_names[keep])
    reference = PCA(6, svd_solver="full").fit_transform(scaled)
    ours = red.transform(rna)
    for k in range(6):
        sign = np.sign(ours[:, k] @ reference[:, k])
        np.testing.assert_allclose(
            ours[:, k] * sign, reference[:, k], atol=2e-3 * np.abs(reference).max()
        )


def test_rna_hvg_selection(snare):
    rna = snare[0]
    red = pp.RNAReduction(5, n_top_genes=200).fit(rna)
    assert len(red.feature_names) == 200
    assert set(red.feature_names) <= set(rna.var_names)
    assert red.transform(rna).shape == (rna.n_obs, 5)
    # the selection prefers genes of high dispersion: mean dispersion above that of all genes
    lognorm = np.log1p(rna.X.toarray() / rna.X.sum(1).A * 1e4)
    var, mean = lognorm.var(0, ddof=1), lognorm.mean(0)
    ok = mean > 0
    chosen = np.isin(rna.var_names, red.feature_names)
    assert np.median(np.log(var[chosen] / mean[chosen])) > np.median(np.log(var[ok] / mean[ok]))


def test_tfidf_values_on_hand_computed_matrix():
    counts = np.array([[2, 0, 1, 0], [1, 1, 0, 0], [0, 3, 1, 1]])
    red = pp.ATACReduction(1, drop_first=False, tfidf="log")
    red.idf_ = np.array([3 / 2, 3 / 2, 3 / 2, 3 / 1])  # 3 cells / binarised peak totals
    x = sp.csr_matrix(counts)
    totals = np.array([2.0, 2.0, 3.0])  # binarised cell totals
    tfidf = red._tfidf(_float_values(x, binarize=True), totals).toarray()
    expected = np.array(
        [
            [np.log1p(0.5 * 1.5e4), 0, np.log1p(0.5 * 1.5e4), 0],
            [np.log1p(0.5 * 1.5e4), np.log1p(0.5 * 1.5e4), 0, 0],
            [0, np.log1p(1.5e4 / 3), np.log1p(1.5e4 / 3), np.log1p(3e4 / 3)],
        ]
    )
    np.testing.assert_allclose(tfidf, expected, rtol=1e-6)
    # without binarising, TF uses the counts themselves
    tf_counts = red._tfidf(_float_values(x, binarize=False), np.array([3.0, 2.0, 5.0])).toarray()
    np.testing.assert_allclose(tf_counts[0, 0], np.log1p(2 / 3 * 1.5e4), rtol=1e-6)
    # the default "idf" variant: binarised counts times log(IDF), no per-cell term frequency
    red_idf = pp.ATACReduction(1, drop_first=False)
    red_idf.idf_ = red.idf_
    idf_values = red_idf._tfidf(_float_values(x, binarize=True), totals).toarray()
    np.testing.assert_allclose(idf_values, (counts > 0) * np.log(red.idf_), rtol=1e-6)


def test_atac_l2_normalisation_gives_unit_rows_and_rejects_bad_options(snare):
    atac = snare[1]
    scores = pp.ATACReduction(8).fit_transform(atac)
    norms = np.linalg.norm(scores, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
    standardised = pp.ATACReduction(8, normalize="standardize", tfidf="log").fit_transform(atac)
    np.testing.assert_allclose(standardised.std(0, ddof=1), 1.0, rtol=1e-3)
    with pytest.raises(ValueError, match="tfidf"):
        pp.ATACReduction(8, tfidf="bm25")
    with pytest.raises(ValueError, match="normalize"):
        pp.ATACReduction(8, normalize="max")


def test_lsi_matches_svd_of_hand_tfidf():
    rng = np.random.default_rng(3)
    counts = rng.binomial(3, 0.3, size=(40, 12))
    counts[:, 0] = np.maximum(counts[:, 0], 1)
    adata = ad.AnnData(counts, var={"x": np.arange(12)})
    adata.var_names = [f"chr1:{100 * i}-{100 * i + 50}" for i in range(12)]
    binary = (counts > 0).astype(float)
    idf = 40 / binary.sum(0)
    # Signac's variant, standardised components
    red = pp.ATACReduction(3, drop_first=True, tfidf="log", normalize="standardize").fit(adata)
    tfidf = np.log1p(binary / binary.sum(1, keepdims=True) * idf * 1e4)
    _, _, vt = np.linalg.svd(tfidf, full_matrices=False)
    scores = tfidf @ vt[1:4].T
    scores = (scores - scores.mean(0)) / scores.std(0, ddof=1)
    ours = red.transform(adata)
    np.testing.assert_allclose(np.abs(np.sum(ours * scores, 0)) / 39, 1.0, atol=1e-4)
    np.testing.assert_allclose(ours.std(0, ddof=1), 1.0, atol=1e-4)
    # the default: binary x log(IDF), unit-length rows (components agree up to sign)
    red = pp.ATACReduction(3, drop_first=True).fit(adata)
    tfidf = binary * np.log(idf)
    _, _, vt = np.linalg.svd(tfidf, full_matrices=False)
    scores = tfidf @ vt[1:4].T
    scores /= np.linalg.norm(scores, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(red.transform(adata)), np.abs(scores), atol=1e-4)


def test_protein_pca_and_passthrough():
    prot = _protein()
    clr = np.log1p(prot.X.astype(float))
    clr -= clr.mean(1, keepdims=True)
    small = pp.ProteinReduction(20).fit(prot)  # 12 proteins <= 20: centred CLR
    assert small.n_output == 12
    np.testing.assert_allclose(small.transform(prot), clr - clr.mean(0), atol=1e-5)
    red = pp.ProteinReduction(4).fit(prot)
    reference = PCA(4, svd_solver="full").fit_transform(clr)
    ours = red.transform(prot)
    np.testing.assert_allclose(np.abs(ours), np.abs(reference), atol=1e-4)


# ---------------------------------------------------------------------------- input formats


@pytest.mark.parametrize("kind", ["rna", "atac"])
def test_dense_csr_csc_int_float_layers_identical(snare, kind):
    rna, atac, _, _ = snare
    data = rna if kind == "rna" else atac
    red = (pp.RNAReduction(8) if kind == "rna" else pp.ATACReduction(8)).fit(data)
    reference = red.transform(data)
    variants = {
        "dense": data.X.toarray(),
        "csc": sp.csc_matrix(data.X),
        "float": data.X.astype(np.float64),
        "csr_array": sp.csr_array(data.X),
    }
    for name, matrix in variants.items():
        other = ad.AnnData(matrix, obs=data.obs, var=data.var)
        np.testing.assert_allclose(
            red.transform(other), reference, rtol=1e-5, atol=1e-5, err_msg=name
        )
    layered = ad.AnnData(np.zeros(data.shape, dtype=np.float32), obs=data.obs, var=data.var)
    layered.layers["counts"] = data.X
    by_layer = (
        pp.RNAReduction(8, layer="counts") if kind == "rna" else pp.ATACReduction(8, layer="counts")
    )
    np.testing.assert_array_equal(by_layer.fit_transform(layered), reference)


def test_protein_sparse_and_dense_identical():
    prot = _protein()
    red = pp.ProteinReduction(4).fit(prot)
    sparse = ad.AnnData(sp.csc_matrix(prot.X), var=prot.var)
    np.testing.assert_allclose(red.transform(sparse), red.transform(prot), atol=1e-6)


# ---------------------------------------------------------------------------- feature alignment


@pytest.mark.parametrize("kind", ["rna", "atac", "protein"])
def test_feature_reordering_gives_identical_output(snare, kind):
    _, _, q_rna, q_atac = snare
    bridge_rna, bridge_atac = snare[0], snare[1]
    prot = _protein()
    bridge, query, red = {
        "rna": (bridge_rna, q_rna, pp.RNAReduction(8)),
        "atac": (bridge_atac, q_atac, pp.ATACReduction(8)),
        "protein": (prot, _protein(seed=1), pp.ProteinReduction(4)),
    }[kind]
    red.fit(bridge)
    perm = np.random.default_rng(1).permutation(query.n_vars)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is missing: no warning
        np.testing.assert_allclose(
            red.transform(query[:, perm].copy()), red.transform(query), rtol=1e-6, atol=1e-6
        )


def test_peak_name_variants_match(snare):
    atac, q_atac = snare[1], snare[3]
    red = pp.ATACReduction(8).fit(atac)
    reference = red.transform(q_atac)
    for sep1, sep2 in (("-", "-"), ("_", "_")):
        renamed = q_atac.copy()
        renamed.var_names = [n.replace(":", sep1).replace("-", sep2) for n in q_atac.var_names]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_array_equal(red.transform(renamed), reference)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chr1:100-200", "chr1:100-200"),
        ("chr1-100-200", "chr1:100-200"),
        ("chr1_100_200", "chr1:100-200"),
        ("chrUn-GL456394-5-90", "chrUn-GL456394:5-90"),
        ("chrUn_GL456394_5_90", "chrUn_GL456394:5-90"),
        ("GL000205.2_100_200", "GL000205.2:100-200"),
        ("GL000205.2:100-200", "GL000205.2:100-200"),
        ("chr1:0100-200", "chr1:100-200"),
        ("Gapdh", "Gapdh"),
        ("HLA-A", "HLA-A"),
    ],
)
def test_canonical_peak_name(name, expected):
    assert pp.canonical_peak_name(name) == expected


def test_peak_grammar_matches_the_shared_fixture_r_is_tested_on():
    # R's StandardizePeakNames() is tested on the same table (tests/testthat/test-convert.R).
    from scpairing._peaks import signac_peak_name, split_peak_names

    path = Path(__file__).parents[1] / "fixtures" / "peak_names.tsv"
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    names, canonical, signac = (list(column) for column in zip(*rows, strict=True))
    assert [pp.canonical_peak_name(n) for n in names] == canonical
    assert [signac_peak_name(n) for n in names] == signac
    parts = split_peak_names(names)
    peaks = parts["chrom"].notna().to_numpy()
    assert [n for n, p in zip(names, peaks, strict=True) if not p] == ["Gapdh", "HLA-A"]
    rebuilt = [f"{c}:{int(s)}-{int(e)}" for c, s, e in parts[peaks].itertuples(index=False)]
    assert rebuilt == [c for c, p in zip(canonical, peaks, strict=True) if p]


@pytest.mark.parametrize("kind", ["rna", "atac", "protein"])
def test_missing_features_warn_and_are_zero_filled(snare, kind):
    prot = _protein()
    bridge, query, red = {
        "rna": (snare[0], snare[2], pp.RNAReduction(8)),
        "atac": (snare[1], snare[3], pp.ATACReduction(8)),
        "protein": (prot, _protein(seed=1), pp.ProteinReduction(4)),
    }[kind]
    red.fit(bridge)
    rng = np.random.default_rng(2)
    known = np.flatnonzero(np.isin(query.var_names, red.feature_names))
    dropped = rng.choice(known, max(1, known.size // 10), replace=False)
    kept = np.setdiff1d(np.arange(query.n_vars), dropped)
    with pytest.warns(UserWarning, match=r"missing from `adata`") as record:
        out = red.transform(_subset_vars(query, kept))
    fraction = f"{dropped.size / len(red.feature_names):.1%}"
    assert fraction in str(record[0].message)
    np.testing.assert_allclose(out, red.transform(_zero_vars(query, dropped)), rtol=1e-5, atol=1e-5)


def test_low_overlap_raises_and_min_overlap_is_configurable(snare):
    rna, q_rna = snare[0], snare[2]
    red = pp.RNAReduction(5).fit(rna)
    low = q_rna[:, : q_rna.n_vars // 3].copy()
    with pytest.raises(ValueError, match="min_overlap"):
        red.transform(low)
    with pytest.warns(UserWarning):
        assert red.transform(low, min_overlap=0.2).shape == (q_rna.n_obs, 5)
    loose = pp.RNAReduction(5, min_overlap=0.2).fit(rna)
    with pytest.warns(UserWarning):
        loose.transform(low)
    renamed = q_rna.copy()
    renamed.var_names = [f"other{i}" for i in range(q_rna.n_vars)]
    with pytest.raises(ValueError, match="shares only 0"):
        red.transform(renamed, min_overlap=0.0)


def test_empty_query_cells_give_finite_output(snare):
    rna, atac = snare[0], snare[1]
    for red, data in ((pp.RNAReduction(5), rna), (pp.ATACReduction(5), atac)):
        red.fit(data)
        empty = ad.AnnData(sp.csr_matrix((3, data.n_vars), dtype=np.int32), var=data.var)
        out = red.transform(empty)
        assert np.isfinite(out).all()
        assert np.allclose(out, out[0])


# ---------------------------------------------------------------------------- state


@pytest.mark.parametrize("kind", ["rna", "atac", "protein", "protein_small"])
def test_state_round_trip(snare, tmp_path, kind):
    prot = _protein()
    red, bridge, query = {
        "rna": (pp.RNAReduction(6, n_top_genes=300), snare[0], snare[2]),
        "atac": (pp.ATACReduction(6, binarize=False), snare[1], snare[3]),
        "protein": (pp.ProteinReduction(4), prot, _protein(seed=1)),
        "protein_small": (pp.ProteinReduction(20), prot, _protein(seed=1)),
    }[kind]
    red.fit(bridge)
    state = red.to_state()
    allowed = (str, int, float, bool, type(None), np.ndarray)
    for key, value in state.items():
        assert isinstance(value, allowed) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ), key
    assert state["kind"] == red.kind
    # through files, as a model file might store it: arrays in npz, the rest in JSON
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    np.savez(tmp_path / "s.npz", **arrays)
    (tmp_path / "s.json").write_text(
        json.dumps({k: v for k, v in state.items() if k not in arrays})
    )
    with np.load(tmp_path / "s.npz") as f:
        loaded = {**json.loads((tmp_path / "s.json").read_text()), **{k: f[k] for k in f.files}}
    for restored in (pp.reduction_from_state(state), pp.reduction_from_state(loaded)):
        assert type(restored) is type(red)
        assert restored.feature_names == red.feature_names
        assert restored.n_output == red.n_output
        np.testing.assert_array_equal(restored.transform(query), red.transform(query))


def test_state_errors():
    with pytest.raises(ValueError, match="kind"):
        pp.reduction_from_state({"kind": "spatial"})
    with pytest.raises(KeyError, match="lacks"):
        pp.reduction_from_state({"kind": "rna"})
    with pytest.raises(TypeError):
        pp.reduction_from_state([("kind", "rna")])
    with pytest.raises(NotFittedError):
        pp.RNAReduction().to_state()


# ---------------------------------------------------------------------------- bad input


def test_make_reduction():
    assert isinstance(pp.make_reduction("rna"), pp.RNAReduction)
    assert isinstance(pp.make_reduction("ATAC"), pp.ATACReduction)
    assert isinstance(pp.make_reduction("protein"), pp.ProteinReduction)
    assert pp.make_reduction("rna").n_components == 50
    assert pp.make_reduction("protein").n_components == 20
    with pytest.raises(ValueError, match="obsm key"):
        pp.make_reduction("other")
    with pytest.raises(ValueError, match="unknown modality"):
        pp.make_reduction("dna")


@pytest.mark.parametrize("cls", [pp.RNAReduction, pp.ATACReduction, pp.ProteinReduction])
def test_bad_counts_raise(snare, cls):
    data = _protein() if cls is pp.ProteinReduction else snare[0]
    dense = data.X.toarray() if sp.issparse(data.X) else np.array(data.X)
    negative = dense.astype(np.float64)
    negative[0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        cls(3).fit(ad.AnnData(negative, var=data.var))
    with pytest.raises(ValueError, match="NaN"):
        bad = negative.copy()
        bad[0, 0] = np.nan
        cls(3).fit(ad.AnnData(sp.csr_matrix(bad), var=data.var))
    with pytest.raises(KeyError, match="'counts'"):
        cls(3, layer="counts").fit(data)
    with pytest.raises(NotFittedError, match="fit"):
        cls(3).transform(data)
    with pytest.raises(NotFittedError):
        _ = cls(3).n_output
    with pytest.raises(TypeError, match="AnnData"):
        cls(3).fit(dense)
    with pytest.raises(ValueError, match="n_components"):
        cls(0)
    with pytest.raises(TypeError, match="n_components"):
        cls(2.5)
    with pytest.raises(ValueError, match="min_overlap"):
        cls(3, min_overlap=1.5)
    duplicated = data.copy()
    duplicated.var_names = ["same"] * data.n_vars
    with pytest.raises(ValueError, match="duplicated"):
        cls(3).fit(duplicated)
    fitted = cls(3).fit(data)
    with pytest.raises(ValueError, match="negative"):
        fitted.transform(ad.AnnData(negative, var=data.var))


@pytest.mark.parametrize("cls", [pp.RNAReduction, pp.ATACReduction])
def test_too_few_cells_or_features(snare, cls):
    data = snare[0] if cls is pp.RNAReduction else snare[1]
    with pytest.raises(ValueError, match="too large"):
        cls(10).fit(data[:8].copy())
    with pytest.raises(ValueError, match="too large"):
        cls(10).fit(data[:, :6].copy())
    with pytest.raises(ValueError, match="too large"):
        cls(data.n_vars).fit(data)


def test_protein_too_few_cells():
    prot = _protein(n_cells=3)
    with pytest.raises(ValueError, match="too large"):
        pp.ProteinReduction(5).fit(prot)
    with pytest.raises(ValueError, match="at least 2"):
        pp.ProteinReduction(5).fit(prot[:1].copy())


@pytest.mark.parametrize("kind", ["rna", "atac", "protein"])
def test_transform_in_row_blocks_equals_one_pass(snare, kind, monkeypatch):
    """Queries are reduced in row blocks (bounded copies); the result is the one-pass result,
    and a missing feature is warned about once, not once per block."""
    from scpairing.pp import _base

    rna, atac, q_rna, q_atac = snare
    bridge, query, reduction = {
        "rna": (rna, q_rna, pp.RNAReduction(10)),
        "atac": (atac, q_atac, pp.ATACReduction(10, tfidf="log")),
        "protein": (_protein(), _protein(seed=1), pp.ProteinReduction(5)),
    }[kind]
    reduction.fit(bridge)
    # One bridge feature missing: the alignment path.
    names = reduction._canonical_names(query.var_names)
    query = query[:, [name != reduction.feature_names[0] for name in names]].copy()
    with pytest.warns(UserWarning, match="missing"):
        one_pass = reduction.transform(query)
    monkeypatch.setattr(_base, "_TRANSFORM_ENTRIES", 50)
    assert len(list(_base._row_blocks(reduction._align(query.X, None)))) > 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        blocked = reduction.transform(query)
    assert sum("missing" in str(w.message) for w in caught) == 1
    np.testing.assert_allclose(blocked, one_pass, rtol=0, atol=1e-6)
    assert blocked.dtype == np.float32 and blocked.flags.c_contiguous
