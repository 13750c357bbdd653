# In-memory conversions between Seurat objects and Python AnnData. Sparse counts stay
# sparse: a features x cells dgCMatrix holds exactly the arrays of a cells x features CSR
# matrix, so no transpose is needed in either direction.

# A short description of a value for error messages.
.describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.atomic(x) && length(x) <= 5) return(paste(deparse(x), collapse = " "))
  paste0("an object of class ", paste(class(x), collapse = "/"))
}

.check_flag <- function(x, argname) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    stop("`", argname, "` must be TRUE or FALSE; got ", .describe(x), ".", call. = FALSE)
  }
  invisible(x)
}

.check_string <- function(x, argname, what = "a single string") {
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    stop("`", argname, "` must be ", what, "; got ", .describe(x), ".", call. = FALSE)
  }
  invisible(x)
}

# NULL or a named character vector without NA or empty entries.
.check_named_character <- function(x, argname, example, null_ok = TRUE) {
  if (is.null(x) && null_ok) return(invisible(x))
  if (!is.character(x) || !length(x) || anyNA(x) || any(!nzchar(x))) {
    stop("`", argname, "` must be a named character vector, e.g. ", example, "; got ",
         .describe(x), ".", call. = FALSE)
  }
  invisible(x)
}

.check_seurat <- function(object, argname) {
  if (!inherits(object, "Seurat")) {
    stop("`", argname, "` must be a Seurat object; got an object of class ",
         paste(class(object), collapse = "/"), ".", call. = FALSE)
  }
  invisible(object)
}

# `argname`: the object's argument; `assay_arg`: the argument that named the assay.
.check_assay <- function(object, assay, argname, what = "assay", assay_arg = "assay") {
  if (!is.character(assay) || length(assay) != 1 || is.na(assay)) {
    stop("`", assay_arg, "` must name one assay of `", argname, "`; got ", .describe(assay), ".",
         call. = FALSE)
  }
  if (!assay %in% SeuratObject::Assays(object)) {
    stop("Assay '", assay, "' (", what, ") not found in `", argname, "`; available assays: ",
         paste(SeuratObject::Assays(object), collapse = ", "), ".", call. = FALSE)
  }
  invisible(assay)
}

.check_reduction <- function(object, reduction, argname, what = "reduction",
                             reduction_arg = "reductions") {
  if (!is.character(reduction) || length(reduction) != 1 || is.na(reduction)) {
    stop("`", reduction_arg, "` must name reductions of `", argname, "`; got ",
         .describe(reduction), ".", call. = FALSE)
  }
  if (!reduction %in% SeuratObject::Reductions(object)) {
    available <- SeuratObject::Reductions(object)
    stop("Reduction '", reduction, "' (", what, ") not found in `", argname,
         "`; available reductions: ",
         if (length(available)) paste(available, collapse = ", ") else "none", ".",
         call. = FALSE)
  }
  invisible(reduction)
}

# Counts of an assay as a features x cells dgCMatrix (SeuratObject 5 keeps them in layers).
.assay_counts <- function(object, assay) {
  counts <- if (utils::packageVersion("SeuratObject") >= "5.0.0") {
    # Looked up at run time: SeuratObject 4 has neither Layers() nor LayerData().
    layers <- getExportedValue("SeuratObject", "Layers")(object[[assay]], search = "counts")
    if (length(layers) > 1) {
      stop("Assay '", assay, "' holds its counts in ", length(layers), " layers (",
           paste(utils::head(layers, 3), collapse = ", "), "); join them first: ",
           "object[[\"", assay, "\"]] <- SeuratObject::JoinLayers(object[[\"", assay, "\"]]).",
           call. = FALSE)
    }
    layer_data <- getExportedValue("SeuratObject", "LayerData")
    layer_data(object, assay = assay, layer = "counts")
  } else {
    SeuratObject::GetAssayData(object, slot = "counts", assay = assay)
  }
  if (!prod(dim(counts))) {
    stop("Assay '", assay, "' has no counts.", call. = FALSE)
  }
  methods::as(counts, "CsparseMatrix")
}

# Normalised data of an assay as a features x cells dgCMatrix, or NULL when it has none.
.assay_data <- function(object, assay) {
  data <- tryCatch({
    if (utils::packageVersion("SeuratObject") >= "5.0.0") {
      layer_data <- getExportedValue("SeuratObject", "LayerData")
      layer_data(object, assay = assay, layer = "data")
    } else {
      SeuratObject::GetAssayData(object, slot = "data", assay = assay)
    }
  }, error = function(e) NULL)
  if (is.null(data) || !prod(dim(data))) return(NULL)
  methods::as(methods::as(data, "CsparseMatrix"), "dgCMatrix")
}

