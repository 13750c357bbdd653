# End to end on the shared fixture: RunScPairing -> saveRDS/readRDS -> PairCells.

test_that("RunScPairing adds unit-norm keyed DimReducs and a stored model", {
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  bridge <- fixture$bridge
  for (name in c("scpairing.rna", "scpairing.atac")) {
    expect_true(name %in% SeuratObject::Reductions(bridge))
    z <- SeuratObject::Embeddings(bridge, name)
    expect_equal(dim(z), c(ncol(bridge), fixture$settings$latent_dim))
    expect_equal(rownames(z), colnames(bridge))
    expect_equal(unname(sqrt(rowSums(z^2))), rep(1, ncol(bridge)), tolerance = 1e-5)
    expect_match(SeuratObject::Key(bridge[[name]]), "^scpairing(rna|atac)_$")
  }
  expect_equal(SeuratObject::DefaultAssay(bridge[["scpairing.atac"]]), "peaks")
  model <- GetScPairingModel(bridge)
  expect_s3_class(model, "scPairingModel")
  expect_equal(model$spec$modality, c("rna", "atac"))
  expect_gt(length(model$bytes), 1000)
  expect_output(print(model), "counts of assay 'peaks'")
  # Paired cells are closer to each other than to other cells.
  z_rna <- SeuratObject::Embeddings(bridge, "scpairing.rna")
  z_atac <- SeuratObject::Embeddings(bridge, "scpairing.atac")
  similarity <- z_rna %*% t(z_atac)
  expect_gt(mean(diag(similarity)), mean(similarity) + 0.1)
})

test_that("the stored model survives saveRDS/readRDS and pairs the query", {
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fixture$bridge, path)
  bridge <- readRDS(path)
  model <- GetScPairingModel(bridge)
  expect_true(reticulate::py_is_null_xptr(model$cache$py))

  paired <- PairCells(bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                      cutoff = fixture$settings$cutoff)
  expect_false(reticulate::py_is_null_xptr(model$cache$py))
  expect_setequal(SeuratObject::Assays(paired), c("RNA", "peaks"))
  expect_match(colnames(paired), "^pair_[0-9]+$")
  expect_true(all(grepl("^chr[^-]+-[0-9]+-[0-9]+$", rownames(paired[["peaks"]]))))
  meta <- paired[[]]
  expect_true(all(c("rna_cell", "atac_cell", "similarity", "rna_cell_type", "atac_cell_type",
                    "rna_batch", "atac_batch") %in% names(meta)))
  expect_true(all(meta$similarity >= fixture$settings$cutoff))
  expect_true(is.numeric(meta$confidence) && all(meta$confidence >= 0 & meta$confidence <= 1))
  expect_false(anyDuplicated(meta$rna_cell) > 0)
  expect_false(anyDuplicated(meta$atac_cell) > 0)
  # Counts are the source cells' counts.
  first <- meta$rna_cell[1]
  expect_equal(unname(SeuratObject::GetAssayData(paired, slot = "counts", assay = "RNA")[, 1]),
               unname(SeuratObject::GetAssayData(fixture$rna_query, slot = "counts")[, first]))
  # Every query cell is paired or listed as unpaired.
  unpaired <- SeuratObject::Misc(paired, "scPairing_unpaired")
  expect_setequal(c(meta$rna_cell, unpaired$rna), colnames(fixture$rna_query))
  expect_setequal(c(meta$atac_cell, unpaired$atac), colnames(fixture$atac_query))
  # The provenance Python's bridge_pair records, from the same pairing result.
  provenance <- SeuratObject::Misc(paired, "scPairing_pairing")
  expect_equal(provenance$cutoff, fixture$settings$cutoff)
  expect_equal(provenance$objective, sum(meta$similarity), tolerance = 1e-6)
  expect_true(provenance$method %in% c("exact", "sparse"))
  # Even after a few epochs, pairs agree on cell type more often than chance.
  type_match <- mean(meta$rna_cell_type == meta$atac_cell_type)
  chance <- sum(prop.table(table(fixture$rna_query$cell_type))^2)
  expect_gt(type_match, chance)
  z <- SeuratObject::Embeddings(paired, "scpairing.rna")
  expect_equal(dim(z), c(ncol(paired), fixture$settings$latent_dim))
})

