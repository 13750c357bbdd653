"""scpairing.io: Seurat .rds <-> MuData through rpy2, checked in-process on the shared fixture.

R runs inside this process (rpy2) and builds Seurat objects of the shared fixture
(tests/fixtures/snareseq2_600) the way the R suite does; the scPairing R package is found in the
checkout's ``.Rlib`` (``make setup-r``), as ``make test`` sets it up. Everything that needs R
skips cleanly when R, rpy2/anndata2ri, SeuratObject or the R package is missing.

reticulate must not start Python inside the R that rpy2 embeds (its finalizers crash the process
at exit), so the one check that runs ``PairCells()`` (which calls Python through reticulate)
runs it in a separate ``Rscript`` on the object Python wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
sys.path.insert(0, str(FIXTURES))

import shared_fixture  # noqa: E402

import scpairing as scp  # noqa: E402

# As the Makefile's R_ENV: the scPairing R package lives in the checkout's .Rlib.
RLIB = REPO / ".Rlib"

# The fixture as Seurat objects (as tests/testthat/helper-scpairing.R builds them).
FIXTURE_R = """
suppressPackageStartupMessages(library(SeuratObject))
fx <- "{fixture}"
cells <- utils::read.csv(file.path(fx, "cells.csv"), stringsAsFactors = FALSE)
read_counts <- function(counts, features) {{
  x <- methods::as(Matrix::t(Matrix::readMM(file.path(fx, counts))), "CsparseMatrix")
  dimnames(x) <- list(readLines(file.path(fx, features)), cells$cell)
  x
}}
rna <- read_counts("rna_counts.mtx.gz", "genes.txt")
atac <- read_counts("atac_counts.mtx.gz", "peaks.txt")
meta <- cells[, c("cell_type", "batch", "role")]
rownames(meta) <- cells$cell
query <- cells$role == "query"
rna_query <- CreateSeuratObject(rna[, query], assay = "RNA", meta.data = meta[query, ])
atac_query <- CreateSeuratObject(atac[, query], assay = "peaks", meta.data = meta[query, ])
"""


@pytest.fixture(scope="module")
def r():
    """rpy2's robjects with the scPairing R package loadable; skips without R."""
    if RLIB.is_dir():
        paths = [str(RLIB), *filter(None, os.environ.get("R_LIBS", "").split(os.pathsep))]
        os.environ["R_LIBS"] = os.pathsep.join(dict.fromkeys(paths))
    try:
        state = scp.io._r()
    except (ImportError, RuntimeError) as err:
        pytest.skip(f"R backend for scpairing.io not available: {err}")
    ro = state["ro"]
    ro.r(FIXTURE_R.format(fixture=FIXTURES / "snareseq2_600"))
    return ro


@pytest.fixture(scope="module")
def bridge_rds(r, tmp_path_factory):
    """The fixture's 600 cells as one Seurat object with a Seurat PCA (loadings) and misc."""
    if not r.r('isTRUE(requireNamespace("Seurat", quietly = TRUE))')[0]:
        pytest.skip("Seurat is not installed in R")
    path = tmp_path_factory.mktemp("seurat") / "bridge.rds"
    r.r(
        """
        bridge <- CreateSeuratObject(rna, assay = "RNA", meta.data = meta)
        bridge[["peaks"]] <- CreateAssayObject(counts = atac)
        bridge$cell_type <- factor(bridge$cell_type)
        bridge <- suppressWarnings(Seurat::NormalizeData(bridge, verbose = FALSE))
        bridge <- Seurat::FindVariableFeatures(bridge, nfeatures = 500, verbose = FALSE)
        bridge <- Seurat::ScaleData(bridge, verbose = FALSE)
        bridge <- Seurat::RunPCA(bridge, npcs = 10, verbose = FALSE, seed.use = 0)
        Misc(bridge, "note") <- list(source = "collaborator", n = 3L, values = c(0.5, 1.5))
        """
    )
    r.r("saveRDS")(r.r("bridge"), str(path))
    return path


