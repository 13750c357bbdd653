# The bad-input matrix of the R package: each case asserts the error and that its message
# names the argument to fix. Checks done in R run without Python; the ones that reach the
# Python core assert that its message arrives short (no traceback) and prefixed with the call.

# An scPairingModel with a spec only: enough for the R-side checks, which run before Python.
fake_model <- function() {
  structure(list(
    spec = data.frame(name = c("RNA", "ATAC"), modality = c("rna", "atac"),
                      assay = c("RNA", "peaks"), reduction = NA_character_, dims = c(10L, 10L),
                      stringsAsFactors = FALSE),
    bytes = raw(10), name = "fake", cache = new.env()
  ), class = "scPairingModel")
}

pbmc <- function() SeuratObject::pbmc_small

expect_error_naming <- function(expr, argument, pattern = NULL) {
  error <- tryCatch({
    force(expr)
    NULL
  }, error = function(e) e)
  if (is.null(error)) {
    testthat::fail(paste0("no error; expected one naming ", argument))
    return(invisible(NULL))
  }
  message <- conditionMessage(error)
  testthat::expect_true(grepl(argument, message, fixed = TRUE),
                        info = paste0("message does not name ", argument, ": ", message))
  if (!is.null(pattern)) testthat::expect_match(message, pattern)
  testthat::expect_no_match(message, "Traceback")
  invisible(error)
}

test_that("RunScPairing: wrong types and values are named (checked in R)", {
  object <- pbmc()
  ok <- c(RNA = "pca", ATAC = "tsne")
  expect_error_naming(RunScPairing(matrix(1:4, 2)), "`object`", "must be a Seurat object")
  expect_error_naming(RunScPairing(object, reductions = c(RNA = 1, ATAC = 2)), "`reductions`",
                      "named character vector")
  expect_error_naming(RunScPairing(object, reductions = c(RNA = "pca", ATAC = NA)),
                      "`reductions`")
  expect_error_naming(RunScPairing(object, reductions = list(RNA = "pca", ATAC = "tsne")),
                      "`reductions`")
  expect_error_naming(RunScPairing(object, reductions = c("pca", "tsne")), "`reductions`",
                      "named vector")
  expect_error_naming(RunScPairing(object, reductions = c(RNA = "pca", ATAC = "umap")),
                      "`object`", "Reduction 'umap' \\(for modality ATAC\\) not found")
  expect_error_naming(RunScPairing(object, reductions = NULL, assays = NULL), "`assays`")
  expect_error_naming(RunScPairing(object, reductions = NULL,
                                   assays = list(RNA = "RNA", ATAC = "peaks")), "`assays`")
  expect_error_naming(RunScPairing(object, reductions = NULL,
                                   assays = c(RNA = "RNA", ATAC = "nope")),
                      "`object`", "Assay 'nope' .*available assays: RNA")
  expect_error_naming(RunScPairing(object, reductions = NULL,
                                   assays = c(RNA = "RNA", Spatial = "RNA")),
                      "`assays`", "unknown modality name\\(s\\) Spatial")
  expect_error_naming(RunScPairing(object, reductions = ok, batch = 1), "`batch`")
  expect_error_naming(RunScPairing(object, reductions = ok, batch = "no_column"), "`batch`")
  for (bad in list("10", 2.5, NA, Inf, c(5, 6))) {
    expect_error_naming(RunScPairing(object, reductions = ok, latent.dim = bad), "`latent.dim`",
                        "single whole number")
  }
  expect_error_naming(RunScPairing(object, reductions = ok, seed = 1.5), "`seed`")
  expect_error_naming(RunScPairing(object, reductions = ok, seed = "0"), "`seed`")
  expect_error_naming(RunScPairing(object, reductions = ok, max.epochs = 0), "`max.epochs`",
                      ">= 1")
  expect_error_naming(RunScPairing(object, reductions = ok, max.epochs = 2.5), "`max.epochs`")
  expect_error_naming(RunScPairing(object, reductions = ok, verbose = "yes"), "`verbose`",
                      "TRUE or FALSE")
  expect_error_naming(RunScPairing(object, reductions = ok, verbose = NA), "`verbose`")
})