.check_cells <- function(cells, expected, what) {
  if (!identical(cells, expected)) {
    missing <- setdiff(expected, cells)
    stop("Cells of ", what, " differ from the cells of the object (",
         length(missing), " of ", length(expected), " object cells missing",
         if (length(missing)) paste0(", e.g. ", paste(utils::head(missing, 3), collapse = ", ")),
         "); every assay and reduction must hold the same cells in the same order.",
         call. = FALSE)
  }
}

# features x cells dgCMatrix -> scipy CSR (cells x features) with its own writable arrays.
.sparse_to_py <- function(counts) {
  np <- .py_import("numpy")
  sp <- .py_import("scipy.sparse")
  counts <- methods::as(counts, "dgCMatrix")
  arrays <- reticulate::tuple(
    np$array(counts@x, dtype = "float32", copy = TRUE),
    np$array(counts@i, dtype = "int32", copy = TRUE),
    np$array(counts@p, dtype = "int64", copy = TRUE)
  )
  shape <- reticulate::tuple(ncol(counts), nrow(counts))
  .py_try(sp$csr_matrix(arrays, shape = shape))
}

# Python matrix (cells x features, sparse or dense) -> features x cells dgCMatrix.
.sparse_from_py <- function(x, features, cells) {
  sp <- .py_import("scipy.sparse")
  csr <- .py_try(sp$csr_matrix(x))
  .py_try(csr$sum_duplicates())
  .py_try(csr$sort_indices())
  shape <- unlist(reticulate::py_to_r(csr$shape))
  Matrix::sparseMatrix(i = as.integer(reticulate::py_to_r(csr$indices)),
                       p = as.integer(reticulate::py_to_r(csr$indptr)),
                       x = as.numeric(reticulate::py_to_r(csr$data)),
                       dims = as.integer(rev(shape)), dimnames = list(features, cells),
                       index1 = FALSE, repr = "C")
}

.dense_to_py <- function(x) {
  np <- .py_import("numpy")
  storage.mode(x) <- "double"
  .py_try(np$ascontiguousarray(np$array(unname(x), dtype = "float32", copy = TRUE)))
}

.obs_to_py <- function(meta, cells) {
  pd <- .py_import("pandas")
  meta <- as.data.frame(meta)[cells, , drop = FALSE]
  rownames(meta) <- cells
  if (!ncol(meta)) {
    return(.py_try(pd$DataFrame(index = pd$Index(as.list(cells), dtype = "object"))))
  }
  .py_try(reticulate::r_to_py(meta))
}

.var_to_py <- function(features) {
  pd <- .py_import("pandas")
  .py_try(pd$DataFrame(index = pd$Index(as.list(features), dtype = "object")))
}

#' Convert one assay of a Seurat object to an AnnData object
#'
#' Builds a Python `anndata.AnnData` in memory: `X` holds the assay's counts as a
#' sparse cells x features matrix, `obs` the object's metadata and, for each name
#' in `reductions`, `obsm[paste0("X_", name)]` the reduction's embeddings.
#'
#' @param object A Seurat object.
#' @param assay Assay whose counts become `X`; `NULL` leaves `X` empty (useful
#'   when only reductions are needed).
#' @param reductions Names of reductions to copy to `obsm`.
#' @param peaks If `TRUE`, feature names are rewritten as `chr-start-end`
#'   (see [StandardizePeakNames()]).
#' @return A Python AnnData object (a reticulate reference).
#' @seealso [AnnDataToSeurat()]
#' @export
#' @examples
#' if (scpairing_available()) {
#'   adata <- SeuratToAnnData(SeuratObject::pbmc_small, assay = "RNA", reductions = "pca")
#'   adata
#' }
SeuratToAnnData <- function(object, assay = SeuratObject::DefaultAssay(object),
                            reductions = NULL, peaks = FALSE) {
  .check_seurat(object, "object")
  .check_flag(peaks, "peaks")
  if (!is.null(reductions) && (!is.character(reductions) || anyNA(reductions))) {
    stop("`reductions` must be NULL or reduction names; got ", .describe(reductions), ".",
         call. = FALSE)
  }
  if (!is.null(assay)) .check_assay(object, assay, "object")
  for (reduction in reductions) {
    .check_reduction(object, reduction, "object", "in `reductions`")
  }
  .to_anndata(object, assay, reductions, peaks, object[[]], "SeuratToAnnData")
}

# The one Seurat -> AnnData builder (SeuratToAnnData() and the model's inputs): `assay`'s
# counts in X (NULL: no X), each reduction in obsm "X_<name>", `meta` as obs.
.to_anndata <- function(object, assay, reductions, peaks, meta, context = NULL) {
  cells <- SeuratObject::Cells(object)
  anndata <- .py_import("anndata")
  x <- NULL
  var <- NULL
  if (!is.null(assay)) {
    counts <- .assay_counts(object, assay)
    .check_cells(colnames(counts), cells, paste0("assay '", assay, "'"))
    features <- rownames(counts)
    if (isTRUE(peaks)) features <- StandardizePeakNames(features)
    x <- .sparse_to_py(counts)
    var <- .var_to_py(features)
  }
  obsm <- list()
  for (reduction in reductions) {
    embeddings <- SeuratObject::Embeddings(object, reduction = reduction)
    .check_cells(rownames(embeddings), cells, paste0("reduction '", reduction, "'"))
    obsm[[paste0("X_", reduction)]] <- .dense_to_py(embeddings)
  }
  obs <- .obs_to_py(meta, cells)
  .py_try(anndata$AnnData(X = x, obs = obs, var = var, obsm = reticulate::dict(obsm)), context)
}