test_that("training on Seurat reductions needs the same reductions in the queries", {
  skip_if_no_scpairing()
  skip_if_not_installed("Seurat")
  fixture <- load_fixture()
  # One PCA/'LSI' space for all cells, then bridge and query halves of it.
  rna <- SeuratObject::CreateSeuratObject(
    cbind(SeuratObject::GetAssayData(fixture$bridge, slot = "counts", assay = "RNA"),
          SeuratObject::GetAssayData(fixture$rna_query, slot = "counts")))
  atac <- SeuratObject::CreateSeuratObject(
    cbind(SeuratObject::GetAssayData(fixture$bridge, slot = "counts", assay = "peaks"),
          SeuratObject::GetAssayData(fixture$atac_query, slot = "counts")), assay = "peaks")
  reduce <- function(object, name) {
    object <- Seurat::NormalizeData(object, verbose = FALSE)
    object <- Seurat::ScaleData(object, features = rownames(object), verbose = FALSE)
    Seurat::RunPCA(object, features = rownames(object), npcs = 20, reduction.name = name,
                   reduction.key = paste0(toupper(name), "_"), verbose = FALSE)
  }
  rna <- reduce(rna, "pca")
  atac <- reduce(atac, "lsi")
  in_bridge <- colnames(rna) %in% colnames(fixture$bridge)
  bridge <- subset(rna, cells = colnames(rna)[in_bridge])
  bridge[["peaks"]] <- subset(atac, cells = colnames(bridge))[["peaks"]]
  bridge[["lsi"]] <- subset(atac, cells = colnames(bridge))[["lsi"]]

  bridge <- RunScPairing(bridge, reductions = c(RNA = "pca", ATAC = "lsi"), latent.dim = 8,
                         max.epochs = 3, verbose = FALSE)
  expect_equal(GetScPairingModel(bridge)$spec$input.dims, c(20L, 20L))
  rna_query <- subset(rna, cells = colnames(rna)[!in_bridge])
  atac_query <- subset(atac, cells = colnames(atac)[!in_bridge])
  paired <- PairCells(bridge, rna = rna_query, atac = atac_query, cutoff = 0)
  unpaired <- SeuratObject::Misc(paired, "scPairing_unpaired")
  expect_setequal(c(paired$rna_cell, unpaired$rna), colnames(rna_query))
  expect_gt(ncol(paired), 0.5 * ncol(rna_query))

  atac_query[["lsi"]] <- NULL
  expect_error(PairCells(bridge, rna = rna_query, atac = atac_query),
               "Reduction 'lsi' .*needs it in the same space.* not found in `atac`")
  small <- SeuratObject::CreateDimReducObject(
    SeuratObject::Embeddings(rna_query, "pca")[, 1:5], key = "LSI_", assay = "peaks")
  atac_query[["lsi"]] <- small
  expect_error(PairCells(bridge, rna = rna_query, atac = atac_query),
               "'lsi' of `atac` has 5 dimensions but the model was trained on 20")
  # A model saved with the old `dims` column reads its reductions' dimensions from it.
  old <- GetScPairingModel(bridge)
  names(old$spec)[names(old$spec) == "input.dims"] <- "dims"
  expect_error(PairCells(old, rna = rna_query, atac = atac_query),
               "'lsi' of `atac` has 5 dimensions but the model was trained on 20")
})

test_that("input.dims is the encoder's input width; models saved with `dims` still work", {
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  model <- GetScPairingModel(fixture$bridge)
  py_dims <- reticulate::py_to_r(scPairing:::.py_model(model)$input_dims)
  expect_equal(model$spec$input.dims, unname(unlist(py_dims[model$spec$modality])))
  expect_null(model$spec$dims)
  expect_output(print(model), sprintf("counts of assay 'RNA' \\(%d input dims\\)",
                                      model$spec$input.dims[1]))
  # Before input.dims, R wrote the assay's number of features here for counts-trained rows.
  old <- model
  old$spec$input.dims <- NULL
  old$spec$dims <- c(nrow(fixture$bridge[["RNA"]]), nrow(fixture$bridge[["peaks"]]))
  upgraded <- scPairing:::.as_model(old)
  expect_equal(upgraded$spec$input.dims, c(NA_integer_, NA_integer_))
  expect_null(upgraded$spec$dims)
  printed <- capture.output(print(old))
  expect_true(any(grepl("counts of assay 'RNA'$", printed)))
  expect_false(any(grepl("input dims", printed)))
  paired <- quiet_pair(old, rna = fixture$rna_query, atac = fixture$atac_query,
                       cutoff = fixture$settings$cutoff)
  expect_gt(ncol(paired), 0)
})

test_that("`...` reaches the Python model and training by name", {
  skip_if_no_scpairing()
  object <- SeuratObject::pbmc_small
  expect_equal(scPairing:::.py_args(list(k = 50, lr = 0.5, groups = c(1, 2))),
               list(k = 50L, lr = 0.5, groups = c(1, 2)))
  expect_message(
    trained <- RunScPairing(object, reductions = c(RNA = "pca", ATAC = "tsne"), max.epochs = 1,
                            n.hidden = 16, batch.size = 32, verbose = TRUE),
    "training on cpu|training on cuda"
  )
  py_model <- scPairing:::.py_model(GetScPairingModel(trained))
  expect_equal(reticulate::py_to_r(py_model$config)$n_hidden, 16L)
  expect_equal(reticulate::py_to_r(py_model$history$`__len__`()), 1L)
})

test_that("PairCells(adapt = TRUE) pairs with a copy adapted to the queries", {
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(fixture$bridge, path)
  bridge <- readRDS(path)  # the model is loaded from its bytes: it does not hold its bridge
  model <- GetScPairingModel(bridge)
  expect_error(PairCells(model, rna = fixture$rna_query, atac = fixture$atac_query,
                         adapt = TRUE), "needs the bridge.*RunScPairing", class = "error")
  expect_error(PairCells(bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         adapt = "yes"), "`adapt`")
  plain <- quiet_pair(bridge, rna = fixture$rna_query, atac = fixture$atac_query, cutoff = 0)
  adapted <- withCallingHandlers(
    quiet_pair(bridge, rna = fixture$rna_query, atac = fixture$atac_query, cutoff = 0,
               adapt = TRUE),
    warning = function(w) {
      if (grepl("validation got worse|too small to generalise", conditionMessage(w))) {
        invokeRestart("muffleWarning")
      }
    })
  provenance <- SeuratObject::Misc(adapted, "scPairing_pairing")
  expect_true(is.logical(provenance$adapted))
  expect_false(SeuratObject::Misc(plain, "scPairing_pairing")$adapted)
  # Every query cell is still paired or reported unpaired.
  unpaired <- SeuratObject::Misc(adapted, "scPairing_unpaired")
  expect_setequal(c(adapted$rna_cell, unpaired$rna), colnames(fixture$rna_query))
  if (isTRUE(provenance$adapted)) {
    expect_false(isTRUE(all.equal(sum(adapted$similarity), sum(plain$similarity))))
  }
})