@pytest.fixture(scope="module")
def reference():
    """The shared fixture run from Python: the model and bridge_pair's paired MuData."""
    config = shared_fixture.settings()
    model, _ = shared_fixture.run()
    rna, atac = shared_fixture.load()
    query = (rna.obs["role"] == "query").to_numpy()
    queries = {"rna": rna[query].copy(), "atac": atac[query].copy()}
    paired = scp.bridge_pair(model, queries, cutoff=config["cutoff"])
    return model, queries, paired


def test_import_does_not_start_r():
    code = "import sys, scpairing; sys.exit(int('rpy2' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_extra_names_the_fix(monkeypatch):
    monkeypatch.setattr(scp.io, "_STATE", {})
    monkeypatch.setitem(sys.modules, "rpy2", None)
    with pytest.raises(ImportError, match=r"scpairing\[r\]"):
        scp.io.read_seurat(__file__)


def test_bad_paths_are_refused(r, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        scp.io.read_seurat(tmp_path / "missing.rds")
    r.r("saveRDS")(r.r("list(1)"), str(tmp_path / "list.rds"))
    with pytest.raises(TypeError, match="not a Seurat object"):
        scp.io.read_seurat(tmp_path / "list.rds")
    with pytest.raises(TypeError, match="MuData"):
        scp.io.write_seurat(shared_fixture.load()[0], tmp_path / "x.rds")


def test_read_seurat_matches_the_python_fixture(bridge_rds):
    mdata = scp.io.read_seurat(bridge_rds)
    rna, atac = shared_fixture.load()
    assert set(mdata.mod) == {"rna", "atac"}
    assert mdata.uns["seurat"]["assays"] == {"rna": "RNA", "atac": "peaks"}
    for name, expected in {"rna": rna, "atac": atac}.items():
        got = mdata[name]
        assert (got.obs_names == expected.obs_names).all()
        assert (got.var_names == expected.var_names).all()
        assert sp.issparse(got.X) and got.X.dtype == np.float32
        assert (got.X != expected.X).nnz == 0
        assert (got.obs["cell_type"].astype(str) == expected.obs["cell_type"]).all()
    assert mdata.obs["cell_type"].dtype == "category"
    assert "data" in mdata["rna"].layers  # log-normalised values differ from the counts
    pca = mdata["rna"].obsm["X_pca"]
    loadings = mdata["rna"].varm["PCs"]
    assert pca.shape == (600, 10) and loadings.shape == (rna.n_vars, 10)
    assert (np.abs(loadings).sum(axis=1) > 0).sum() == 500  # the variable features
    assert mdata.uns["note"] == {"source": "collaborator", "n": 3, "values": [0.5, 1.5]}


def test_seurat_round_trip_keeps_counts_names_reductions_metadata(r, bridge_rds, tmp_path):
    mdata = scp.io.read_seurat(bridge_rds)
    out = scp.io.write_seurat(mdata, tmp_path / "back.rds")
    same = r.r(
        """
        function(a, b) {
          a <- readRDS(a); b <- readRDS(b)
          counts <- function(o, assay) GetAssayData(o, slot = "counts", assay = assay)
          c(assays = identical(Assays(a), Assays(b)),
            default = identical(DefaultAssay(a), DefaultAssay(b)),
            cells = identical(Cells(a), Cells(b)),
            rna = identical(counts(a, "RNA"), counts(b, "RNA")),
            peaks = identical(unname(counts(a, "peaks")), unname(counts(b, "peaks"))),
            peak_names = identical(scPairing::StandardizePeakNames(rownames(a[["peaks"]])),
                                   rownames(b[["peaks"]])),
            data = isTRUE(all.equal(GetAssayData(a, assay = "RNA"), GetAssayData(b, assay = "RNA"),
                                    tolerance = 1e-6)),
            features = identical(a[["RNA"]][[]], b[["RNA"]][[]]),
            reductions = identical(Reductions(a), Reductions(b)),
            embeddings = isTRUE(all.equal(Embeddings(a, "pca"), Embeddings(b, "pca"))),
            loadings = isTRUE(all.equal(Loadings(a[["pca"]]), Loadings(b[["pca"]]))),
            stdev = isTRUE(all.equal(Stdev(a[["pca"]]), Stdev(b[["pca"]]))),
            key = identical(Key(a[["pca"]]), Key(b[["pca"]])),
            reduction_assay = identical(DefaultAssay(a[["pca"]]), DefaultAssay(b[["pca"]])),
            meta = isTRUE(all.equal(a[[]], b[[]])),
            misc = identical(Misc(a), Misc(b)))
        }
        """
    )(str(bridge_rds), str(out))
    failed = [name for name, ok in zip(same.names, same, strict=True) if not ok]
    assert not failed


def test_a_model_trains_on_the_read_reductions(bridge_rds):
    mdata = scp.io.read_seurat(bridge_rds)
    bridge = (mdata.obs["role"] == "bridge").to_numpy()
    data = {name: mdata[name][bridge].copy() for name in ("rna", "atac")}
    model = scp.ScPairing(data, reductions={"rna": "X_pca", "atac": None}, latent_dim=4, seed=0)
    model.train(max_epochs=2, progress=False)
    z = model.embed(data["rna"], modality="rna")
    assert z.shape == (int(bridge.sum()), 4)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def _paired_rds(reference, tmp_path):
    model, _, paired = reference
    return scp.io.write_seurat(paired, tmp_path / "paired.rds", model=model)


def test_paired_mudata_reads_back_in_r_in_the_paircells_layout(r, reference, tmp_path):
    model, queries, paired = reference
    path = _paired_rds(reference, tmp_path)
    obj = r.r("readRDS")(str(path))
    get = r.r
    assert list(get("Assays")(obj)) == ["RNA", "peaks"]
    assert list(get("Cells")(obj)) == list(paired.obs_names)
    peaks = list(get("function(o) rownames(o[['peaks']])")(obj))
    assert all(p.count("-") >= 2 and ":" not in p for p in peaks)
    meta = scp.io._frame(get("function(o) o[[]]")(obj))
    for column in ("rna_cell", "atac_cell"):
        assert (meta[column].to_numpy() == paired.obs[column].to_numpy()).all()
    for column in ("similarity", "confidence"):
        np.testing.assert_allclose(meta[column], paired.obs[column], rtol=1e-6)
    for column in ("rna_cell_type", "atac_cell_type", "rna_role", "atac_batch"):
        assert column in meta.columns
    cell_types = queries["rna"][paired.obs["rna_cell"]].obs["cell_type"].to_numpy()
    assert (meta["rna_cell_type"].to_numpy() == cell_types).all()
    counts = scp.io._py(get("function(o) GetAssayData(o, slot = 'counts', assay = 'RNA')")(obj))
    expected = queries["rna"][paired.obs["rna_cell"]].X
    assert (sp.csr_matrix(counts.T) != expected).nnz == 0
    for name in ("rna", "atac"):
        z_r = np.asarray(scp.io._py(get(f"function(o) Embeddings(o, 'scpairing.{name}')")(obj)))
        z_py = model.embed(queries[name][paired.obs[f"{name}_cell"]], modality=name)
        np.testing.assert_allclose(z_r, z_py, atol=1e-6)
    unpaired = get("function(o) Misc(o, 'scPairing_unpaired')")(obj)
    for name in ("rna", "atac"):
        assert list(unpaired.rx2(name)) == paired.uns["unpaired"][name]
    provenance = get("function(o) Misc(o, 'scPairing_pairing')")(obj)
    assert provenance.rx2("cutoff")[0] == pytest.approx(paired.uns["scpairing"]["cutoff"])
    # The stored model is the scPairingModel GetScPairingModel() returns, and it is this model.
    stored = get("scPairing::GetScPairingModel")(obj)
    assert list(stored.rx2("spec").rx2("modality")) == ["rna", "atac"]
    assert list(stored.rx2("spec").rx2("assay")) == ["RNA", "peaks"]
    widths = list(stored.rx2("spec").rx2("input.dims"))
    assert widths == [model.input_dims[m] for m in ("rna", "atac")]
    get("scPairing::SaveScPairingModel")(stored, str(tmp_path / "model.pt"))
    loaded = scp.ScPairing.load(tmp_path / "model.pt")
    np.testing.assert_allclose(
        loaded.embed(queries["rna"], modality="rna"),
        model.embed(queries["rna"], modality="rna"),
        atol=1e-6,
    )
    # read back into Python: the same pairs and provenance
    again = scp.io.read_seurat(path)
    assert (again.obs["rna_cell"].to_numpy() == paired.obs["rna_cell"].to_numpy()).all()
    assert again.uns["unpaired"] == paired.uns["unpaired"]
    assert again.uns["scpairing"]["method"] == paired.uns["scpairing"]["method"]


def test_write_seurat_sets_identities_from_a_metadata_column(r, reference, tmp_path):
    _, queries, paired = reference
    path = tmp_path / "idents.rds"
    scp.io.write_seurat(paired, path, idents="rna_cell_type")
    idents = list(r.r("function(p) as.character(Idents(readRDS(p)))")(str(path)))
    expected = queries["rna"][paired.obs["rna_cell"]].obs["cell_type"].astype(str).tolist()
    assert idents == expected
    default = tmp_path / "default.rds"
    scp.io.write_seurat(paired, default, project="atlas")
    assert set(r.r("function(p) as.character(Idents(readRDS(p)))")(str(default))) == {"atlas"}
    with pytest.raises(KeyError, match="`idents`: 'nope' is not a metadata column"):
        scp.io.write_seurat(paired, tmp_path / "bad.rds", idents="nope")
    with pytest.raises(TypeError, match="`idents` must be a metadata column name"):
        scp.io.write_seurat(paired, tmp_path / "bad.rds", idents=3)


def test_paircells_accepts_the_python_written_object(r, reference, tmp_path):
    """PairCells() (a separate Rscript: it needs reticulate) pairs with the model Python wrote
    and gives the pairs, and the layout, that Python wrote."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found")
    _, _, paired = reference
    path = _paired_rds(reference, tmp_path)
    out = tmp_path / "paircells.rds"
    code = FIXTURE_R.format(fixture=FIXTURES / "snareseq2_600") + (
        f'paired <- scPairing::PairCells(readRDS("{path}"), rna = rna_query, atac = atac_query, '
        f"cutoff = {shared_fixture.settings()['cutoff']})\n"
        f'saveRDS(paired, "{out}")\n'
    )
    env = dict(os.environ)
    env.update(RETICULATE_PYTHON=sys.executable, SCPAIRING_PYTHON=sys.executable)
    run = subprocess.run(
        [rscript, "-e", code], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    compare = r.r(
        """
        function(a, b, atol) {
          a <- readRDS(a); b <- readRDS(b)
          # The R queries' own Seurat columns, which the Python queries never had.
          seurat_columns <- paste0(rep(c("rna_", "atac_"), each = 5),
                                   c("orig.ident", "nCount_RNA", "nFeature_RNA", "nCount_peaks",
                                     "nFeature_peaks"))
          c(assays = identical(Assays(a), Assays(b)),
            cells = identical(Cells(a), Cells(b)),
            pairs = identical(a$rna_cell, b$rna_cell) && identical(a$atac_cell, b$atac_cell),
            similarity = max(abs(a$similarity - b$similarity)) < atol,
            meta = all(setdiff(colnames(b[[]]), colnames(a[[]])) %in% seurat_columns),
            rna = identical(GetAssayData(a, "counts", "RNA"), GetAssayData(b, "counts", "RNA")),
            peaks = identical(GetAssayData(a, "counts", "peaks"),
                              GetAssayData(b, "counts", "peaks")),
            reductions = identical(sort(Reductions(a)), sort(Reductions(b))),
            keys = identical(Key(a[["scpairing.rna"]]), Key(b[["scpairing.rna"]])),
            embeddings = max(abs(Embeddings(a, "scpairing.atac") -
                                 Embeddings(b, "scpairing.atac"))) < atol,
            unpaired = identical(Misc(a, "scPairing_unpaired"), Misc(b, "scPairing_unpaired")),
            model = inherits(Misc(b, "scPairing"), "scPairingModel"))
        }
        """
    )(str(path), str(out), shared_fixture.settings()["atol"])
    failed = [name for name, ok in zip(compare.names, compare, strict=True) if not ok]
    assert not failed
