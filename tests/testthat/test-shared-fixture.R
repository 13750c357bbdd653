# The shared fixture from R and from Python (a separate process) gives the same results.

test_that("a Python-trained model embeds and pairs the fixture identically from R", {
  skip_if_no_scpairing()
  reference <- python_reference()
  fixture <- load_fixture()
  atol <- fixture$settings$atol
  model <- LoadScPairingModel(file.path(reference, "model.pt"))
  expect_equal(model$spec$modality, c("rna", "atac"))
  for (modality in c("rna", "atac")) {
    projected <- ProjectScPairing(fixture$bridge, model, modality = modality)
    z_r <- SeuratObject::Embeddings(projected, paste0("scpairing.", modality))
    z_py <- read_embedding(file.path(reference, paste0("bridge_z_", modality, ".csv")))
    expect_equal(rownames(z_r), rownames(z_py))
    expect_lt(max(abs(unname(z_r) - unname(z_py))), atol)
  }
  paired <- PairCells(model, rna = fixture$rna_query, atac = fixture$atac_query,
                      cutoff = fixture$settings$cutoff)
  pairs_py <- utils::read.csv(file.path(reference, "pairs.csv"), row.names = 1)
  pairs_r <- paired[[]][, c("rna_cell", "atac_cell", "similarity")]
  expect_equal(rownames(pairs_r), rownames(pairs_py))
  expect_equal(pairs_r$rna_cell, pairs_py$rna_cell)
  expect_equal(pairs_r$atac_cell, pairs_py$atac_cell)
  expect_lt(max(abs(pairs_r$similarity - pairs_py$similarity)), atol)
})

test_that("training from R and from Python on the fixture agree", {
  skip_if_no_scpairing()
  reference <- python_reference()
  fixture <- trained_fixture()
  for (modality in c("rna", "atac")) {
    z_r <- SeuratObject::Embeddings(fixture$bridge, paste0("scpairing.", modality))
    z_py <- read_embedding(file.path(reference, paste0("bridge_z_", modality, ".csv")))
    expect_equal(rownames(z_r), rownames(z_py))
    # Same seed and inputs; floating-point summation order differs between the two host
    # processes, so agreement is to a tolerance, not bit for bit.
    cosine <- rowSums(unname(z_r) * unname(z_py))
    expect_gt(min(cosine), fixture$settings$train_min_cosine)
  }
})
