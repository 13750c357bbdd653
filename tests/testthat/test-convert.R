# Seurat <-> AnnData in memory, sparse kept sparse, peak names.

test_that("StandardizePeakNames writes chr-start-end", {
  expect_equal(
    StandardizePeakNames(c("chr1:100-200", "chr2_300_400", "chrX-5-10", "chrUn_JH584304:1-9",
                           "Gapdh")),
    c("chr1-100-200", "chr2-300-400", "chrX-5-10", "chrUn_JH584304-1-9", "Gapdh")
  )
})

test_that("StandardizePeakNames follows the Python core's grammar (shared fixture)", {
  path <- testthat::test_path("..", "fixtures", "peak_names.tsv")
  table <- utils::read.delim(path, colClasses = "character")
  expect_equal(StandardizePeakNames(table$name), table$signac)
  expect_true(is.na(StandardizePeakNames(NA_character_)))
})

test_that("Seurat -> AnnData -> Seurat keeps counts, metadata and reductions", {
  skip_if_no_scpairing()
  object <- SeuratObject::pbmc_small
  adata <- SeuratToAnnData(object, assay = "RNA", reductions = "pca")
  sp <- reticulate::import("scipy.sparse", convert = FALSE)
  expect_true(reticulate::py_to_r(sp$issparse(adata$X)))
  expect_true(reticulate::py_to_r(adata$X$data$flags$writeable))
  expect_equal(reticulate::py_to_r(adata$shape), list(ncol(object), nrow(object)))
  expect_equal(unlist(reticulate::py_to_r(adata$obsm$get("X_pca")$shape)),
               dim(SeuratObject::Embeddings(object, "pca")))

  back <- AnnDataToSeurat(adata, assay = "RNA")
  counts <- SeuratObject::GetAssayData(object, slot = "counts", assay = "RNA")
  expect_equal(SeuratObject::GetAssayData(back, slot = "counts", assay = "RNA"), counts)
  expect_equal(back$groups, object$groups)
  expect_equal(unname(SeuratObject::Embeddings(back, "pca")),
               unname(SeuratObject::Embeddings(object, "pca")), tolerance = 1e-6)
})

test_that("AnnData from Python converts to Seurat with peaks renamed", {
  skip_if_no_scpairing()
  ad <- reticulate::import("anndata", convert = FALSE)
  np <- reticulate::import("numpy", convert = FALSE)
  pd <- reticulate::import("pandas", convert = FALSE)
  x <- matrix(c(0, 1, 2, 0, 0, 3), nrow = 2)  # 2 cells x 3 peaks
  adata <- ad$AnnData(X = np$array(x), obs = pd$DataFrame(index = list("c1", "c2")),
                      var = pd$DataFrame(index = list("chr1:1-10", "chr1:20-30", "chr2_5_9")))
  object <- AnnDataToSeurat(adata, assay = "peaks", peaks = TRUE)
  counts <- SeuratObject::GetAssayData(object, slot = "counts", assay = "peaks")
  expect_s4_class(counts, "dgCMatrix")
  expect_equal(rownames(counts), c("chr1-1-10", "chr1-20-30", "chr2-5-9"))
  expect_equal(unname(as.matrix(counts)), t(x))
  expect_error(AnnDataToSeurat(x), "must be a Python AnnData")
})

test_that("AnnDataToSeurat takes an AnnData from reticulate's default conversion", {
  skip_if_no_scpairing()
  ad <- reticulate::import("anndata")
  np <- reticulate::import("numpy")
  adata <- ad$AnnData(X = np$array(matrix(c(0, 1, 2, 0, 0, 3), nrow = 2)))
  adata$var_names <- c("chr1:100-200", "chr1:300-400", "chr2:5-9")
  object <- AnnDataToSeurat(adata, assay = "peaks", peaks = TRUE)
  expect_equal(rownames(object), c("chr1-100-200", "chr1-300-400", "chr2-5-9"))
  expect_equal(unname(as.matrix(scPairing:::.assay_counts(object, "peaks"))),
               t(matrix(c(0, 1, 2, 0, 0, 3), nrow = 2)))
})