test_that("PairCells and ProjectScPairing: wrong types and values are named (checked in R)", {
  model <- fake_model()
  rna <- pbmc()
  atac <- pbmc()
  expect_error_naming(PairCells("model", rna = rna, atac = atac), "`model_or_bridge`")
  expect_error_naming(PairCells(rna, rna = rna, atac = atac), "`object`",
                      "holds no scPairing model")
  expect_error_naming(PairCells(model, rna = matrix(1), atac = atac), "`rna`",
                      "must be a Seurat object")
  expect_error_naming(PairCells(model, rna = rna, atac = NULL), "`atac`",
                      "must be a Seurat object")
  for (bad in list("high", NA_real_, c(0.1, 0.2), Inf, NULL, TRUE)) {
    expect_error_naming(PairCells(model, rna = rna, atac = atac, cutoff = bad), "`cutoff`",
                        "single number in \\[-1, 1\\]")
  }
  expect_error_naming(PairCells(model, rna = rna, atac = atac, assays = c(RNA = 1)),
                      "`assays`", "named character vector")
  expect_error_naming(PairCells(model, rna = rna, atac = atac, assays = c(Spatial = "RNA")),
                      "`assays`", "unknown modality")
  expect_error_naming(PairCells(model, rna = rna, atac = atac, assays = c(ATAC = "peaks")),
                      "`atac`", "Assay 'peaks' \\(peak counts of the paired object\\) not found")
  expect_error_naming(PairCells(model, rna = rna, atac = atac, assays = c(RNA = "nope")),
                      "`rna`", "Assay 'nope'")
  expect_error_naming(PairCells(model, rna = rna, atac = atac, cutoff = 0.5, assays = NULL,
                                "exact"), "`...`", "must be named")

  expect_error_naming(ProjectScPairing(rna, "model", modality = "RNA"), "`model_or_bridge`")
  expect_error_naming(ProjectScPairing(rna, model, modality = 5), "`modality`")
  expect_error_naming(ProjectScPairing(rna, model, modality = c("RNA", "ATAC")), "`modality`")
  expect_error_naming(ProjectScPairing(rna, model, modality = "Spatial"), "`modality`",
                      "unknown modality")
  expect_error_naming(ProjectScPairing(matrix(1), model, modality = "RNA"), "`object`",
                      "must be a Seurat object")
  expect_error_naming(ProjectScPairing(rna, model, modality = "ADT"), "protein",
                      "The model has no protein modality")
  expect_error_naming(ProjectScPairing(rna, model, modality = "ATAC"), "`object`",
                      "Assay 'peaks' \\(atac counts\\) not found")
  expect_error_naming(ProjectScPairing(rna, model, modality = "RNA", assay = 3), "`assay`",
                      "must name one assay")
})

test_that("conversion and model-file helpers: wrong types and values are named", {
  object <- pbmc()
  expect_error_naming(SeuratToAnnData(matrix(1:4, 2)), "`object`", "must be a Seurat object")
  expect_error_naming(SeuratToAnnData(object, assay = 5), "`assay`", "must name one assay")
  expect_error_naming(SeuratToAnnData(object, assay = "peaks"), "`object`",
                      "Assay 'peaks' .* not found")
  expect_error_naming(SeuratToAnnData(object, reductions = "umap"), "`object`",
                      "Reduction 'umap' .* not found")
  expect_error_naming(SeuratToAnnData(object, reductions = 1), "`reductions`")
  expect_error_naming(SeuratToAnnData(object, peaks = "yes"), "`peaks`", "TRUE or FALSE")
  expect_error_naming(AnnDataToSeurat(object), "`adata`", "must be a Python AnnData object")
  expect_error_naming(AnnDataToSeurat(list()), "`adata`")

  model <- fake_model()
  expect_error_naming(SaveScPairingModel(list(), "m.pt"), "`model`", "scPairingModel")
  expect_error_naming(SaveScPairingModel(model, 5), "`path`", "file path")
  expect_error_naming(SaveScPairingModel(model, NA_character_), "`path`")
  expect_error_naming(SaveScPairingModel(model, tempdir()), "`path`", "is a directory")
  expect_error_naming(SaveScPairingModel(model, file.path(tempdir(), "no", "such", "m.pt")),
                      "`path`", "does not exist")
  expect_error_naming(LoadScPairingModel(file.path(tempdir(), "missing.pt")), "`path`",
                      "existing model file")
  expect_error_naming(LoadScPairingModel(tempdir()), "`path`")
  expect_error_naming(LoadScPairingModel(c("a", "b")), "`path`")
  file <- withr::local_tempfile(fileext = ".pt")
  writeLines("not a model", file)
  expect_error_naming(LoadScPairingModel(file, assays = 5), "`assays`")
  expect_error_naming(GetScPairingModel(list()), "`object`", "must be a Seurat object")
  expect_error_naming(GetScPairingModel(object), "`object`", "holds no scPairing model")
})

