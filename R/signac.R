# The paired peaks assay: a Signac ChromatinAssay when Signac is installed (it is only
# suggested), a plain Seurat Assay otherwise. Every Signac call is guarded by .has_signac().

.has_signac <- function() requireNamespace("Signac", quietly = TRUE)

# Chromosome of each peak named chr-start-end (as StandardizePeakNames() writes them).
.peak_chromosomes <- function(peaks) sub("-[0-9]+-[0-9]+$", "", peaks)

# `genome` of PairCells(): NULL, a Seqinfo, or a genome name (an offline Seqinfo of the peaks'
# chromosomes with that genome and unknown lengths; Signac would download the lengths).
.check_genome <- function(genome, peaks) {
  if (is.null(genome)) return(NULL)
  if (!.has_signac()) {
    stop("`genome` is stored in a Signac ChromatinAssay, and Signac is not installed; install ",
         "Signac, or leave `genome` NULL.", call. = FALSE)
  }
  chromosomes <- unique(.peak_chromosomes(peaks))
  if (is.character(genome) && length(genome) == 1 && !is.na(genome) && nzchar(genome)) {
    return(GenomeInfoDb::Seqinfo(seqnames = chromosomes,
                                 genome = rep(genome, length(chromosomes))))
  }
  if (!inherits(genome, "Seqinfo")) {
    stop("`genome` must be a GenomeInfoDb::Seqinfo object or a genome name such as \"mm10\"; ",
         "got ", .describe(genome), ".", call. = FALSE)
  }
  missing <- setdiff(chromosomes, GenomeInfoDb::seqnames(genome))
  if (length(missing)) {
    stop("`genome` lacks ", length(missing), " chromosome(s) of the peaks (e.g. ",
         paste(utils::head(missing, 3), collapse = ", "), "); give the Seqinfo of the genome ",
         "the peaks were called on (same seqlevels style, e.g. \"chr1\").", call. = FALSE)
  }
  genome
}

# `annotation` of PairCells(): NULL or a GRanges whose chromosomes are named like the peaks'.
.check_annotation <- function(annotation, peaks) {
  if (is.null(annotation)) return(NULL)
  if (!.has_signac()) {
    stop("`annotation` is stored in a Signac ChromatinAssay, and Signac is not installed; ",
         "install Signac, or leave `annotation` NULL.", call. = FALSE)
  }
  if (!inherits(annotation, "GRanges")) {
    stop("`annotation` must be a GenomicRanges::GRanges gene annotation (as Signac's ",
         "Annotation() holds); got ", .describe(annotation), ".", call. = FALSE)
  }
  chromosomes <- unique(.peak_chromosomes(peaks))
  if (!any(as.character(GenomeInfoDb::seqlevels(annotation)) %in% chromosomes)) {
    stop("`annotation`: none of its chromosomes (e.g. ",
         paste(utils::head(GenomeInfoDb::seqlevels(annotation), 3), collapse = ", "),
         ") is a chromosome of the peaks (e.g. ", paste(utils::head(chromosomes, 3),
                                                        collapse = ", "),
         "); rename them, e.g. GenomeInfoDb::seqlevelsStyle(annotation) <- \"UCSC\".",
         call. = FALSE)
  }
  annotation
}

# The peaks assay of paired cells. `counts`: peaks x pairs, peaks named chr-start-end.
# `source`: the ATAC query's assay and `source_cells` the ATAC cell of each pair (in the
# columns' order); from a ChromatinAssay the ranges, genome, annotation, motifs and links are
# kept, and its fragment files are re-keyed to the pair names. `genome`, `annotation`
# (checked by .check_genome / .check_annotation) replace the source's.
.peaks_assay <- function(counts, source = NULL, source_cells = NULL, genome = NULL,
                         annotation = NULL) {
  if (!.has_signac()) return(SeuratObject::CreateAssayObject(counts = counts))
  chromatin <- inherits(source, "ChromatinAssay")
  ranges <- NULL
  motifs <- NULL
  if (chromatin) {
    ranges <- GenomicRanges::granges(source)[match(rownames(counts), rownames(source))]
    genome <- genome %||% GenomeInfoDb::seqinfo(source)
    annotation <- annotation %||% Signac::Annotation(source)
    motifs <- Signac::Motifs(source)
    if (!is.null(motifs) && nrow(counts) < nrow(source)) {
      motifs <- subset(motifs, features = rownames(counts))
    }
  }
  assay <- Signac::CreateChromatinAssay(counts = counts, ranges = ranges, genome = genome,
                                        annotation = annotation, motifs = motifs,
                                        sep = c("-", "-"), verbose = FALSE)
  if (!chromatin) return(assay)
  links <- Signac::Links(source)
  if (length(links)) Signac::Links(assay) <- links[links$peak %in% rownames(counts)]
  fragments <- .rekey_fragments(Signac::Fragments(source), source_cells, colnames(counts))
  if (length(fragments)) Signac::Fragments(assay) <- fragments
  assay
}

# Fragment objects whose cells are the pairs: pair `pairs[i]` reads the fragments of barcode
# of ATAC cell `cells[i]`. A fragment file that no longer exists is left out, with a warning.
.rekey_fragments <- function(fragments, cells, pairs) {
  rekeyed <- list()
  for (fragment in fragments) {
    path <- Signac::GetFragmentData(fragment, slot = "path")
    # Without cell information a fragment file's barcodes are the assay's cell names.
    barcodes <- Signac::GetFragmentData(fragment, slot = "cells") %||% stats::setNames(nm = cells)
    barcodes <- stats::setNames(unname(barcodes[cells]), pairs)
    barcodes <- barcodes[!is.na(barcodes)]
    if (!length(barcodes)) next
    if (!file.exists(path)) {
      warning("PairCells: the ATAC query's fragment file ", path, " does not exist; the ",
              "paired peaks assay has no fragments from it (CoveragePlot needs them).",
              call. = FALSE)
      next
    }
    rekeyed[[length(rekeyed) + 1]] <- Signac::CreateFragmentObject(
      path = path, cells = barcodes, validate.fragments = FALSE, verbose = FALSE)
  }
  rekeyed
}
