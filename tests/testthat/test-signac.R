# The paired object as Seurat and Signac users read it: identities, feature metadata, empty
# features, and (where Signac is installed) a ChromatinAssay that keeps what the ATAC query's
# had, with fragments re-keyed to the pairs, on which LinkPeaks and CoveragePlot run.

peak_counts <- function(object) {
  scPairing:::.assay_counts(object, "peaks")
}

test_that("paired identities, orig.ident, default assay, feature metadata and drop.empty", {
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  rna <- fixture$rna_query
  SeuratObject::Idents(rna) <- "cell_type"
  lengths <- data.frame(gene_length = seq_len(nrow(rna)), row.names = rownames(rna))
  rna[["RNA"]] <- SeuratObject::AddMetaData(rna[["RNA"]], lengths)
  paired <- quiet_pair(fixture$bridge, rna = rna, atac = fixture$atac_query,
                       cutoff = fixture$settings$cutoff)
  expect_equal(as.character(SeuratObject::Idents(paired)),
               unname(rna$cell_type[paired$rna_cell]))
  expect_equal(names(SeuratObject::Idents(paired)), colnames(paired))
  expect_true(all(paired$orig.ident == "scPairing"))
  expect_equal(SeuratObject::DefaultAssay(paired), "RNA")
  expect_equal(paired[["RNA"]][[]]$gene_length, lengths$gene_length)
  # Every query feature is kept by default, features without counts in the pairs included.
  counts <- peak_counts(paired)
  expect_equal(rownames(counts), StandardizePeakNames(rownames(fixture$atac_query)))
  empty <- Matrix::rowSums(counts) == 0
  expect_gt(sum(empty), 0)

  dropped <- quiet_pair(fixture$bridge, rna = rna, atac = fixture$atac_query,
                        cutoff = fixture$settings$cutoff, drop.empty = TRUE)
  expect_equal(dropped$atac_cell, paired$atac_cell)
  expect_equal(rownames(peak_counts(dropped)), rownames(counts)[!empty])
  expect_equal(unname(peak_counts(dropped)), unname(counts[!empty, ]))
  rna_counts <- scPairing:::.assay_counts(paired, "RNA")
  expect_equal(rownames(dropped[["RNA"]]), rownames(rna_counts)[Matrix::rowSums(rna_counts) > 0])
  expect_equal(dropped[["RNA"]][[]]$gene_length,
               lengths$gene_length[Matrix::rowSums(rna_counts) > 0])

  expect_error(PairCells(fixture$bridge, rna = rna, atac = fixture$atac_query,
                         drop.empty = "yes"), "`drop.empty` must be TRUE or FALSE")
  expect_error(PairCells(fixture$bridge, rna = rna, protein = rna, genome = "mm10"),
               "`genome` and `annotation` describe the peaks of the ATAC query: give `atac`")
})

test_that("without Signac the peaks are a plain Assay and Signac-only options are refused", {
  skip_if(requireNamespace("Signac", quietly = TRUE), "Signac is installed")
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  paired <- quiet_pair(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                       cutoff = fixture$settings$cutoff)
  expect_identical(class(paired[["peaks"]])[1], "Assay")
  expect_error(PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         genome = "mm10"), "`genome` .*Signac is not installed")
  expect_error(PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         annotation = list()), "`annotation` .*Signac is not installed")
})

# ---- Signac present ----

skip_if_no_signac <- function() {
  skip_if_not(requireNamespace("Signac", quietly = TRUE),
              "Signac is not installed: ChromatinAssay, LinkPeaks and CoveragePlot checks skipped")
  for (package in c("GenomicRanges", "GenomeInfoDb", "IRanges", "Rsamtools", "qlcMatrix")) {
    skip_if_not_installed(package)
  }
}

peak_ranges <- function(peaks) {
  parts <- do.call(rbind, strsplit(sub("^(.+)-([0-9]+)-([0-9]+)$", "\\1 \\2 \\3", peaks), " "))
  GenomicRanges::GRanges(parts[, 1], IRanges::IRanges(as.numeric(parts[, 2]),
                                                      as.numeric(parts[, 3])))
}

# Gene coordinates from the bundled data, with no EnsDb: its gene-peak links assign every
# peak to one gene, and a gene spans the peaks assigned to it (strand unknown: "+").
fixture_gene_annotation <- function() {
  scp <- reticulate::import("scpairing", convert = FALSE)
  data <- scp$datasets$snareseq2_mop()
  names_of <- function(i) {
    as.character(reticulate::py_to_r(reticulate::py_get_item(data, i)$var_names$tolist()))
  }
  genes <- names_of(0L)
  peaks <- StandardizePeakNames(names_of(1L))
  links <- Matrix::summary(scPairing:::.sparse_from_py(scp$datasets$snareseq2_mop_links(),
                                                       peaks, genes))
  ranges <- peak_ranges(peaks)[links$i]
  table <- data.frame(gene = genes[links$j], chr = as.character(GenomicRanges::seqnames(ranges)),
                      start = GenomicRanges::start(ranges), end = GenomicRanges::end(ranges))
  table <- table[table$chr == ave(table$chr, table$gene, FUN = function(x) x[1]), ]
  spans <- merge(stats::aggregate(start ~ gene + chr, table, min),
                 stats::aggregate(end ~ gene + chr, table, max))
  GenomicRanges::GRanges(spans$chr, IRanges::IRanges(spans$start, spans$end), strand = "+",
                         gene_name = spans$gene, gene_id = spans$gene,
                         gene_biotype = "protein_coding", type = "gene", tx_id = spans$gene)
}

