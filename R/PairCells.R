# Pairing unpaired RNA and ATAC Seurat objects into artificial multiome data.

.as_model <- function(model_or_bridge) {
  if (inherits(model_or_bridge, "scPairingModel")) return(.upgrade_model(model_or_bridge))
  if (inherits(model_or_bridge, "Seurat")) return(GetScPairingModel(model_or_bridge))
  stop("`model_or_bridge` must be a Seurat object returned by RunScPairing() or an ",
       "scPairingModel; got ", paste(class(model_or_bridge), collapse = "/"), ".", call. = FALSE)
}

# The query's AnnData for `modality`: counts of the training assay (or `assay`), or the
# training reduction, which must then exist in the query with the same dimension.
.query_anndata <- function(query, model, modality, argname, assay = NULL) {
  .check_seurat(query, argname)
  row <- model$spec[model$spec$modality == modality, , drop = FALSE]
  if (nrow(row) != 1) {
    stop("The model has no ", modality, " modality (it has ",
         paste(model$spec$modality, collapse = ", "), ").", call. = FALSE)
  }
  if (!is.null(assay)) row$assay <- assay
  # A model that projects counts into its reduction takes a count-only query (reduction NA).
  if (isTRUE(row$projected) && !row$reduction %in% SeuratObject::Reductions(query)) {
    .check_assay(query, row$assay, argname, paste0(
      modality, " counts, projected into the bridge's '", row$reduction, "'"))
    row$reduction <- NA_character_
  }
  if (is.na(row$reduction)) {
    .check_assay(query, row$assay, argname, paste0(modality, " counts"))
  } else {
    why <- if (!is.null(row$projection) && !is.na(row$projection)) {
      paste0(" and cannot project counts into it (", row$projection, ")")
    } else if (is.null(row$projected)) "" else " without projecting counts into it"
    .check_reduction(query, row$reduction, argname, paste0(
      "the model was trained on this reduction", why,
      "; the query needs it in the same space, or retrain with `RunScPairing(project = TRUE)` ",
      "on a reduction with loadings, or with `reductions = NULL`"))
    dims <- ncol(SeuratObject::Embeddings(query, reduction = row$reduction))
    if (dims != row$input.dims) {
      stop("Reduction '", row$reduction, "' of `", argname, "` has ", dims,
           " dimensions but the model was trained on ", row$input.dims,
           "; project the query into the bridge's reduction first.", call. = FALSE)
    }
  }
  .modality_anndata(query, row, counts_needed = is.na(row$reduction))
}

.prefixed_meta <- function(query, cells, prefix) {
  meta <- query[[]][cells, , drop = FALSE]
  names(meta) <- paste0(prefix, names(meta))
  rownames(meta) <- NULL
  meta
}

