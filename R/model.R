# A trained model kept in R as the bytes of the file ScPairing.save() writes, so it
# survives saveRDS()/readRDS(); the Python object is rebuilt lazily with ScPairing.load().

# `spec`: one row per modality with columns name (as given in R), modality (Python name),
# assay, reduction (NA when the model fitted its own), input.dims (the width of the encoder's
# input, Python's `model.input_dims`: the given reduction's dimensions, or the components of
# the reduction the model fitted), projected and projection (see RunScPairing()).
.new_model <- function(py_model, spec, batch) {
  input_dims <- reticulate::py_to_r(py_model$input_dims)
  spec$input.dims <- vapply(spec$modality, function(m) as.integer(input_dims[[m]]), integer(1),
                            USE.NAMES = FALSE)
  path <- tempfile(fileext = ".pt")
  on.exit(unlink(path), add = TRUE)
  .py_try(py_model$save(path), "saving the model")
  .model_record(
    bytes = readBin(path, what = "raw", n = file.info(path)$size),
    spec = spec,
    batch = batch,
    latent.dim = reticulate::py_to_r(py_model$latent_dim),
    name = reticulate::py_to_r(py_model$name),
    version = reticulate::py_to_r(.scp()$`__version__`),
    reproducibility = tryCatch(reticulate::py_to_r(py_model$reproducibility),
                               error = function(e) list()),
    py = py_model
  )
}

# The Python ScPairing object of `model`, loading it from the stored bytes when the
# cached reference is missing (e.g. after readRDS() or in a new R session).
.py_model <- function(model) {
  cached <- model$cache$py
  if (!is.null(cached) && !reticulate::py_is_null_xptr(cached)) {
    return(cached)
  }
  path <- tempfile(fileext = ".pt")
  on.exit(unlink(path), add = TRUE)
  writeBin(model$bytes, path)
  py_model <- .py_try(.scp()$ScPairing$load(path), "loading the stored model")
  if (is.null(model$cache)) {
    return(py_model)
  }
  model$cache$py <- py_model
  py_model
}

#' Get the scPairing model stored in a Seurat object
#'
#' [RunScPairing()] stores the trained model in `Misc(object, "scPairing")`.
#'
#' @param object A Seurat object returned by [RunScPairing()] or [PairCells()].
#' @return An `scPairingModel`: the saved model file's bytes and how it was trained
#'   (modalities, assays, reductions, latent dimension).
#' @export
#' @examples
#' \dontrun{
#' model <- GetScPairingModel(bridge)
#' SaveScPairingModel(model, "bridge_model.pt")
#' }
GetScPairingModel <- function(object) {
  .check_seurat(object, "object")
  model <- SeuratObject::Misc(object, slot = "scPairing")
  if (!inherits(model, "scPairingModel")) {
    stop("`object` holds no scPairing model; run RunScPairing() on it first.", call. = FALSE)
  }
  .upgrade_model(model)
}

# Models saved before `input.dims` had one `dims` column that meant the given reduction's
# dimensions, or, for a model fitting its own reduction, the number of the assay's features
# (written from R) or the encoder's input width (from Python): only the first is kept.
.upgrade_model <- function(model) {
  spec <- model$spec
  if (is.null(spec$input.dims) && !is.null(spec$dims)) {
    spec$input.dims <- ifelse(is.na(spec$reduction), NA_integer_, as.integer(spec$dims))
    spec$dims <- NULL
    model$spec <- spec
  }
  model
}

#' Save an scPairing model to a file
#'
#' Writes the file Python's `scpairing.ScPairing.load()` reads, so a model trained
#' from R can be used from Python and back.
#'
#' @param model An `scPairingModel` (see [GetScPairingModel()]).
#' @param path File to write.
#' @return `path`, invisibly.
#' @export
SaveScPairingModel <- function(model, path) {
  if (!inherits(model, "scPairingModel")) {
    stop("`model` must be an scPairingModel; got ", paste(class(model), collapse = "/"), ".",
         call. = FALSE)
  }
  .check_string(path, "path", "a file path")
  if (dir.exists(path)) {
    stop("`path` is a directory ('", path, "'); give a file name.", call. = FALSE)
  }
  if (!dir.exists(dirname(path))) {
    stop("`path`: the directory '", dirname(path), "' does not exist.", call. = FALSE)
  }
  writeBin(model$bytes, path)
  invisible(path)
}

