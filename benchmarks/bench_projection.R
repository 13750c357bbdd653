# Reductions that travel, measured on the bundled fixture (tests/fixtures/snareseq2_600):
# a bridge trained on its Seurat PCA + Signac-style LSI (project = TRUE) against the counts
# path (reductions = NULL): time to project count-only queries, pairs, cell-type match.
# Run from the repository root: `make setup-r`, then
#   RETICULATE_PYTHON=.venv/bin/python SCPAIRING_PYTHON=.venv/bin/python R_LIBS=.Rlib \
#     Rscript benchmarks/bench_projection.R
suppressMessages(library(scPairing))
source("tests/testthat/helper-scpairing.R")
fixture <- load_fixture()
epochs <- 100

bridge <- fixture$bridge
bridge <- Seurat::NormalizeData(bridge, assay = "RNA", verbose = FALSE)
bridge <- Seurat::FindVariableFeatures(bridge, assay = "RNA", nfeatures = 500,
                                       selection.method = "dispersion", verbose = FALSE)
bridge <- Seurat::ScaleData(bridge, assay = "RNA", verbose = FALSE)
bridge <- Seurat::RunPCA(bridge, assay = "RNA", npcs = 20, verbose = FALSE)
# LSI as Signac's RunTFIDF(method = 1) + RunSVD(n = 20) compute it (Signac's own where installed).
source("inst/scripts/signac_lsi.R")
bridge <- signac_style_lsi(bridge, assay = "peaks", n = 20, n.features = 2000)

run <- function(label, reductions) {
  trained <- suppressWarnings(RunScPairing(bridge, reductions = reductions,
                                           assays = c(RNA = "RNA", ATAC = "peaks"),
                                           latent.dim = 8, max.epochs = epochs,
                                           verbose = FALSE))
  time <- system.time({
    rna <- ProjectScPairing(fixture$rna_query, trained, modality = "RNA")
    atac <- ProjectScPairing(fixture$atac_query, trained, modality = "ATAC")
  })[["elapsed"]]
  paired <- suppressWarnings(PairCells(trained, rna = fixture$rna_query,
                                       atac = fixture$atac_query, cutoff = 0.2))
  match <- mean(paired$rna_cell_type == paired$atac_cell_type)
  errors <- if (is.null(reductions)) NA else {
    py <- scPairing:::.py_model(GetScPairingModel(trained))
    max(sapply(c("rna", "atac"), function(m) {
      reticulate::py_to_r(py$reductions[[m]]$reprojection_error_)
    }))
  }
  cat(sprintf("%-28s embed queries %.2f s   pairs %d / %d   cell-type match %.3f   reprojection error %s\n",
              label, time, ncol(paired), ncol(fixture$rna_query), match,
              format(errors, digits = 2)))
}
cat(sprintf("bridge %d cells, queries %d RNA + %d ATAC cells, %d epochs max, cutoff 0.2\n",
            ncol(bridge), ncol(fixture$rna_query), ncol(fixture$atac_query), epochs))
run("Seurat pca + Signac lsi", c(RNA = "pca", ATAC = "lsi"))
run("counts (reductions = NULL)", NULL)
