# RNA + protein and all three modalities from R, through the Python core's pairing.

# A protein panel for the tests: 40 genes' real counts renamed as antibodies (the fixture holds
# no ADT); the panel is chosen on the bridge and read the same way from any object.
adt_assay <- function(object, panel) {
  counts <- SeuratObject::GetAssayData(object, slot = "counts", assay = "RNA")[panel, ]
  rownames(counts) <- paste0("adt-", panel)
  SeuratObject::CreateAssayObject(counts = counts)
}

with_protein <- function() {
  fixture <- load_fixture()
  totals <- Matrix::rowSums(SeuratObject::GetAssayData(fixture$bridge, slot = "counts"))
  panel <- names(sort(totals, decreasing = TRUE))[1:40]
  fixture$bridge[["ADT"]] <- adt_assay(fixture$bridge, panel)
  fixture$protein_query <- SeuratObject::CreateSeuratObject(
    SeuratObject::GetAssayData(adt_assay(fixture$rna_query, panel), slot = "counts"),
    assay = "ADT"
  )
  fixture
}

expect_paired_layout <- function(paired, queries, assays) {
  expect_setequal(SeuratObject::Assays(paired), assays)
  meta <- paired[[]]
  unpaired <- SeuratObject::Misc(paired, "scPairing_unpaired")
  for (modality in names(queries)) {
    cells <- meta[[paste0(modality, "_cell")]]
    expect_false(anyDuplicated(cells) > 0)
    expect_setequal(c(cells, unpaired[[modality]]), colnames(queries[[modality]]))
    z <- SeuratObject::Embeddings(paired, paste0("scpairing.", modality))
    expect_equal(unname(sqrt(rowSums(z^2))), rep(1, ncol(paired)), tolerance = 1e-5)
  }
  expect_true(all(meta$confidence >= 0 & meta$confidence <= 1))
  expect_equal(SeuratObject::Misc(paired, "scPairing_pairing")$objective, sum(meta$similarity),
               tolerance = 1e-5)
}

test_that("PairCells pairs RNA with protein", {
  skip_if_no_scpairing()
  fixture <- with_protein()
  bridge <- suppressWarnings(RunScPairing(fixture$bridge, reductions = NULL,
                                          assays = c(RNA = "RNA", ADT = "ADT"),
                                          latent.dim = 8, max.epochs = 3, verbose = FALSE))
  expect_equal(GetScPairingModel(bridge)$spec$modality, c("rna", "protein"))
  queries <- list(rna = fixture$rna_query, protein = fixture$protein_query)
  paired <- suppressWarnings(PairCells(bridge, rna = queries$rna, protein = queries$protein,
                                       cutoff = 0))
  expect_paired_layout(paired, queries, c("RNA", "ADT"))
  expect_true(all(grepl("^adt-", rownames(paired[["ADT"]]))))
  expect_error(PairCells(bridge, rna = queries$rna), "`protein` must be a Seurat object")
  expect_error(suppressWarnings(PairCells(bridge, rna = queries$rna, atac = fixture$atac_query)),
               "no atac modality")
})

test_that("PairCells pairs RNA, ATAC and protein into one object", {
  skip_if_no_scpairing()
  fixture <- with_protein()
  bridge <- suppressWarnings(RunScPairing(
    fixture$bridge, reductions = NULL, assays = c(RNA = "RNA", ATAC = "peaks", ADT = "ADT"),
    latent.dim = 8,
    max.epochs = 3, verbose = FALSE
  ))
  queries <- list(rna = fixture$rna_query, atac = fixture$atac_query,
                  protein = fixture$protein_query)
  paired <- suppressWarnings(PairCells(bridge, rna = queries$rna, atac = queries$atac,
                                       protein = queries$protein, cutoff = 0))
  expect_paired_layout(paired, queries, c("RNA", "peaks", "ADT"))
  expect_gt(ncol(paired), 0)
})