#' Pair unpaired RNA, ATAC and protein cells into an artificial multiome dataset
#'
#' Embeds the RNA query and the ATAC query with the model trained by
#' [RunScPairing()] and matches cells one to one across the two with Python's
#' `scpairing.pair` (the matching `scpairing.bridge_pair` uses). Each pair becomes
#' one cell of a new Seurat object with the RNA counts of its RNA cell and the peak
#' counts of its ATAC cell; the counts are taken from the R objects, so they never
#' travel back from Python.
#'
#' The query counts are used and the Python core applies the bridge's fitted
#' reductions (features matched by name; missing ones are zero-filled with a
#' warning). When the model was trained on Seurat/Signac reductions it projects a
#' count-only query into them itself (see [RunScPairing()]'s `project`); a query
#' carrying the reduction (same name and dimension, in the bridge's space) uses it
#' instead, and must carry it where the reduction could not be projected.
#'
#' @param model_or_bridge A Seurat object returned by [RunScPairing()] or an
#'   `scPairingModel` (see [GetScPairingModel()]).
#' @param rna Seurat object of the RNA query (give two or three of `rna`, `atac`,
#'   `protein`).
#' @param atac Seurat object of the ATAC query.
#' @param cutoff Minimum cosine similarity of a pair; cells without a partner above
#'   it stay unpaired.
#' @param assays Named character vector (`RNA`, `ATAC`) of the query assays to read
#'   counts from; by default the assays used for training.
#' @param ... Further options of Python's `scpairing.pair_queries` (`method`,
#'   `min_confidence`, `k`, `groups1`, `groups2`, ...), by name.
#' @param protein Seurat object of the protein (ADT) query; paired into an `ADT` assay
#'   (RNA + protein, or all three modalities, as the model was trained).
#' @param genome The genome of the peaks (needs Signac): a `GenomeInfoDb::Seqinfo` (it
#'   must hold every peak's chromosome), or a genome name such as `"mm10"`, which gives
#'   the peaks' chromosomes that genome name with unknown lengths, offline. `NULL`
#'   (default): the ATAC query's, when it is a `ChromatinAssay`.
#' @param annotation A `GenomicRanges::GRanges` gene annotation for the peaks assay
#'   (needs Signac), with the columns Signac's functions read (`gene_name`, `gene_id`,
#'   `gene_biotype`, `type`); its chromosomes must be named like the peaks' (`chr1`).
#'   `NULL` (default): the ATAC query's, when it is a `ChromatinAssay`.
#' @param adapt If `TRUE`, first refine a copy of the model on these queries (Python's
#'   `ScPairing.adapt`): the reductions the model fitted itself are refitted on the bridge
#'   plus the query cells and the model is retrained on the bridge, which takes about one
#'   more training run; the model is unchanged. Needs the bridge: pass the Seurat object
#'   [RunScPairing()] returned as `model_or_bridge` (a model trained in this R session
#'   also holds it). `Misc(paired, "scPairing_pairing")$adapted` says whether the adapted
#'   model was used (an adaptation that makes the bridge's held-out validation worse is
#'   undone, with a warning).
#' @param drop.empty If `TRUE`, features (genes, peaks, proteins) with no counts in any
#'   pair are dropped from their assay. Default `FALSE`: every feature of the queries is
#'   kept, so the paired object has the queries' feature sets.
#' @section The paired object:
#' Cells are named `pair_0`, `pair_1`, ...; `Idents(paired)` are the identities of each
#' pair's RNA cell in the RNA query (`Idents(rna)`; with no RNA query, those of the first
#' query given), so the labels a user set on the RNA atlas carry over; `orig.ident` is
#' `"scPairing"`. The default assay is `RNA`. Each assay keeps the feature metadata of
#' its query assay (`rna[["RNA"]][[]]`, ...).
#' @section Signac:
#' With Signac installed, `peaks` is a Signac `ChromatinAssay`. When the ATAC query's
#' assay is a `ChromatinAssay`, the paired one keeps its genomic ranges, genome
#' (`seqinfo`), gene annotation, per-peak metadata (e.g. `GC.percent` and
#' `sequence.length` from `RegionStats()`; Signac's cell-dependent `count` and
#' `percentile` are recomputed on the pairs), motifs and links (as the query had them:
#' they were not computed on the pairs), and its fragment files are re-keyed to the pair
#' names (pair `pair_i` reads the fragments of its ATAC cell's barcode), so
#' `CoveragePlot()` works; a fragment file that no longer exists is left out with a
#' warning. Signac's accessors that take a Seurat object read its *default* assay, which
#' is `RNA`: use the assay, `Signac::Links(paired[["peaks"]])`, or set
#' `DefaultAssay(paired) <- "peaks"` first.
#'
#' Without Signac, `peaks` is a plain Seurat `Assay` with the same counts and peak names;
#' once Signac is installed, one line converts it:
#' `paired[["peaks"]] <- Signac::as.ChromatinAssay(paired[["peaks"]], sep = c("-", "-"))`
#' (add `seqinfo =` and `annotation =` as needed).
#' @return A Seurat object with one cell per pair (named `pair_0`, `pair_1`, ...; see
#'   the sections below), an `RNA` assay and a `peaks` assay (peaks named
#'   `chr-start-end`; a Signac `ChromatinAssay` when Signac is installed, see below),
#'   metadata `rna_cell`, `atac_cell`,
#'   `similarity`, `confidence` (in \[0, 1\], calibrated on the bridge's held-out
#'   cells: 0 = random cells are as often this similar as true partners, 0.5 = true
#'   partners are 3 times as likely, 1 = only true partners are; see Python's
#'   `scpairing.bridge_pair`) and the queries' metadata prefixed `rna_` and `atac_`, the pairs'
#'   embeddings as `scpairing.rna` and `scpairing.atac`, the unpaired cell names in
#'   `Misc(paired, "scPairing_unpaired")`, the provenance (model, cutoff, method,
#'   objective, how confidence was computed, validation AUC / FOSCTTM; the same record as
#'   Python's `mdata.uns["scpairing"]`) in `Misc(paired, "scPairing_pairing")` and the model
#'   in `Misc(paired, "scPairing")`.
#' @seealso [RunScPairing()]
#' @export
#' @examples
#' \dontrun{
#' paired <- PairCells(bridge, rna = rna_query, atac = atac_query, cutoff = 0.8)
#' }
PairCells <- function(model_or_bridge, rna = NULL, atac = NULL, cutoff = 0.8, assays = NULL, ...,
                      protein = NULL, genome = NULL, annotation = NULL, drop.empty = FALSE,
                      adapt = FALSE) {
  model <- .as_model(model_or_bridge)
  objects <- Filter(Negate(is.null), list(rna = rna, atac = atac, protein = protein))
  if (length(objects) < 2) {
    wanted <- setdiff(model$spec$modality, names(objects))
    stop("`", wanted[1], "` must be a Seurat object of unpaired cells: the model pairs ",
         paste(model$spec$modality, collapse = " and "), "; give two or three of `rna`, `atac` ",
         "and `protein`.", call. = FALSE)
  }
  for (modality in names(objects)) .check_seurat(objects[[modality]], modality)
  if (!is.numeric(cutoff) || length(cutoff) != 1 || !is.finite(cutoff)) {
    stop("`cutoff` must be a single number in [-1, 1] (a cosine similarity); got ",
         .describe(cutoff), ".", call. = FALSE)
  }
  .check_named_character(assays, "assays", "c(RNA = \"RNA\", ATAC = \"peaks\")")
  .check_flag(drop.empty, "drop.empty")
  .check_flag(adapt, "adapt")
  if (is.null(atac) && (!is.null(genome) || !is.null(annotation))) {
    stop("`genome` and `annotation` describe the peaks of the ATAC query: give `atac` too, or ",
         "drop them.", call. = FALSE)
  }
  options <- list(...)
  if (length(options) && (is.null(names(options)) || any(!nzchar(names(options))))) {
    stop("Arguments in `...` must be named options of scpairing.pair, e.g. method = \"exact\".",
         call. = FALSE)
  }
  query_assay <- function(modality) {
    if (is.null(assays)) return(NULL)
    given <- assays[.python_modality(names(assays), "assays") == modality]
    if (length(given)) unname(given) else NULL
  }
  read_from <- lapply(stats::setNames(nm = names(objects)), function(modality) {
    assay <- query_assay(modality) %||% .model_assay(model, modality)
    if (!length(assay)) {
      stop("The model has no ", modality, " modality (it has ",
           paste(model$spec$modality, collapse = ", "), "); drop `", modality, "`.", call. = FALSE)
    }
    what <- c(rna = "RNA", atac = "peak", protein = "protein")[[modality]]
    .check_assay(objects[[modality]], assay, modality,
                 paste(what, "counts of the paired object"), "assays")
    assay
  })
  if (!is.null(atac)) {
    peaks <- StandardizePeakNames(rownames(atac[[read_from$atac]]))
    genome <- .check_genome(genome, peaks)
    annotation <- .check_annotation(annotation, peaks)
  }
  scp <- .scp()
  py_model <- .py_model(model)
  queries <- lapply(stats::setNames(nm = names(objects)), function(modality) {
    .query_anndata(objects[[modality]], model, modality, modality, read_from[[modality]])
  })
  adapting <- if (adapt) .adapt_args(model_or_bridge, model, py_model) else list()
  # One pairing result for both fronts: the QueryPairing that Python's bridge_pair builds from.
  result <- .py_with_warnings(function() {
    do.call(scp$pair_queries, c(list(py_model, queries, cutoff = cutoff), .py_args(options),
                                adapting))
  }, "PairCells")
  value <- function(name) reticulate::py_to_r(reticulate::py_get_attr(result, name))
  field <- function(name, modality) {
    reticulate::py_to_r(reticulate::py_get_item(reticulate::py_get_attr(result, name), modality))
  }
  cells <- lapply(stats::setNames(nm = names(objects)), function(modality) {
    SeuratObject::Cells(objects[[modality]])[as.integer(field("index", modality)) + 1L]
  })
  if (!length(cells[[1]])) {
    stop("No pair reached `cutoff` = ", cutoff, "; lower it.", call. = FALSE)
  }
  pairs <- paste0("pair_", seq_along(cells[[1]]) - 1L)
  assay_name <- c(rna = "RNA", atac = "peaks", protein = "ADT")[names(objects)]
  assays_out <- .paired_assays(objects, read_from, cells, pairs, assay_name, drop.empty,
                               genome, annotation)
  meta <- data.frame(stats::setNames(cells, paste0(names(objects), "_cell")),
                     similarity = as.numeric(value("similarity")),
                     confidence = as.numeric(value("confidence")),
                     check.names = FALSE, stringsAsFactors = FALSE)
  for (modality in names(objects)) {
    meta <- cbind(meta, .prefixed_meta(objects[[modality]], cells[[modality]],
                                       paste0(modality, "_")))
  }
  rownames(meta) <- pairs
  reductions <- lapply(names(objects), function(modality) {
    list(embeddings = field("embeddings", modality), assay = assay_name[[modality]])
  })
  names(reductions) <- paste0("scpairing.", names(objects))
  unpaired <- lapply(stats::setNames(nm = names(objects)), function(modality) {
    SeuratObject::Cells(objects[[modality]])[as.integer(field("unpaired", modality)) + 1L]
  })
  first <- objects[[1]]
  idents <- SeuratObject::Idents(first)[cells[[1]]]
  # The layout Python's scpairing.io.write_seurat() writes too (see R/io.R).
  paired <- .build_seurat(
    counts = assays_out$counts, meta = meta, peaks = "peaks", reductions = reductions,
    misc = list(scPairing_unpaired = unpaired, scPairing_pairing = value("provenance"),
                scPairing = model),
    features = assays_out$features, idents = unname(idents)
  )
  # Signac's per-peak `count` and `percentile` describe the cells they were computed on: the
  # pairs' replace the query's.
  if ("peaks" %in% SeuratObject::Assays(paired) &&
      inherits(paired[["peaks"]], "ChromatinAssay") &&
      "count" %in% names(paired[["peaks"]][[]])) {
    paired[["peaks"]] <- Signac::FindTopFeatures(paired[["peaks"]], min.cutoff = NA,
                                                 verbose = FALSE)
  }
  paired
}

