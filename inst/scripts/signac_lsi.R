# An LSI of a peaks assay as Signac computes it: RunTFIDF(method = 1) then RunSVD on the
# `n.features` peaks with the most counts, embeddings scaled per component. With Signac
# installed its own functions run; otherwise the same arithmetic in base R (Matrix, irlba).
# Shared by the vignette, tests/testthat/test-projection.R and benchmarks/bench_projection.R:
#   source(system.file("scripts", "signac_lsi.R", package = "scPairing"))
signac_style_lsi <- function(object, assay = "peaks", n = 20, n.features = 2000,
                             reduction.name = "lsi",
                             use.signac = requireNamespace("Signac", quietly = TRUE)) {
  counts <- scPairing:::.assay_counts(object, assay)
  top <- rownames(counts)[order(-Matrix::rowSums(counts))][seq_len(min(n.features,
                                                                       nrow(counts)))]
  key <- paste0(toupper(reduction.name), "_")
  if (use.signac) {
    # Peaks without counts (in a subset of cells) get TF-IDF 0, as below; Signac warns.
    object <- withCallingHandlers(
      Signac::RunTFIDF(object, assay = assay, method = 1, verbose = FALSE),
      warning = function(w) {
        if (grepl("0 total counts", conditionMessage(w))) invokeRestart("muffleWarning")
      })
    return(Signac::RunSVD(object, assay = assay, features = top, n = n,
                          reduction.name = reduction.name, reduction.key = key,
                          verbose = FALSE))
  }
  # TF: counts over each cell's total; IDF: cells over each peak's total; log1p(1e4 * TF-IDF).
  tf <- Matrix::tcrossprod(counts, Matrix::Diagonal(x = 1 / Matrix::colSums(counts)))
  tfidf <- methods::as(Matrix::Diagonal(x = ncol(counts) / Matrix::rowSums(counts)) %*% tf,
                       "CsparseMatrix")
  tfidf@x <- log1p(tfidf@x * 1e4)
  tfidf@x[is.na(tfidf@x)] <- 0
  dimnames(tfidf) <- dimnames(counts)
  svd <- irlba::irlba(Matrix::t(tfidf[top, ]), nv = n, tol = 1e-5)
  embeddings <- t((t(svd$u) - colMeans(svd$u)) / apply(svd$u, 2, stats::sd))
  dimnames(embeddings) <- list(colnames(object), paste0(key, seq_len(n)))
  loadings <- svd$v
  dimnames(loadings) <- list(top, paste0(key, seq_len(n)))
  object[[reduction.name]] <- SeuratObject::CreateDimReducObject(
    embeddings = embeddings, loadings = loadings, assay = assay, key = key,
    stdev = svd$d / sqrt(max(1, nrow(tfidf) - 1)))
  object
}
