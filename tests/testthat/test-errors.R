# Bad input fails early with errors in R terms.

test_that("non-Seurat input is refused", {
  expect_error(RunScPairing(matrix(1:4, 2)), "`object` must be a Seurat object; got .*matrix")
  expect_error(GetScPairingModel(list()), "`object` must be a Seurat object")
  expect_error(PairCells("model", rna = NULL, atac = NULL),
               "`model_or_bridge` must be a Seurat object returned by RunScPairing")
})

test_that("missing reductions, assays, batch columns and unknown modalities are named", {
  object <- SeuratObject::pbmc_small
  expect_error(RunScPairing(object),
               "Reduction 'lsi' \\(for modality ATAC\\) not found .*pca, tsne")
  expect_error(RunScPairing(object, reductions = NULL),
               "Assay 'peaks' .* not found in `object`; available assays: RNA")
  expect_error(RunScPairing(object, reductions = c(RNA = "pca", Spatial = "tsne")),
               "unknown modality name\\(s\\) Spatial")
  expect_error(RunScPairing(object, reductions = c("pca", "tsne")), "must be a named vector")
  expect_error(RunScPairing(object, reductions = c(RNA = "pca", ATAC = "tsne"), batch = "sample"),
               "`batch` must name a metadata column")
  expect_error(RunScPairing(object, reductions = c(RNA = "pca", ATAC = "tsne"), latent.dim = 2.5),
               "`latent.dim` must be a single whole number")
  expect_error(GetScPairingModel(object), "holds no scPairing model; run RunScPairing")
})

test_that("cells that differ between an assay and the object are reported", {
  expect_error(scPairing:::.check_cells(c("a", "b"), c("a", "c"), "assay 'peaks'"),
               "Cells of assay 'peaks' differ .*1 of 2 object cells missing, e.g. c")
})

test_that("Python errors come back as short R errors", {
  skip_if_no_scpairing()
  object <- SeuratObject::pbmc_small
  error <- tryCatch(
    RunScPairing(object, reductions = c(RNA = "pca", ATAC = "tsne"), latent.dim = 1),
    error = function(e) e
  )
  expect_s3_class(error, "scPairing_python_error")
  expect_match(conditionMessage(error), "^RunScPairing: ValueError: `latent_dim` must be")
  expect_no_match(conditionMessage(error), "Traceback")
  expect_error(
    RunScPairing(object, reductions = c(RNA = "pca", ATAC = "tsne"), no.such.option = 1,
                 max.epochs = 1, verbose = FALSE),
    "unknown options \\['no_such_option'\\]"
  )
})
