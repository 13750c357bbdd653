# Training on a paired (bridge) Seurat object.

# R modality names -> the Python core's modality names.
.modality_map <- c(rna = "rna", atac = "atac", peaks = "atac", chromatin = "atac",
                   adt = "protein", protein = "protein", other = "other")

.python_modality <- function(names, argname) {
  if (is.null(names) || any(!nzchar(names))) {
    stop("`", argname, "` must be a named vector, e.g. c(RNA = \"pca\", ATAC = \"lsi\").",
         call. = FALSE)
  }
  modality <- unname(.modality_map[tolower(names)])
  if (anyNA(modality)) {
    stop("`", argname, "`: unknown modality name(s) ",
         paste(names[is.na(modality)], collapse = ", "),
         "; use RNA, ATAC (or peaks), ADT (or protein) or other.", call. = FALSE)
  }
  if (anyDuplicated(modality)) {
    stop("`", argname, "` names the same modality twice: ", paste(names, collapse = ", "), ".",
         call. = FALSE)
  }
  modality
}

# One row per modality: name (R), modality (Python), assay, reduction (NA = fit from counts).
.training_spec <- function(object, reductions, assays) {
  if (is.null(reductions)) {
    modality <- .python_modality(names(assays), "assays")
    for (assay in assays) .check_assay(object, assay, "object", assay_arg = "assays")
    return(data.frame(name = names(assays), modality = modality, assay = unname(assays),
                      reduction = NA_character_, stringsAsFactors = FALSE))
  }
  modality <- .python_modality(names(reductions), "reductions")
  assay <- character(length(reductions))
  for (i in seq_along(reductions)) {
    .check_reduction(object, reductions[[i]], "object",
                     paste0("for modality ", names(reductions)[i]))
    given <- if (!is.null(assays)) assays[tolower(names(assays)) == tolower(names(reductions)[i])]
    # The reduction's own assay labels the output when `assays` does not name one present.
    assay[i] <- if (length(given) == 1 && given %in% SeuratObject::Assays(object)) {
      unname(given)
    } else {
      SeuratObject::DefaultAssay(object[[reductions[[i]]]])
    }
  }
  data.frame(name = names(reductions), modality = modality, assay = assay,
             reduction = unname(reductions), stringsAsFactors = FALSE)
}

# AnnData of one modality: the assay's counts (when the model fits its own reduction) or
# the Seurat reduction as obsm "X_<reduction>".
.modality_anndata <- function(object, row, batch = NULL, counts_needed = TRUE) {
  cells <- SeuratObject::Cells(object)
  anndata <- .py_import("anndata")
  x <- NULL
  var <- NULL
  if (counts_needed) {
    counts <- .assay_counts(object, row$assay)
    .check_cells(colnames(counts), cells, paste0("assay '", row$assay, "'"))
    features <- rownames(counts)
    if (row$modality == "atac") features <- StandardizePeakNames(features)
    x <- .sparse_to_py(counts)
    var <- .var_to_py(features)
  }
  obsm <- list()
  if (!is.na(row$reduction)) {
    embeddings <- SeuratObject::Embeddings(object, reduction = row$reduction)
    .check_cells(rownames(embeddings), cells, paste0("reduction '", row$reduction, "'"))
    obsm[[paste0("X_", row$reduction)]] <- .dense_to_py(embeddings)
  }
  meta <- if (is.null(batch)) object[[]][, 0, drop = FALSE] else object[[]][, batch, drop = FALSE]
  obs <- .obs_to_py(meta, cells)
  .py_try(anndata$AnnData(X = x, obs = obs, var = var, obsm = reticulate::dict(obsm)))
}

# Splits `...` between the ScPairing constructor and train() by their Python signatures;
# R-style dotted names become snake_case.
.route_options <- function(options, py_model_class) {
  if (!length(options)) return(list(init = list(), train = list()))
  if (is.null(names(options)) || any(!nzchar(names(options)))) {
    stop("Arguments in `...` must be named.", call. = FALSE)
  }
  names(options) <- gsub(".", "_", names(options), fixed = TRUE)
  options <- .py_args(options)
  inspect <- .py_import("inspect")
  init_args <- .py_names(inspect$signature(py_model_class)$parameters)
  to_init <- names(options) %in% init_args
  list(init = options[to_init], train = options[!to_init])
}

# Whole numbers given as R doubles (`k = 50`) become Python ints.
.py_args <- function(args) {
  lapply(args, function(value) {
    whole <- is.double(value) && length(value) == 1 && !is.na(value) && value == round(value)
    if (whole && abs(value) < .Machine$integer.max) as.integer(value) else value
  })
}

.as_py_int <- function(value, argname) {
  if (is.null(value)) return(NULL)
  if (!is.numeric(value) || length(value) != 1 || !is.finite(value) || value != round(value)) {
    stop("`", argname, "` must be a single whole number; got ", .describe(value), ".",
         call. = FALSE)
  }
  # Beyond R's integer range (e.g. a seed up to 2^32 - 1): an exact Python int.
  if (abs(value) > .Machine$integer.max) {
    .scp()  # binds reticulate to scpairing's Python first
    return(reticulate::import_builtins(convert = FALSE)$int(format(value, scientific = FALSE)))
  }
  as.integer(value)
}