#' @export
print.scPairingModel <- function(x, ...) {
  spec <- .upgrade_model(x)$spec
  cat("scPairing model:", x$name, "\n")
  for (i in seq_len(nrow(spec))) {
    row <- spec[i, ]
    width <- if (is.na(row$input.dims)) NULL else sprintf("%d input dims", row$input.dims)
    source <- if (is.na(row$reduction)) {
      paste0("counts of assay '", row$assay, "'")
    } else {
      if (isTRUE(row$projected)) {
        width <- c(width, paste0("projects count-only queries of assay '", row$assay, "'"))
      }
      paste0("reduction '", row$reduction, "'")
    }
    if (length(width)) source <- paste0(source, " (", paste(width, collapse = "; "), ")")
    cat(sprintf("  %-8s <- %s\n", row$modality, source))
  }
  if (!is.null(x$batch)) cat("  batch:", x$batch, "\n")
  info <- x$reproducibility
  if (length(info) && !is.null(info$torch_threads)) {
    blas <- if (is.null(info$blas_threads)) "?" else info$blas_threads
    cat(sprintf(paste0("  seed %s, trained with %s torch thread(s) on %s, reductions ",
                       "fitted with %s BLAS thread(s)\n"),
                info$seed, info$torch_threads, info$device, blas))
  }
  cat(sprintf("  saved size: %.1f kB, scpairing %s\n", length(x$bytes) / 1024,
              x$scpairing.version))
  invisible(x)
}

#' Load an scPairing model file
#'
#' Reads a file written by Python's `ScPairing.save()` or by [SaveScPairingModel()],
#' so that a model trained in Python can pair Seurat objects with [PairCells()].
#'
#' @param path Model file.
#' @param assays Named character vector: per modality (`RNA`, `ATAC`, `ADT`), the
#'   assay that holds its counts in the Seurat objects to embed.
#' @return An `scPairingModel`.
#' @export
#' @examples
#' \dontrun{
#' model <- LoadScPairingModel("model.pt")
#' paired <- PairCells(model, rna = rna_query, atac = atac_query)
#' }
LoadScPairingModel <- function(path, assays = c(RNA = "RNA", ATAC = "peaks", ADT = "ADT")) {
  if (!is.character(path) || length(path) != 1 || is.na(path) || !file.exists(path) ||
      dir.exists(path)) {
    stop("`path` must name an existing model file; got ", .describe(path), ".", call. = FALSE)
  }
  .check_named_character(assays, "assays", "c(RNA = \"RNA\", ATAC = \"peaks\")",
                         null_ok = FALSE)
  py_model <- .py_try(.scp()$ScPairing$load(normalizePath(path)), "LoadScPairingModel")
  modalities <- as.character(reticulate::py_to_r(py_model$modalities))
  assay_of <- stats::setNames(unname(assays), .python_modality(names(assays), "assays"))
  reductions <- py_model$reductions
  spec <- do.call(rbind, lapply(modalities, function(modality) {
    reduction <- reductions$get(modality)
    key <- if (inherits(reduction, "python.builtin.str")) reticulate::py_to_r(reduction)
    # A ProjectedPCA / ProjectedLSI: trained on a given reduction, projects counts into it.
    projected <- is.null(key) && reticulate::py_has_attr(reduction, "obsm_key")
    if (projected) key <- reticulate::py_to_r(reduction$obsm_key)
    data.frame(name = modality, modality = modality,
               assay = if (is.na(assay_of[modality])) modality else unname(assay_of[modality]),
               reduction = if (is.null(key)) NA_character_ else sub("^X_", "", key),
               projected = projected,
               projection = NA_character_, stringsAsFactors = FALSE)
  }))
  .new_model(py_model, spec, reticulate::py_to_r(py_model$batch_key))
}
