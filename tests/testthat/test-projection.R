# Reductions that travel: a bridge trained on its Seurat PCA and Signac-style LSI projects
# count-only queries into them (the projection is done by the Python core).

source(system.file("scripts", "signac_lsi.R", package = "scPairing"))

# The bridge with a real Seurat PCA and an LSI computed as Signac's RunTFIDF (method 1) +
# RunSVD compute it (Signac's own functions where it is installed).
projection_bridge <- function(fixture) {
  bridge <- fixture$bridge
  bridge <- Seurat::NormalizeData(bridge, assay = "RNA", verbose = FALSE)
  bridge <- Seurat::FindVariableFeatures(bridge, assay = "RNA", nfeatures = 500,
                                         selection.method = "dispersion", verbose = FALSE)
  bridge <- Seurat::ScaleData(bridge, assay = "RNA", verbose = FALSE)
  bridge <- Seurat::RunPCA(bridge, assay = "RNA", npcs = 20, verbose = FALSE)
  signac_style_lsi(bridge, assay = "peaks", n = 20, n.features = 2000)
}

counts_only <- function(object, assay) {
  SeuratObject::CreateSeuratObject(
    SeuratObject::GetAssayData(object, assay = assay, slot = "counts"), assay = assay)
}

test_that("Seurat PCA + Signac-style LSI travel: count-only queries are projected", {
  skip_if_no_scpairing()
  skip_if_not_installed("Seurat")
  skip_if_not_installed("irlba")
  fixture <- load_fixture()
  bridge <- projection_bridge(fixture)
  bridge <- RunScPairing(bridge, reductions = c(RNA = "pca", ATAC = "lsi"), project = TRUE,
                         latent.dim = 8, max.epochs = 3, verbose = FALSE)
  model <- GetScPairingModel(bridge)
  expect_true(all(model$spec$projected))
  expect_output(print(model), "projects count-only queries")

  # The bridge's own counts reproduce its reductions and its RunScPairing embeddings.
  py_model <- scPairing:::.py_model(model)
  for (case in list(c("rna", "RNA", "pca"), c("atac", "peaks", "lsi"))) {
    reduction <- py_model$reductions[[case[1]]]
    error <- reticulate::py_to_r(reduction$reprojection_error_)
    expect_lt(error, 1e-3)
    adata <- SeuratToAnnData(counts_only(bridge, case[2]), assay = case[2],
                             peaks = case[1] == "atac")
    projected <- reticulate::py_to_r(reduction$project(adata))
    given <- SeuratObject::Embeddings(bridge, case[3])
    expect_lt(max(abs(projected - given)) / max(abs(given)), 1e-4)
    object <- ProjectScPairing(counts_only(bridge, case[2]), bridge, modality = case[1])
    name <- paste0("scpairing.", case[1])
    expect_lt(max(abs(SeuratObject::Embeddings(object, name) -
                        SeuratObject::Embeddings(bridge, name))), 1e-4)
  }

  # Count-only atlases pair; a query carrying the projected reduction pairs the same way.
  rna_query <- fixture$rna_query
  atac_query <- fixture$atac_query
  paired <- quiet_pair(bridge, rna = rna_query, atac = atac_query, cutoff = 0)
  unpaired <- SeuratObject::Misc(paired, "scPairing_unpaired")
  expect_setequal(c(paired$rna_cell, unpaired$rna), colnames(rna_query))
  expect_gt(ncol(paired), 0)
  adata <- SeuratToAnnData(rna_query, assay = "RNA")
  pca <- reticulate::py_to_r(py_model$reductions[["rna"]]$project(adata))
  dimnames(pca) <- list(colnames(rna_query), paste0("PC_", 1:20))
  rna_query[["pca"]] <- SeuratObject::CreateDimReducObject(pca, key = "PC_", assay = "RNA")
  again <- quiet_pair(bridge, rna = rna_query, atac = atac_query, cutoff = 0)
  expect_equal(again$rna_cell, paired$rna_cell)
  expect_equal(again$atac_cell, paired$atac_cell)

  # A query missing features: zero-filled with a warning, as the counts path does.
  fewer <- counts_only(fixture$rna_query, "RNA")
  gone <- SeuratObject::VariableFeatures(bridge)[1:5]
  fewer <- subset(fewer, features = setdiff(rownames(fewer), gone))
  expect_warning(ProjectScPairing(fewer, bridge, modality = "RNA"),
                 "5 of the bridge's 500 features.*zero counts")
})

test_that("a reduction without loadings: a clear error, or used as given", {
  skip_if_no_scpairing()
  skip_if_not_installed("Seurat")
  skip_if_not_installed("irlba")
  fixture <- load_fixture()
  bridge <- projection_bridge(fixture)
  lsi <- bridge[["lsi"]]
  bridge[["lsi"]] <- SeuratObject::CreateDimReducObject(
    SeuratObject::Embeddings(lsi), key = "LSI_", assay = "peaks")
  expect_error(
    RunScPairing(bridge, reductions = c(RNA = "pca", ATAC = "lsi"), project = TRUE,
                 latent.dim = 8, max.epochs = 1, verbose = FALSE),
    "'lsi' \\(ATAC\\) cannot project count-only queries: it has no feature loadings.*project = FALSE.*reductions = NULL")
  expect_error(RunScPairing(bridge, tfidf.method = 5), "`tfidf.method`")
  bridge <- RunScPairing(bridge, reductions = c(RNA = "pca", ATAC = "lsi"), latent.dim = 8,
                         max.epochs = 1, verbose = FALSE)
  expect_equal(GetScPairingModel(bridge)$spec$projected, c(TRUE, FALSE))
  expect_error(PairCells(bridge, rna = fixture$rna_query, atac = fixture$atac_query),
               "Reduction 'lsi' .*cannot project counts into it \\(it has no feature loadings")
})