.model_assay <- function(model, modality) {
  model$spec$assay[model$spec$modality == modality]
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# pair_queries' adapt options: the bridge's assays as AnnData unless the model holds them.
.adapt_args <- function(model_or_bridge, model, py_model) {
  if (isTRUE(reticulate::py_to_r(py_model$holds_bridge))) return(list(adapt = TRUE))
  if (!inherits(model_or_bridge, "Seurat")) {
    stop("`adapt = TRUE` needs the bridge the model was trained on: pass the Seurat object ",
         "RunScPairing() returned as `model_or_bridge`.", call. = FALSE)
  }
  bridge <- lapply(stats::setNames(nm = model$spec$modality), function(modality) {
    .query_anndata(model_or_bridge, model, modality, "model_or_bridge",
                   .model_assay(model, modality))
  })
  list(adapt = TRUE, bridge = reticulate::dict(bridge))
}

# Per paired assay (named by `assay_name`): the pairs' counts (a peaks assay for ATAC, keeping
# the query's ChromatinAssay fields) and the query assay's feature metadata; features without
# counts in any pair dropped when `drop.empty`.
.paired_assays <- function(objects, read_from, cells, pairs, assay_name, drop.empty, genome,
                           annotation) {
  counts <- list()
  features <- list()
  for (modality in names(objects)) {
    x <- .assay_counts(objects[[modality]], read_from[[modality]])[, cells[[modality]],
                                                                  drop = FALSE]
    table <- as.data.frame(objects[[modality]][[read_from[[modality]]]][[]])[rownames(x), ,
                                                                             drop = FALSE]
    if (drop.empty) {
      kept <- Matrix::rowSums(x != 0) > 0
      x <- x[kept, , drop = FALSE]
      table <- table[kept, , drop = FALSE]
    }
    feature_names <- rownames(x)
    if (modality == "atac") feature_names <- StandardizePeakNames(feature_names)
    dimnames(x) <- list(feature_names, pairs)
    counts[[assay_name[[modality]]]] <- if (modality == "atac") {
      .peaks_assay(x, source = objects$atac[[read_from$atac]], source_cells = cells$atac,
                   genome = genome, annotation = annotation)
    } else {
      x
    }
    features[[assay_name[[modality]]]] <- table
  }
  list(counts = counts, features = features)
}