test_that("errors from the Python core arrive short, prefixed and naming the argument", {
  skip_if_no_scpairing()
  object <- pbmc()
  ok <- c(RNA = "pca", ATAC = "tsne")
  error <- expect_error_naming(RunScPairing(object, reductions = ok, seed = -1, verbose = FALSE),
                               "`seed`", "^RunScPairing: ValueError: ")
  expect_s3_class(error, "scPairing_python_error")
  # A seed beyond R's integer range reaches Python exactly (as an int) and is checked there.
  expect_error_naming(RunScPairing(object, reductions = ok, seed = 2^40, verbose = FALSE),
                      "`seed`", "ValueError")
  expect_error_naming(RunScPairing(object, reductions = ok, latent.dim = 1, verbose = FALSE),
                      "`latent_dim`", "^RunScPairing: ValueError: ")
  expect_error_naming(RunScPairing(object, reductions = ok, max.epochs = 1, verbose = FALSE,
                                   batch.size = 0),
                      "`batch_size`", "^RunScPairing.*Error: ")
  expect_error_naming(RunScPairing(object, reductions = ok, max.epochs = 1, verbose = FALSE,
                                   no.such.option = 1),
                      "no_such_option", "unknown options")
  expect_error_naming(RunScPairing(object, reductions = ok, assays = NULL, batch = NULL,
                                   latent.dim = 10, seed = 0, max.epochs = 1, verbose = FALSE, 5),
                      "`...`", "must be named")
  expect_error_naming(RunScPairing(object, reductions = ok, max.epochs = 1, verbose = FALSE,
                                   dropout = 1.5), "`dropout`", "^RunScPairing: ValueError: ")
  file <- withr::local_tempfile(fileext = ".pt")
  writeLines("not a model", file)
  error <- expect_error_naming(LoadScPairingModel(file), "`path`",
                               "^LoadScPairingModel: ValueError: .*not a readable scpairing")
  # The load error never passes on torch's advice to unpickle an untrusted file.
  expect_no_match(conditionMessage(error), "weights_only=False")
  expect_false(grepl("\n", conditionMessage(error)))
})

test_that("PairCells: Python-side checks of the options arrive readable", {
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  pair <- function(...) {
    PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query, ...)
  }
  expect_error_naming(pair(cutoff = 2), "`cutoff`", "^PairCells: ValueError: .*\\[-1, 1\\]")
  expect_error_naming(pair(method = "bogus"), "`method`", "^PairCells: ValueError: ")
  expect_error_naming(pair(k = 2.5), "`k`", "^PairCells: ")
  expect_error_naming(pair(no_such_option = 1), "no_such_option", "^PairCells: TypeError: ")
  expect_error_naming(
    PairCells(fixture$bridge, rna = fixture$atac_query, atac = fixture$atac_query),
    "`rna`", "Assay 'RNA' \\(RNA counts of the paired object\\) not found"
  )
  expect_error_naming(pair(cutoff = 0.999999), "`cutoff`", "No pair reached")
})

test_that("RunScPairing leaves R's and torch's random state as they were, and records threads", {
  skip_if_no_scpairing()
  torch <- reticulate::import("torch", convert = FALSE)
  set.seed(42)
  r_before <- .Random.seed
  torch$manual_seed(7L)
  torch_before <- torch$get_rng_state()
  bridge <- RunScPairing(pbmc(), reductions = c(RNA = "pca", ATAC = "tsne"), max.epochs = 1,
                         verbose = FALSE)
  expect_identical(.Random.seed, r_before)
  expect_true(reticulate::py_to_r(torch$equal(torch$get_rng_state(), torch_before)))
  model <- GetScPairingModel(bridge)
  expect_equal(model$reproducibility$torch_threads,
               reticulate::py_to_r(torch$get_num_threads()))
  expect_equal(model$reproducibility$seed, 0)
  expect_output(print(model), "seed 0, trained with [0-9]+ torch thread\\(s\\) on cpu")
})
