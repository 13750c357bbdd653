#' scPairing: artificial multiome data from unpaired RNA and ATAC Seurat objects
#'
#' A Seurat front end to the Python package scpairing. A contrastive hyperspherical
#' variational autoencoder is trained on a paired *bridge* (cells measured with RNA and
#' ATAC, or RNA and protein, or all three); unpaired single-modality datasets are then
#' embedded in the same space and their cells matched one to one, giving an artificial
#' multiome Seurat object. The method runs in Python through reticulate; this package moves
#' Seurat objects in and out.
#'
#' @section Workflow:
#' * [RunScPairing()] trains on the bridge (on its counts, or on its Seurat PCA / Signac
#'   LSI, which count-only queries are then projected into) and stores the model.
#' * [PairCells()] pairs the queries' cells into a Seurat object (a Signac
#'   `ChromatinAssay` for the peaks when Signac is installed).
#' * [ProjectScPairing()] embeds one query in the shared space, e.g. for plots.
#' * [GetScPairingModel()], [SaveScPairingModel()], [LoadScPairingModel()] move models
#'   between R sessions and Python.
#' * [SeuratToAnnData()], [AnnDataToSeurat()], [StandardizePeakNames()] convert data.
#'
#' @section Python backend:
#' The interpreter is found by [scpairing_python()] (set `SCPAIRING_PYTHON` or
#' `RETICULATE_PYTHON` to the scpairing checkout's `.venv/bin/python`, which `make setup`
#' creates); [py_config_ok()] reports what was found. See the vignette,
#' `vignette("scPairing", package = "scPairing")`.
#' @keywords internal
"_PACKAGE"