# The ATAC query as a Signac user holds it: a ChromatinAssay with a genome, an annotation,
# per-peak sequence statistics, motifs, links and a fragment file (written here from its
# counts, barcodes BC1, BC2, ... unlike the cell names).
chromatin_query <- function(fixture, annotation, dir) {
  atac <- fixture$atac_query
  counts <- scPairing:::.assay_counts(atac, "peaks")
  rownames(counts) <- StandardizePeakNames(rownames(counts))
  ranges <- peak_ranges(rownames(counts))
  chromosomes <- unique(as.character(GenomicRanges::seqnames(ranges)))
  genome <- GenomeInfoDb::Seqinfo(chromosomes, rep(2e8, length(chromosomes)),
                                  genome = rep("mm10", length(chromosomes)))
  triplets <- Matrix::summary(counts)
  barcodes <- paste0("BC", seq_len(ncol(counts)))
  fragments <- data.frame(chr = as.character(GenomicRanges::seqnames(ranges))[triplets$i],
                          start = GenomicRanges::start(ranges)[triplets$i],
                          end = GenomicRanges::start(ranges)[triplets$i] + 50L,
                          barcode = barcodes[triplets$j], count = triplets$x)
  fragments <- fragments[order(fragments$chr, fragments$start), ]
  tsv <- file.path(dir, "fragments.tsv")
  utils::write.table(fragments, tsv, sep = "\t", quote = FALSE, row.names = FALSE,
                     col.names = FALSE)
  path <- Rsamtools::bgzip(tsv, paste0(tsv, ".gz"))
  Rsamtools::indexTabix(path, format = "bed")
  motifs <- Signac::CreateMotifObject(data = Matrix::sparseMatrix(
    i = seq(1, nrow(counts), by = 7), j = rep(1, length(seq(1, nrow(counts), by = 7))), x = 1,
    dims = c(nrow(counts), 1), dimnames = list(rownames(counts), "MA0001.1")))
  assay <- Signac::CreateChromatinAssay(
    counts, genome = genome, annotation = annotation, motifs = motifs, verbose = FALSE,
    fragments = Signac::CreateFragmentObject(path, cells = stats::setNames(barcodes, colnames(atac)),
                                             verbose = FALSE))
  # Stand-ins for RegionStats(), which needs the genome sequence (BSgenome): a constant GC
  # content, so LinkPeaks' background peaks are matched on length and accessibility.
  stats_table <- data.frame(GC.percent = 0.5, sequence.length = GenomicRanges::width(ranges),
                            row.names = rownames(counts))
  assay <- SeuratObject::AddMetaData(assay, stats_table)
  assay <- Signac::FindTopFeatures(assay, min.cutoff = NA, verbose = FALSE)
  SeuratObject::Key(assay) <- "peaks_"
  Signac::Links(assay) <- GenomicRanges::GRanges(
    ranges[1:3], score = c(0.5, 0.4, 0.3), gene = annotation$gene_name[1:3],
    peak = rownames(counts)[1:3])
  SeuratObject::CreateSeuratObject(assay, assay = "peaks", meta.data = atac[[]])
}

