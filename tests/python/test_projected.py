"""Reductions that travel: Seurat/Signac/scanpy/muon reductions projected onto count-only queries.

Each pipeline is written out in numpy here (Seurat's LogNormalize + ScaleData + RunPCA, Signac's
RunTFIDF + RunSVD, scanpy's normalize_total + log1p + scale + pca, muon's tfidf + lsi), so the
tests check scpairing against the published definitions, not against itself.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import scpairing as scp
from scpairing import pp


# ---------------------------------------------------------------------------- the pipelines
def _dense(x) -> np.ndarray:
    return (x.toarray() if sp.issparse(x) else np.asarray(x)).astype(np.float64)


def _svd(x: np.ndarray, n: int):
    u, d, vt = np.linalg.svd(x, full_matrices=False)
    return u[:, :n], d[:n], vt[:n].T


def seurat_pca(x, n_features=300, n_pcs=20, scale_factor=1e4, scale_max=10.0):
    """NormalizeData(LogNormalize) -> ScaleData(variable features) -> RunPCA (no centring)."""
    lognorm = np.log1p(x / x.sum(1, keepdims=True) * scale_factor)
    features = np.sort(np.argsort(-lognorm.var(0, ddof=1))[:n_features])
    data = lognorm[:, features]
    mean, sd = data.mean(0), data.std(0, ddof=1)
    scaled = np.minimum((data - mean) / sd, scale_max)  # ScaleData clips the upper tail only
    _, _, loadings = _svd(scaled, n_pcs)
    return {
        "features": features,
        "loadings": loadings,
        "mean": mean,
        "sd": sd,
        "embed": lambda q: (
            np.minimum(
                (np.log1p(q / q.sum(1, keepdims=True) * scale_factor)[:, features] - mean) / sd,
                scale_max,
            )
            @ loadings
        ),
    }


def signac_lsi(x, n_features=1500, n=20, scale_factor=1e4, method=1):
    """RunTFIDF(method) -> RunSVD(scale.embeddings = TRUE) on the top features."""
    idf = x.shape[0] / np.maximum(x.sum(0), 1e-300)

    def tfidf(q):
        tf = q / q.sum(1, keepdims=True)
        if method == 1:
            return np.log1p(tf * idf * scale_factor)
        return np.log1p(tf * scale_factor) * np.log1p(idf)  # method 3

    features = np.sort(np.argsort(-x.sum(0))[:n_features])
    u, d, v = _svd(tfidf(x)[:, features], n)
    mean, sd = u.mean(0), u.std(0, ddof=1)
    return {
        "features": features,
        "loadings": v,
        "bridge": (u - mean) / sd,
        "embed": lambda q: ((tfidf(q)[:, features] @ v) / d - mean) / sd,
    }


def scanpy_pca(x, n_hvg=300, n_pcs=20, target_sum=1e4, max_value=10.0):
    """normalize_total -> log1p -> highly variable mask -> scale(max_value) -> pca(mask)."""
    totals = x.sum(1, keepdims=True)
    target = np.median(totals) if target_sum is None else target_sum
    logged = np.log1p(x / totals * target)
    mean, sd = logged.mean(0), logged.std(0, ddof=1)
    sd[sd == 0] = 1
    hvg = np.sort(np.argsort(-logged.var(0))[:n_hvg])

    def prepare(q):
        out = (np.log1p(q / q.sum(1, keepdims=True) * target) - mean) / sd
        if max_value is not None:
            out = np.clip(out, -max_value, max_value)
        return out[:, hvg]

    data = prepare(x)
    centre = data.mean(0)
    _, _, v = _svd(data - centre, n_pcs)
    pcs = np.zeros((x.shape[1], n_pcs))
    pcs[hvg] = v
    return {"PCs": pcs, "embed": lambda q: (prepare(q) - centre) @ v}


def muon_lsi(x, n_features=1500, n=20, scale_factor=1e4):
    """muon atac.pp.tfidf (log_tf, log_idf) -> atac.tl.lsi(scale_embeddings) (np.std, ddof 0)."""
    idf = np.log1p(x.shape[0] / np.maximum(x.sum(0), 1e-300))

    def tfidf(q):
        return np.log1p(q / q.sum(1, keepdims=True) * scale_factor) * idf

    features = np.sort(np.argsort(-x.sum(0))[:n_features])
    u, d, v = _svd(tfidf(x)[:, features], n)
    mean, sd = u.mean(0), u.std(0)
    lsi = np.zeros((x.shape[1], n))
    lsi[features] = v
    return {"LSI": lsi, "embed": lambda q: ((tfidf(q)[:, features] @ v) / d - mean) / sd}


@pytest.fixture(scope="module")
def data():
    """400 bridge + 200 query cells of the bundled data; 2000 genes, 5000 peaks."""
    rna, atac = scp.datasets.snareseq2_mop()
    cells = np.sort(np.random.default_rng(0).choice(rna.n_obs, 600, replace=False))
    rna, atac = rna[cells, :2000], atac[cells, :5000]
    bridge_cells = slice(0, 400)
    rna = rna[:, np.asarray(rna.X[bridge_cells].sum(0)).ravel() > 0].copy()
    atac = atac[:, np.asarray(atac.X[bridge_cells].sum(0)).ravel() > 0].copy()
    return rna[:400].copy(), atac[:400].copy(), rna[400:].copy(), atac[400:].copy()


def _counts_only(adata: ad.AnnData) -> ad.AnnData:
    return ad.AnnData(adata.X.copy(), obs=adata.obs.copy(), var=adata.var.copy())


def _close(a, b, tol=1e-4):
    scale = np.abs(b).max()
    assert np.abs(np.asarray(a) - b).max() <= tol * scale, np.abs(np.asarray(a) - b).max() / scale


# ---------------------------------------------------------------------------- reprojection
def test_seurat_pca_reprojects_bridge_and_query(data):
    rna, _, q_rna, _ = data
    seurat = seurat_pca(_dense(rna.X))
    rna = rna.copy()
    rna.obsm["X_pca"] = seurat["embed"](_dense(rna.X))
    names = list(rna.var_names[seurat["features"]])
    reduction = pp.ProjectedPCA.from_seurat(seurat["loadings"], names).fit(rna)
    assert reduction.reprojection_error_ < 1e-4
    _close(reduction.project(rna), rna.obsm["X_pca"])
    _close(reduction.transform(_counts_only(q_rna)), seurat["embed"](_dense(q_rna.X)))
    # ScaleData's statistics given (as RunScPairing passes them) give the same projection.
    given = pp.ProjectedPCA.from_seurat(
        seurat["loadings"], names, mean=seurat["mean"], std=seurat["sd"]
    ).fit(rna)
    _close(given.project(q_rna), reduction.project(q_rna))


@pytest.mark.parametrize("method", [1, 3])
def test_signac_lsi_reprojects_bridge_and_query(data, method):
    _, atac, _, q_atac = data
    signac = signac_lsi(_dense(atac.X), method=method)
    atac = atac.copy()
    atac.obsm["X_lsi"] = signac["bridge"]
    names = list(atac.var_names[signac["features"]])
    # method=None: fit finds the TF-IDF method Signac does not record.
    reduction = pp.ProjectedLSI.from_signac(signac["loadings"], names, method=None).fit(atac)
    assert reduction.tfidf == method and reduction.scale_embeddings
    assert reduction.reprojection_error_ < 1e-4
    _close(reduction.project(atac), signac["bridge"])
    _close(reduction.transform(_counts_only(q_atac)), signac["embed"](_dense(q_atac.X)))


@pytest.mark.parametrize("max_value", [10.0, None])
def test_scanpy_pca_reprojects(data, max_value):
    rna, _, q_rna, _ = data
    target_sum = 1e4 if max_value else None  # None: scanpy's median target
    scanpy = scanpy_pca(_dense(rna.X), target_sum=target_sum, max_value=max_value)
    rna = rna.copy()
    rna.obsm["X_pca"] = scanpy["embed"](_dense(rna.X))
    rna.varm["PCs"] = scanpy["PCs"]
    rna.uns["pca"] = {"params": {"zero_center": True}}
    rna.uns["log1p"] = {"base": None}
    reduction = pp.ProjectedPCA.from_scanpy(
        rna, target_sum=1e4 if target_sum else "median", max_value=max_value, scale=True
    ).fit(rna)
    assert reduction.reprojection_error_ < 1e-4
    _close(reduction.project(rna), rna.obsm["X_pca"])
    _close(reduction.transform(_counts_only(q_rna)), scanpy["embed"](_dense(q_rna.X)))


def test_scanpy_pca_unscaled_found_by_fit(data):
    rna, _, _, _ = data
    x = _dense(rna.X)
    logged = np.log1p(x / x.sum(1, keepdims=True) * 1e4)
    centre = logged.mean(0)
    _, _, v = _svd(logged - centre, 10)
    rna = rna.copy()
    rna.obsm["X_pca"], rna.varm["PCs"] = (logged - centre) @ v, v
    reduction = pp.ProjectedPCA.from_scanpy(rna).fit(rna)  # scale=None: tries both
    assert reduction.scale is False and reduction.reprojection_error_ < 1e-4


def test_muon_lsi_reprojects(data):
    _, atac, _, q_atac = data
    muon = muon_lsi(_dense(atac.X))
    atac = atac.copy()
    atac.varm["LSI"] = muon["LSI"]
    atac.obsm["X_lsi"] = muon["embed"](_dense(atac.X))
    reduction = pp.ProjectedLSI.from_muon(atac).fit(atac)
    assert reduction.reprojection_error_ < 1e-4
    _close(reduction.transform(_counts_only(q_atac)), muon["embed"](_dense(q_atac.X)))


# ---------------------------------------------------------------------------- errors
def test_missing_loadings_and_mismatch_errors(data):
    rna, atac, q_rna, _ = data
    rna = rna.copy()
    rna.obsm["X_pca"] = np.zeros((rna.n_obs, 5))
    with pytest.raises(KeyError, match=r"varm\['PCs'\].*loadings.*plain obsm key.*None"):
        pp.ProjectedPCA.from_scanpy(rna).fit(rna)
    with pytest.raises(KeyError, match=r"obsm\['X_lsi'\]` not found"):
        pp.ProjectedLSI.from_muon().fit(atac)
    signac = signac_lsi(_dense(atac.X), method=3)
    atac = atac.copy()
    atac.obsm["X_lsi"] = signac["bridge"]
    names = list(atac.var_names[signac["features"]])
    with pytest.raises(ValueError, match=r"does not reproduce.*TF-IDF method.*tolerance=None"):
        pp.ProjectedLSI.from_signac(signac["loadings"], names, method=1).fit(atac)
    with pytest.raises(ValueError, match=r"`features` must name the 1500 rows"):
        pp.ProjectedLSI.from_signac(signac["loadings"], names[:10])


def test_query_missing_features_zero_filled_with_warning(data):
    rna, _, q_rna, _ = data
    seurat = seurat_pca(_dense(rna.X))
    rna = rna.copy()
    rna.obsm["X_pca"] = seurat["embed"](_dense(rna.X))
    names = list(rna.var_names[seurat["features"]])
    reduction = pp.ProjectedPCA.from_seurat(seurat["loadings"], names).fit(rna)
    dropped = q_rna[:, [n for n in q_rna.var_names if n != names[0]]].copy()
    with pytest.warns(UserWarning, match="1 of the bridge's 300 features.*zero counts"):
        reduction.transform(dropped)
    with pytest.raises(ValueError, match=r"neither `obsm\['X_pca'\]`.*nor counts"):
        reduction.transform(ad.AnnData(obs=q_rna.obs.copy()))
    wrong = _counts_only(q_rna)
    wrong.obsm["X_pca"] = np.zeros((wrong.n_obs, 3))
    with pytest.raises(ValueError, match="drop it to project the counts"):
        reduction.transform(wrong)


# ---------------------------------------------------------------------------- in the model
@pytest.mark.filterwarnings("ignore:.*cannot tell true partners:UserWarning")
def test_model_on_given_reductions_embeds_count_only_queries(data, tmp_path):
    rna, atac, q_rna, q_atac = data
    seurat = seurat_pca(_dense(rna.X))
    signac = signac_lsi(_dense(atac.X))
    rna, atac = rna.copy(), atac.copy()
    rna.obsm["X_pca"] = seurat["embed"](_dense(rna.X))
    atac.obsm["X_lsi"] = signac["bridge"]
    reductions = {
        "rna": pp.ProjectedPCA.from_seurat(
            seurat["loadings"], list(rna.var_names[seurat["features"]])
        ),
        "atac": pp.ProjectedLSI.from_signac(
            signac["loadings"], list(atac.var_names[signac["features"]])
        ),
    }
    model = scp.ScPairing({"rna": rna, "atac": atac}, reductions=reductions, latent_dim=8)
    model.train(max_epochs=3, progress=False)
    for modality, bridge, query, embed in (
        ("rna", rna, q_rna, seurat["embed"]),
        ("atac", atac, q_atac, signac["embed"]),
    ):
        # The bridge's own cells from their counts give the embeddings of their reduction.
        _close(model.embed(_counts_only(bridge), modality), model.embed(bridge, modality))
        carrying = _counts_only(query)
        carrying.obsm[model.reductions[modality].obsm_key] = embed(_dense(query.X))
        z = model.embed(_counts_only(query), modality)
        _close(z, model.embed(carrying, modality))
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = scp.ScPairing.load(path)
    assert isinstance(loaded.reductions["atac"], pp.ProjectedLSI)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(
            loaded.embed(_counts_only(q_atac), "atac"),
            model.embed(_counts_only(q_atac), "atac"),
            atol=1e-6,
        )
    paired = scp.bridge_pair(
        model, {"rna": _counts_only(q_rna), "atac": _counts_only(q_atac)}, cutoff=-1.0
    )
    assert paired.n_obs > 0
