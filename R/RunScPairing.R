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

# AnnData of one modality: the assay's counts (when the model fits its own reduction, or
# projects counts into a given one) and the Seurat reduction as obsm "X_<reduction>".
.modality_anndata <- function(object, row, batch = NULL, counts_needed = TRUE) {
  meta <- if (is.null(batch)) object[[]][, 0, drop = FALSE] else object[[]][, batch, drop = FALSE]
  .to_anndata(object, assay = if (counts_needed) row$assay,
              reductions = if (!is.na(row$reduction)) row$reduction,
              peaks = row$modality == "atac", meta = meta)
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

# ---- Reductions that travel: what projects count-only queries into a given reduction ----

# A parameter of a logged Seurat command (`object@commands`), or `default` when not logged.
.command_param <- function(object, command, assay, name, default) {
  logged <- methods::slot(object, "commands")[[paste0(command, ".", assay)]]
  value <- if (!is.null(logged)) methods::slot(logged, "params")[[name]]
  if (is.null(value)) default else value
}

# Per-feature centre and scale as Seurat's ScaleData computes them (R's sd, i.e. ddof = 1;
# without centring, the root mean square).
.scale_stats <- function(data, do.center, do.scale) {
  n <- ncol(data)
  mean <- Matrix::rowMeans(data)
  squares <- Matrix::rowSums(data^2)
  sd <- sqrt(pmax((squares - n * mean^2) / max(n - 1, 1), 0))
  if (!do.center) sd <- sqrt(squares / max(n - 1, 1))
  if (!do.scale) sd <- rep(1, length(mean))
  if (!do.center) mean <- rep(0, length(mean))
  sd[!is.finite(sd) | sd == 0] <- 1
  list(mean = unname(mean), sd = unname(sd))
}

# A Python ProjectedPCA (RNA: LogNormalize + ScaleData + RunPCA) or ProjectedLSI (ATAC: Signac's
# RunTFIDF + RunSVD) built from the bridge's reduction, its loadings and the logged Seurat
# commands; or a string saying why the reduction cannot be projected.
.capture_projection <- function(object, row, tfidf.method) {
  if (!row$modality %in% c("rna", "atac")) {
    return(paste0("projecting ", row$modality, " reductions is not supported (RNA PCA and ",
                  "ATAC LSI are)"))
  }
  loadings <- SeuratObject::Loadings(object[[row$reduction]])
  if (!length(loadings)) {
    return(paste0("it has no feature loadings (`Loadings(object[[\"", row$reduction,
                  "\"]])` is empty)"))
  }
  features <- rownames(loadings)
  if (!row$assay %in% SeuratObject::Assays(object)) {
    return(paste0("its assay '", row$assay, "' is not in the object"))
  }
  missing <- setdiff(features, rownames(object[[row$assay]]))
  if (length(missing)) {
    return(paste0(length(missing), " of its ", length(features), " loading features are not ",
                  "in assay '", row$assay, "' (e.g. ", missing[1], ")"))
  }
  np <- .py_import("numpy")
  pp <- .scp()$pp
  key <- paste0("X_", row$reduction)
  py_loadings <- np$array(unname(loadings), dtype = "float64")
  if (row$modality == "atac") {
    method <- if (is.null(tfidf.method)) NULL else as.integer(tfidf.method)
    return(.py_try(pp$ProjectedLSI$from_signac(
      py_loadings, as.list(StandardizePeakNames(features)), obsm_key = key, method = method)))
  }
  param <- function(command, name, default) {
    .command_param(object, command, row$assay, name, default)
  }
  normalization <- param("NormalizeData", "normalization.method", "LogNormalize")
  if (!identical(normalization, "LogNormalize")) {
    return(paste0("its data were normalised with ", normalization, ", not LogNormalize"))
  }
  if (length(param("ScaleData", "vars.to.regress", NULL)) ||
      length(param("ScaleData", "split.by", NULL))) {
    return("ScaleData regressed out variables or scaled groups apart (`vars.to.regress`, `split.by`)")
  }
  data <- .assay_data(object, row$assay)
  if (is.null(data)) {
    return(paste0("its assay '", row$assay, "' has no normalised data (run NormalizeData)"))
  }
  stats <- .scale_stats(data[features, , drop = FALSE],
                        isTRUE(param("ScaleData", "do.center", TRUE)),
                        isTRUE(param("ScaleData", "do.scale", TRUE)))
  .py_try(pp$ProjectedPCA$from_seurat(
    py_loadings, as.list(features), obsm_key = key,
    scale_factor = as.numeric(param("NormalizeData", "scale.factor", 1e4)),
    mean = np$array(stats$mean, dtype = "float64"), std = np$array(stats$sd, dtype = "float64"),
    scale_max = as.numeric(param("ScaleData", "scale.max", 10))))
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
#' @param verbose Print what is done (e.g. the device trained on) and, in an
#'   interactive R session only, the training progress bar: in `Rscript` or a
#'   knitted document a redrawn bar would write one log line per update.
#' @param ... Further options of the Python model (`n_hidden`, `dropout`,
#'   `device`, ...) or of training (`batch_size`, `lr`, `patience`, ...), by name;
#'   dots in names become underscores (`batch.size` is `batch_size`).
#' @param project Whether the model projects count-only queries into the given
#'   `reductions` itself. It captures what projects new cells' counts into each
#'   reduction: for RNA a Seurat PCA (`NormalizeData` LogNormalize, `ScaleData`,
#'   `RunPCA`: its loadings, the scale factor, the bridge's per-feature mean and sd,
#'   `scale.max`, read from the object's logged commands where present), for ATAC a
#'   Signac LSI (`RunTFIDF` + `RunSVD`: its loadings, the bridge's IDF and
#'   per-component scaling), and checks that the bridge's own counts reproduce the
#'   reduction. `PairCells()` and `ProjectScPairing()` then accept queries with
#'   counts only (a query carrying the reduction, in the bridge's space, still uses
#'   it). `NULL` (default): where possible, else the reduction is used as given and
#'   queries must carry it (the reason is kept in the model and shown by
#'   `PairCells()`); `TRUE`: an error says what is missing; `FALSE`: never.
#' @param tfidf.method Signac's `RunTFIDF()` `method` (1-4) of the ATAC reduction,
#'   which Signac does not record; `NULL` tries each and keeps the one that
#'   reproduces the bridge's reduction.
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
                         latent.dim = 10, seed = 0, max.epochs = NULL, verbose = TRUE, ...,
                         project = NULL, tfidf.method = NULL) {
  .check_seurat(object, "object")
  .check_named_character(reductions, "reductions", "c(RNA = \"pca\", ATAC = \"lsi\")")
  .check_named_character(assays, "assays", "c(RNA = \"RNA\", ATAC = \"peaks\")",
                         null_ok = !is.null(reductions))
  .check_flag(verbose, "verbose")
  if (!is.null(project)) .check_flag(project, "project")
  if (!is.null(tfidf.method) &&
      (!is.numeric(tfidf.method) || length(tfidf.method) != 1 || !tfidf.method %in% 1:4)) {
    stop("`tfidf.method` must be NULL or one of Signac's RunTFIDF methods 1, 2, 3, 4; got ",
         .describe(tfidf.method), ".", call. = FALSE)
  }
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
  # projected: queries' counts can be projected into the reduction; projection: why not.
  spec$projected <- FALSE
  spec$projection <- NA_character_
  for (i in seq_len(nrow(spec))) {
    row <- spec[i, ]
    given <- !is.na(row$reduction)
    data[[row$modality]] <- .modality_anndata(object, row, batch,
                                              !given || !isFALSE(project))
    if (!given) next
    py_reductions[[row$modality]] <- paste0("X_", row$reduction)
    if (isFALSE(project)) next
    captured <- tryCatch(.capture_projection(object, row, tfidf.method),
                         error = function(e) conditionMessage(e))
    if (!is.character(captured)) {
      # Checks that the bridge's own counts reproduce the reduction.
      checked <- tryCatch(.py_try(captured$fit(data[[row$modality]])),
                          error = function(e) conditionMessage(e))
      if (is.character(checked)) captured <- checked
    }
    if (is.character(captured)) {
      if (isTRUE(project)) {
        stop("RunScPairing: reduction '", row$reduction, "' (", row$name, ") cannot project ",
             "count-only queries: ", captured, ". Alternatives: `project = FALSE` (train on ",
             "it as given; queries must then carry it in the bridge's space), or ",
             "`reductions = NULL` (scPairing fits its own reductions from the counts).",
             call. = FALSE)
      }
      spec$projection[i] <- captured
      if (isTRUE(verbose)) {
        message("scPairing: reduction '", row$reduction, "' is used as given (queries must ",
                "carry it): it cannot project count-only queries: ", captured)
      }
    } else {
      py_reductions[[row$modality]] <- captured
      spec$projected[i] <- TRUE
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
  # A progress bar redrawn in a log file writes a line per update: only in interactive use.
  progress <- isTRUE(verbose) && interactive()
  .py_try(do.call(py_model$train, c(list(max_epochs = max.epochs, progress = progress),
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

# py_model$embed() as a Python object, with Python's UserWarnings (e.g. features missing from
# the query, zero-filled) relayed as R warnings.
.embed_py <- function(py_model, adata, modality) {
  .py_with_warnings(function() py_model$embed(adata, modality = modality),
                    paste0("embedding ", modality), prefix = modality)
}

.embed <- function(py_model, adata, modality) {
  reticulate::py_to_r(.embed_py(py_model, adata, modality))
}