#' Train scPairing on a paired multiome Seurat object
#'
#' Embeds each modality of a paired (bridge) dataset on one shared hypersphere
#' with the contrastive variational autoencoder of the Python package scpairing.
#' Training can use reductions already in the object (e.g. `pca` for RNA and `lsi`
#' for ATAC) or, with `reductions = NULL`, the assays' counts, from which the Python
#' core fits its own reductions (log-normalisation + PCA for RNA, TF-IDF + LSI for
#' ATAC, CLR + PCA for protein).
#'
#' Modality names are matched case-insensitively: `RNA` is RNA, `ATAC`, `peaks` or
#' `chromatin` is ATAC, `ADT` or `protein` is protein.
#'
#' @param object A Seurat object with the paired modalities of the same cells.
#' @param reductions Named character vector: per modality, the reduction to train
#'   on. `NULL` trains on the counts of `assays`.
#' @param assays Named character vector: per modality, the assay whose counts are
#'   used (when `reductions` is `NULL`) and that labels the output `DimReduc`. In
#'   reduction mode a name that is not an assay of `object` falls back to the
#'   reduction's own assay.
#' @param batch Name of a metadata column with batch labels, or `NULL`.
#' @param latent.dim Dimension of the shared space.
#' @param seed Random seed, a whole number. The same seed, data and options give
#'   bit-identical results only with the same thread counts (torch's
#'   `torch.get_num_threads()` for training, the BLAS threads for fitting the
#'   reductions), the same device and the same library versions; the model records
#'   them (`print(GetScPairingModel(object))`). Other thread counts change results
#'   slightly (floating-point summation order). The R and Python random states are
#'   not changed.
#' @param max.epochs Maximum number of training epochs (`NULL`: the Python default,
#'   with early stopping).
#' @param verbose Show the training progress bar.
#' @param ... Further options of the Python model (`n_hidden`, `dropout`,
#'   `device`, ...) or of training (`batch_size`, `lr`, `patience`, ...), by name;
#'   dots in names become underscores (`batch.size` is `batch_size`).
#' @return `object` with one `DimReduc` per modality named `scpairing.<modality>`
#'   (e.g. `scpairing.rna`, `scpairing.atac`; rows are unit vectors) and the trained
#'   model in `Misc(object, "scPairing")` (see [GetScPairingModel()]).
#' @seealso [PairCells()]
#' @export
#' @examples
#' \dontrun{
#' bridge <- RunScPairing(bridge, reductions = c(RNA = "pca", ATAC = "lsi"))
#' Seurat::DimPlot(bridge, reduction = "scpairing.rna")
#' }
RunScPairing <- function(object, reductions = c(RNA = "pca", ATAC = "lsi"),
                         assays = c(RNA = "RNA", ATAC = "peaks"), batch = NULL,
                         latent.dim = 10, seed = 0, max.epochs = NULL, verbose = TRUE, ...) {
  .check_seurat(object, "object")
  .check_named_character(reductions, "reductions", "c(RNA = \"pca\", ATAC = \"lsi\")")
  .check_named_character(assays, "assays", "c(RNA = \"RNA\", ATAC = \"peaks\")",
                         null_ok = !is.null(reductions))
  .check_flag(verbose, "verbose")
  spec <- .training_spec(object, reductions, assays)
  if (!is.null(batch)) {
    if (!is.character(batch) || length(batch) != 1 || !batch %in% colnames(object[[]])) {
      stop("`batch` must name a metadata column of `object`; got ", deparse(batch), ".",
           call. = FALSE)
    }
  }
  latent.dim <- .as_py_int(latent.dim, "latent.dim")
  seed <- .as_py_int(seed, "seed")
  max.epochs <- .as_py_int(max.epochs, "max.epochs")
  if (!is.null(max.epochs) && max.epochs < 1) {
    stop("`max.epochs` must be a whole number >= 1 (or NULL); got ", max.epochs, ".",
         call. = FALSE)
  }
  scp <- .scp()
  options <- .route_options(list(...), scp$ScPairing)

  data <- list()
  py_reductions <- list()
  spec$dims <- NA_integer_
  for (i in seq_len(nrow(spec))) {
    row <- spec[i, ]
    data[[row$modality]] <- .modality_anndata(object, row, batch, is.na(row$reduction))
    if (is.na(row$reduction)) {
      spec$dims[i] <- nrow(object[[row$assay]])
    } else {
      py_reductions[[row$modality]] <- paste0("X_", row$reduction)
      spec$dims[i] <- ncol(SeuratObject::Embeddings(object, reduction = row$reduction))
    }
  }
  py_model <- .py_try(do.call(scp$ScPairing, c(
    list(reticulate::dict(data),
         reductions = if (length(py_reductions)) reticulate::dict(py_reductions),
         batch_key = batch, latent_dim = latent.dim, seed = seed),
    options$init
  )), "RunScPairing")
  if (isTRUE(verbose)) {
    message("scPairing: training on ", reticulate::py_str(py_model$device), " (",
            reticulate::py_to_r(py_model$name), ")")
  }
  .py_try(do.call(py_model$train, c(list(max_epochs = max.epochs, progress = isTRUE(verbose)),
                                    options$train)), "RunScPairing (training)")
  for (i in seq_len(nrow(spec))) {
    row <- spec[i, ]
    z <- .embed(py_model, data[[row$modality]], row$modality)
    name <- paste0("scpairing.", row$modality)
    object[[name]] <- .dimreduc(z, SeuratObject::Cells(object), name, row$assay)
  }
  methods::slot(object, "misc")[["scPairing"]] <- .new_model(py_model, spec, batch)
  object
}

.embed <- function(py_model, adata, modality) {
  z <- .py_try(py_model$embed(adata, modality = modality), paste0("embedding ", modality))
  reticulate::py_to_r(z)
}