test_that("a ChromatinAssay query: the paired peaks keep its genome, annotation, metadata, motifs, links and fragments", {
  skip_if_no_signac()
  skip_if_no_scpairing()
  fixture <- trained_fixture()
  annotation <- fixture_gene_annotation()
  expect_gt(length(annotation), 1000)
  dir <- withr::local_tempdir()
  atac <- chromatin_query(fixture, annotation, dir)
  source_assay <- atac[["peaks"]]
  paired <- quiet_pair(fixture$bridge, rna = fixture$rna_query, atac = atac,
                       cutoff = fixture$settings$cutoff)
  peaks <- paired[["peaks"]]
  expect_s4_class(peaks, "ChromatinAssay")
  expect_equal(unname(GenomeInfoDb::genome(peaks))[1], "mm10")
  expect_equal(GenomeInfoDb::seqlengths(peaks), GenomeInfoDb::seqlengths(source_assay))
  expect_equal(length(Signac::Annotation(peaks)), length(annotation))
  expect_equal(peaks[[]]$sequence.length, source_assay[[]]$sequence.length)
  # Signac's cell-dependent count is the pairs', not the query's.
  expect_equal(peaks[[]][rownames(peaks), "count"],
               unname(Matrix::rowSums(peak_counts(paired))))
  expect_equal(dim(Signac::GetMotifData(peaks)), dim(Signac::GetMotifData(source_assay)))
  expect_equal(Signac::Links(peaks)$peak, Signac::Links(source_assay)$peak)
  # Fragments are re-keyed: each pair reads its ATAC cell's barcode.
  fragments <- Signac::Fragments(peaks)
  expect_length(fragments, 1)
  cells <- Signac::GetFragmentData(fragments[[1]], slot = "cells")
  expect_equal(names(cells), colnames(paired))
  expect_equal(unname(cells),
               unname(Signac::GetFragmentData(Signac::Fragments(source_assay)[[1]],
                                              slot = "cells")[paired$atac_cell]))
  region <- rownames(peaks)[which.max(Matrix::rowSums(peak_counts(paired)))]
  counted <- suppressMessages(Signac::CountFragments(
    Signac::GetFragmentData(fragments[[1]], slot = "path"), cells = unname(cells[1:5])))
  expect_gt(nrow(counted), 0)
  plot <- Signac::CoveragePlot(paired, region = region, assay = "peaks", annotation = FALSE,
                               peaks = FALSE, links = FALSE, group.by = "atac_cell_type")
  expect_s3_class(plot, "ggplot")

  # With drop.empty the motifs and links follow the kept peaks; a gone fragment file warns.
  dropped <- quiet_pair(fixture$bridge, rna = fixture$rna_query, atac = atac,
                        cutoff = fixture$settings$cutoff, drop.empty = TRUE)
  expect_equal(rownames(Signac::GetMotifData(dropped[["peaks"]])), rownames(dropped[["peaks"]]))
  expect_true(all(Signac::Links(dropped[["peaks"]])$peak %in% rownames(dropped[["peaks"]])))
  unlink(list.files(dir, full.names = TRUE))
  expect_warning(quiet_pair(fixture$bridge, rna = fixture$rna_query, atac = atac,
                            cutoff = fixture$settings$cutoff),
                 "fragment file .* does not exist")
})

test_that("genome and annotation arguments; LinkPeaks runs on the paired object", {
  skip_if_no_signac()
  skip_if_no_scpairing()
  withr::local_seed(1)
  fixture <- trained_fixture()
  annotation <- fixture_gene_annotation()
  expect_error(PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         genome = 10), "`genome` must be a GenomeInfoDb::Seqinfo")
  expect_error(PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         genome = GenomeInfoDb::Seqinfo("chr1")),
               "`genome` lacks .* chromosome\\(s\\) of the peaks")
  ensembl <- annotation
  GenomeInfoDb::seqlevels(ensembl) <- sub("^chr", "", GenomeInfoDb::seqlevels(ensembl))
  expect_error(PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         annotation = ensembl), "seqlevelsStyle\\(annotation\\) <- \"UCSC\"")
  expect_error(PairCells(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                         annotation = data.frame()), "`annotation` must be a GenomicRanges")

  paired <- quiet_pair(fixture$bridge, rna = fixture$rna_query, atac = fixture$atac_query,
                       cutoff = fixture$settings$cutoff, genome = "mm10",
                       annotation = annotation)
  peaks <- paired[["peaks"]]
  expect_s4_class(peaks, "ChromatinAssay")
  expect_true(all(GenomeInfoDb::genome(peaks) == "mm10"))
  expect_equal(length(Signac::Annotation(peaks)), length(annotation))

  # LinkPeaks needs per-peak sequence statistics: stand-ins, as RegionStats needs a BSgenome.
  peaks <- SeuratObject::AddMetaData(peaks, data.frame(
    GC.percent = 0.5, sequence.length = GenomicRanges::width(GenomicRanges::granges(peaks)),
    row.names = rownames(peaks)))
  paired[["peaks"]] <- peaks
  paired <- Seurat::NormalizeData(paired, assay = "RNA", verbose = FALSE)
  detected <- Matrix::rowSums(scPairing:::.assay_counts(paired, "RNA") > 0)
  genes <- intersect(names(sort(detected, decreasing = TRUE))[1:100], annotation$gene_name)
  paired <- Signac::LinkPeaks(paired, peak.assay = "peaks", expression.assay = "RNA",
                              genes.use = genes, min.cells = 5, verbose = FALSE)
  links <- Signac::Links(paired[["peaks"]])
  expect_s4_class(links, "GRanges")
  expect_gt(length(links), 0)
  expect_true(all(links$gene %in% genes) && all(links$peak %in% rownames(paired[["peaks"]])))
  message("LinkPeaks on the paired fixture: ", length(links), " links for ",
          length(unique(links$gene)), " of ", length(genes), " genes")
  # The one-line conversion of a plain peaks assay (what PairCells gives without Signac).
  plain <- SeuratObject::CreateAssayObject(counts = peak_counts(paired))
  converted <- Signac::as.ChromatinAssay(plain, sep = c("-", "-"))
  expect_s4_class(converted, "ChromatinAssay")
  expect_equal(rownames(converted), rownames(paired[["peaks"]]))
})