#' Convert a Python AnnData object to a Seurat object
#'
#' `X` becomes the `counts` of `assay` (kept sparse), `obs` the metadata and each
#' two-dimensional `obsm` entry a `DimReduc` (its name without a leading `X_`).
#'
#' @param adata A Python AnnData object (a reticulate reference), cells x features,
#'   from a module imported either way (`reticulate::import("anndata")` or with
#'   `convert = FALSE`).
#' @param assay Name of the assay to create.
#' @param peaks If `TRUE`, feature names are rewritten as `chr-start-end`.
#' @param project Seurat project name.
#' @return A Seurat object.
#' @seealso [SeuratToAnnData()]
#' @export
#' @examples
#' if (scpairing_available()) {
#'   ad <- reticulate::import("anndata")
#'   np <- reticulate::import("numpy")
#'   adata <- ad$AnnData(X = np$array(matrix(c(0, 1, 2, 0, 0, 3), nrow = 2)))
#'   adata$var_names <- c("chr1:100-200", "chr1:300-400", "chr2:5-9")
#'   AnnDataToSeurat(adata, assay = "peaks", peaks = TRUE)
#'   # ad$read_h5ad("cells.h5ad") gives one from a file
#' }
AnnDataToSeurat <- function(adata, assay = "RNA", peaks = FALSE, project = "scPairing") {
  if (!inherits(adata, "anndata._core.anndata.AnnData")) {
    stop("`adata` must be a Python AnnData object; got ", paste(class(adata), collapse = "/"),
         ".", call. = FALSE)
  }
  # The same object without reticulate's conversion, whichever way its module was imported.
  adata <- reticulate::r_to_py(adata, convert = FALSE)
  .check_string(assay, "assay", "the name of the assay to create")
  .check_string(project, "project")
  .check_flag(peaks, "peaks")
  cells <- as.character(reticulate::py_to_r(adata$obs_names$tolist()))
  features <- as.character(reticulate::py_to_r(adata$var_names$tolist()))
  if (isTRUE(peaks)) features <- StandardizePeakNames(features)
  counts <- .sparse_from_py(adata$X, features, cells)
  object <- SeuratObject::CreateSeuratObject(counts = counts, assay = assay, project = project)
  meta <- as.data.frame(.py_try(reticulate::py_to_r(adata$obs)))
  if (ncol(meta)) {
    rownames(meta) <- cells
    object <- SeuratObject::AddMetaData(object, meta)
  }
  for (key in .py_names(adata$obsm)) {
    embeddings <- reticulate::py_to_r(.py_import("numpy")$asarray(adata$obsm$get(key)))
    if (!is.matrix(embeddings)) next
    name <- sub("^X_", "", key)
    object[[name]] <- .dimreduc(embeddings, cells, name, assay)
  }
  object
}

.dimreduc <- function(embeddings, cells, name, assay) {
  key <- paste0(gsub("[^A-Za-z0-9]", "", name), "_")
  dimnames(embeddings) <- list(cells, paste0(key, seq_len(ncol(embeddings))))
  SeuratObject::CreateDimReducObject(embeddings = embeddings, key = key, assay = assay)
}

#' Write peak names as chr-start-end
#'
#' Signac expects peaks named `chr-start-end`; data often come as `chr:start-end`
#' or `chr_start_end`. Names that do not look like a genomic range are returned
#' unchanged.
#'
#' @param peaks Character vector of peak names.
#' @return Character vector of the same length.
#' @export
#' @examples
#' StandardizePeakNames(c("chr1:100-200", "chr2_300_400", "chrX-5-10"))
StandardizePeakNames <- function(peaks) {
  # The grammar of python/scpairing/_peaks.py: two coordinates read from the right, leading
  # zeros dropped; tests/fixtures/peak_names.tsv holds the cases both languages are tested on.
  peaks <- as.character(peaks)
  pattern <- "^(.+)[:_-]([0-9]+)[_-]([0-9]+)$"
  is_peak <- !is.na(peaks) & grepl(pattern, peaks, perl = TRUE)
  coordinate <- function(group) {
    sub("^0+(?=[0-9])", "", sub(pattern, group, peaks[is_peak], perl = TRUE), perl = TRUE)
  }
  peaks[is_peak] <- paste0(sub(pattern, "\\1", peaks[is_peak], perl = TRUE), "-",
                           coordinate("\\2"), "-", coordinate("\\3"))
  peaks
}
