# The R half of bench_atlas.py: PairCells() on Seurat atlases of n cells per side.
#
#   Rscript benchmarks/bench_atlas_r.R MODEL N CUTOFF THIN SEED [TIME_BUDGET]
#
# bench_atlas.py runs this in a fresh process per n (so that the peak RSS is its own) with the
# model it trained; run by hand it needs RETICULATE_PYTHON and R_LIBS as in the README. The
# atlases are the very ones the Python rows pair (bench_atlas._atlases, same seeds), turned into
# Seurat objects before the clock starts. Prints one JSON line: PairCells' wall time, the
# stages the Python core recorded inside it (so the rest is the R path's own cost: Seurat <->
# AnnData conversions, reticulate, building the paired Seurat object), the peak RSS of the
# process (R and Python together), and the pairs.
suppressPackageStartupMessages(library(scPairing))
args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) >= 5, scpairing_available())
model_path <- args[1]
n <- as.integer(args[2])
cutoff <- as.numeric(args[3])
thin <- as.numeric(args[4])
seed <- as.integer(args[5])
options <- if (length(args) > 5) list(time_budget = as.numeric(args[6])) else list()

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", file_arg)))
sys <- reticulate::import("sys", convert = FALSE)
invisible(sys$path$insert(0L, here))
bench <- reticulate::import("bench_atlas", convert = FALSE)
json <- reticulate::import("json", convert = FALSE)

peak_gb <- function(field = "VmHWM") {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(strsplit(trimws(sub(".*:", "", line)), " +")[[1]][1]) / 2^20
}

atlases <- bench$`_atlases`(n, thin, seed)
rna <- AnnDataToSeurat(reticulate::py_get_item(atlases, 0L), assay = "RNA")
atac <- AnnDataToSeurat(reticulate::py_get_item(atlases, 1L), assay = "peaks", peaks = TRUE)
rm(atlases)
invisible(reticulate::import("gc")$collect())
model <- LoadScPairingModel(model_path)
invisible(gc())
data_gb <- peak_gb("VmRSS")

start <- proc.time()[["elapsed"]]
paired <- do.call(PairCells, c(list(model, rna = rna, atac = atac, cutoff = cutoff), options))
seconds <- proc.time()[["elapsed"]] - start

provenance <- SeuratObject::Misc(paired, "scPairing_pairing")
stages <- lapply(provenance$stages, function(stage) stage$seconds)
diagnostics <- provenance$diagnostics
number <- function(x) if (is.null(x)) NaN else as.numeric(x)
result <- list(
  seconds = seconds,
  stages = stages,
  data_gb = data_gb,
  peak_gb = peak_gb(),
  pairs = ncol(paired),
  gap = number(diagnostics$gap),
  gap_estimate = number(diagnostics$gap_estimate),
  converged = !isFALSE(as.logical(diagnostics$converged))
)
cat(reticulate::py_to_r(json$dumps(reticulate::r_to_py(result))), "\n")
