#' Embed a single-modality Seurat object in the shared scPairing space
#'
#' Uses a trained model to place the cells of one modality on the shared sphere,
#' e.g. to plot a query next to the bridge.
#'
#' @param object A Seurat object with the modality's counts (or, for a model
#'   trained on reductions, the same reduction in the bridge's space; a model that
#'   projects its reductions, see [RunScPairing()]'s `project`, takes counts too).
#' @param model_or_bridge A Seurat object returned by [RunScPairing()] or an
#'   `scPairingModel`.
#' @param modality `"rna"`, `"atac"` or `"protein"` (R names such as `"ATAC"`,
#'   `"peaks"` or `"ADT"` work too).
#' @param assay Assay holding the counts; by default the one used for training.
#' @return `object` with a `DimReduc` named `scpairing.<modality>` (unit rows).
#' @export
#' @examples
#' \dontrun{
#' rna_query <- ProjectScPairing(rna_query, bridge, modality = "RNA")
#' }
ProjectScPairing <- function(object, model_or_bridge, modality, assay = NULL) {
  model <- .as_model(model_or_bridge)
  if (!is.character(modality) || length(modality) != 1) {
    stop("`modality` must be one modality name such as \"RNA\" or \"ATAC\".", call. = FALSE)
  }
  modality <- .python_modality(modality, "modality")
  adata <- .query_anndata(object, model, modality, "object", assay)
  z <- .embed(.py_model(model), adata, modality)
  name <- paste0("scpairing.", modality)
  object[[name]] <- .dimreduc(z, SeuratObject::Cells(object), name,
                              assay %||% .model_assay(model, modality))
  object
}
