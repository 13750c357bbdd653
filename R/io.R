# Seurat objects as plain parts and back. Python's `scpairing.io.read_seurat()` and
# `write_seurat()` call these through rpy2, and PairCells() builds its result with
# .build_seurat(), so R and Python write one layout. Nothing here starts Python: reticulate
# must not run inside an R that rpy2 embeds (its finalizers crash that process).

# The parts of a Seurat object: `assays` (per assay: `counts` as a features x cells
# dgCMatrix, `data` when it differs from the counts, `features` its feature metadata),
# `meta`, `reductions` (per reduction: `embeddings`, `loadings` or NULL, `stdev`, `key`,
# `assay`), `misc`, `default.assay` and `skipped` (assays without counts).
.seurat_parts <- function(object) {
  .check_seurat(object, "object")
  assays <- list()
  skipped <- character()
  for (assay in SeuratObject::Assays(object)) {
    counts <- tryCatch(.assay_counts(object, assay), error = function(e) NULL)
    if (is.null(counts)) {
      skipped <- c(skipped, assay)
      next
    }
    counts <- methods::as(counts, "dgCMatrix")
    data <- .assay_data(object, assay)
    if (!is.null(data) && identical(unname(data), unname(counts))) data <- NULL
    features <- tryCatch(as.data.frame(object[[assay]][[]]), error = function(e) NULL)
    assays[[assay]] <- list(counts = counts, data = data, features = features)
  }
  reductions <- list()
  for (name in SeuratObject::Reductions(object)) {
    reduction <- object[[name]]
    loadings <- SeuratObject::Loadings(reduction)
    stdev <- SeuratObject::Stdev(reduction)
    reductions[[name]] <- list(
      embeddings = SeuratObject::Embeddings(reduction),
      loadings = if (prod(dim(loadings))) loadings else NULL,
      stdev = if (length(stdev)) stdev else NULL,
      key = SeuratObject::Key(reduction),
      assay = SeuratObject::DefaultAssay(reduction)
    )
  }
  list(assays = assays, meta = object[[]], reductions = reductions,
       misc = methods::slot(object, "misc"), default.assay = SeuratObject::DefaultAssay(object),
       skipped = skipped)
}

.set_assay_data <- function(object, assay, data) {
  if (utils::packageVersion("SeuratObject") >= "5.0.0") {
    set_layer <- getExportedValue("SeuratObject", "LayerData<-")
    return(set_layer(object, assay = assay, layer = "data", value = data))
  }
  SeuratObject::SetAssayData(object, slot = "data", new.data = data, assay = assay)
}

# A Seurat object from parts. `counts`: named list of features x cells matrices with the
# same cell names (or assay objects already built, e.g. PairCells()' ChromatinAssay), the
# first giving the default assay; assays named in `peaks` are built as PairCells() builds its
# peaks (a ChromatinAssay when Signac is installed). `meta`: cell metadata (rows in the cells'
# order). `reductions`: named list of list(embeddings (cells x dims), assay, and optionally
# key, loadings (features x dims), stdev). `data`, `features`: named lists of data matrices
# and feature metadata per assay. `misc`: stored in Misc(). `idents`: the cells' identities
# (in the cells' order); by default the cells' orig.ident: `meta$orig.ident` when given, else
# `project`.
.build_seurat <- function(counts, meta = NULL, reductions = list(), misc = list(),
                          peaks = character(), data = list(), features = list(),
                          project = "scPairing", idents = NULL) {
  assay_object <- function(assay) {
    if (inherits(counts[[assay]], "Assay")) counts[[assay]]
    else if (assay %in% peaks) .peaks_assay(counts[[assay]])
    else SeuratObject::CreateAssayObject(counts = counts[[assay]])
  }
  first <- names(counts)[1]
  object <- if (first %in% peaks || inherits(counts[[first]], "Assay")) {
    SeuratObject::CreateSeuratObject(assay_object(first), assay = first, project = project,
                                     meta.data = meta)
  } else {
    SeuratObject::CreateSeuratObject(counts = counts[[first]], assay = first, project = project,
                                     meta.data = meta)
  }
  for (assay in names(counts)[-1]) object[[assay]] <- assay_object(assay)
  for (assay in names(data)) {
    if (!is.null(data[[assay]])) object <- .set_assay_data(object, assay, data[[assay]])
  }
  for (assay in names(features)) {
    table <- features[[assay]]
    if (is.null(table) || !ncol(table)) next
    table <- as.data.frame(table)
    rownames(table) <- rownames(object[[assay]])
    object[[assay]] <- SeuratObject::AddMetaData(object[[assay]], table)
  }
  cells <- SeuratObject::Cells(object)
  for (name in names(reductions)) {
    parts <- reductions[[name]]
    object[[name]] <- if (is.null(parts$key) && is.null(parts$loadings) && is.null(parts$stdev)) {
      .dimreduc(parts$embeddings, cells, name, parts$assay)
    } else {
      .full_dimreduc(parts, cells, name)
    }
  }
  for (key in names(misc)) methods::slot(object, "misc")[[key]] <- misc[[key]]
  # Not the prefix of the cell names (every pair is "pair_N"): the project, unless the
  # metadata brings its own (a Seurat object read by Python and written back keeps it).
  if (is.null(meta) || !"orig.ident" %in% names(meta)) {
    object$orig.ident <- factor(rep(project, length(cells)))
  }
  SeuratObject::Idents(object) <- if (is.null(idents)) {
    object$orig.ident
  } else {
    stats::setNames(idents, cells)
  }
  object
}

# A DimReduc with an explicit key, feature loadings and standard deviations.
.full_dimreduc <- function(parts, cells, name) {
  key <- parts$key %||% paste0(gsub("[^A-Za-z0-9]", "", name), "_")
  embeddings <- as.matrix(parts$embeddings)
  dims <- paste0(key, seq_len(ncol(embeddings)))
  dimnames(embeddings) <- list(cells, dims)
  loadings <- parts$loadings
  if (is.null(loadings)) {
    loadings <- new("matrix")
  } else {
    loadings <- as.matrix(loadings)
    colnames(loadings) <- dims
  }
  SeuratObject::CreateDimReducObject(embeddings = embeddings, loadings = loadings,
                                     stdev = as.numeric(parts$stdev %||% numeric()), key = key,
                                     assay = parts$assay)
}

# The scPairingModel that PairCells() and RunScPairing() store in Misc(object, "scPairing"),
# from the bytes of the file ScPairing.save() writes; `py` is the live Python model if any.
.model_record <- function(bytes, spec, batch, latent.dim, name, version, reproducibility,
                          py = NULL) {
  cache <- new.env(parent = emptyenv())
  cache$py <- py
  structure(list(
    bytes = bytes,
    spec = spec,
    batch = batch,
    latent.dim = as.integer(latent.dim),
    name = name,
    scpairing.version = version,
    # Seed, thread counts, device and library versions of the run (see RunScPairing's `seed`).
    reproducibility = reproducibility,
    cache = cache
  ), class = "scPairingModel")
}
