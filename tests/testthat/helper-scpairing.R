# Shared by the test files: backend check, the shared fixture, and a fresh R process.

skip_if_no_scpairing <- function() {
  testthat::skip_if_not(
    scPairing::scpairing_available(),
    "the scpairing Python backend is not available (set SCPAIRING_PYTHON to its venv's python)"
  )
}

fixture_dir <- function() {
  testthat::test_path("..", "fixtures", "snareseq2_600")
}

fixture_settings <- function() {
  table <- utils::read.csv(file.path(fixture_dir(), "settings.csv"), stringsAsFactors = FALSE)
  stats::setNames(as.list(table$value), table$key)
}

read_counts <- function(counts, features, cells) {
  x <- Matrix::readMM(file.path(fixture_dir(), counts))
  x <- methods::as(Matrix::t(x), "CsparseMatrix")
  dimnames(x) <- list(readLines(file.path(fixture_dir(), features)), cells)
  x
}

# The fixture as Seurat objects: the paired bridge (RNA + peaks) and the two query halves.
load_fixture <- function() {
  cells <- utils::read.csv(file.path(fixture_dir(), "cells.csv"), stringsAsFactors = FALSE)
  rownames(cells) <- cells$cell
  rna <- read_counts("rna_counts.mtx.gz", "genes.txt", cells$cell)
  atac <- read_counts("atac_counts.mtx.gz", "peaks.txt", cells$cell)
  meta <- cells[, c("cell_type", "batch", "role")]
  make <- function(role, with_rna = TRUE, with_atac = TRUE) {
    keep <- cells$role == role
    object <- if (with_rna) {
      SeuratObject::CreateSeuratObject(rna[, keep], assay = "RNA", meta.data = meta[keep, ])
    } else {
      SeuratObject::CreateSeuratObject(atac[, keep], assay = "peaks", meta.data = meta[keep, ])
    }
    if (with_rna && with_atac) {
      object[["peaks"]] <- SeuratObject::CreateAssayObject(counts = atac[, keep])
    }
    object
  }
  list(
    bridge = make("bridge"),
    rna_query = make("query", with_atac = FALSE),
    atac_query = make("query", with_rna = FALSE),
    settings = fixture_settings()
  )
}

# Runs R code in a fresh Rscript with this session's library paths and extra env vars;
# returns its output lines (stdout and stderr).
run_fresh_r <- function(code, env = character()) {
  rscript <- file.path(R.home("bin"), "Rscript")
  lib <- paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep))
  script <- tempfile(fileext = ".R")
  writeLines(code, script)
  on.exit(unlink(script))
  suppressWarnings(system2("env", c(env, lib, shQuote(rscript), shQuote(script)),
                           stdout = TRUE, stderr = TRUE))
}

# Fixture bridge trained once per test run on counts (the Python core fits the reductions).
.cache <- new.env(parent = emptyenv())
trained_fixture <- function() {
  if (is.null(.cache$fixture)) {
    fixture <- load_fixture()
    fixture$bridge <- RunScPairing(
      fixture$bridge, reductions = NULL, assays = c(RNA = "RNA", ATAC = "peaks"),
      latent.dim = fixture$settings$latent_dim, seed = fixture$settings$seed,
      max.epochs = fixture$settings$max_epochs, verbose = FALSE
    )
    .cache$fixture <- fixture
  }
  .cache$fixture
}

# Runs tests/fixtures/shared_fixture.py in a separate Python process once per test run;
# returns the folder with its outputs (model.pt, bridge_z_*.csv, pairs.csv).
python_reference <- function() {
  if (is.null(.cache$reference)) {
    out <- tempfile("scpairing_reference_")
    script <- testthat::test_path("..", "fixtures", "shared_fixture.py")
    python <- reticulate::py_config()$python
    log <- suppressWarnings(system2(python, c(shQuote(script), shQuote(out)),
                                    stdout = TRUE, stderr = TRUE))
    if (!file.exists(file.path(out, "pairs.csv"))) {
      stop("The Python reference run failed:\n", paste(utils::tail(log, 20), collapse = "\n"))
    }
    .cache$reference <- out
  }
  .cache$reference
}

read_embedding <- function(path) {
  table <- utils::read.csv(path, row.names = 1, check.names = FALSE)
  as.matrix(table)
}

# PairCells() on a bridge trained for a few epochs: its no-signal warning is expected.
quiet_pair <- function(...) {
  withCallingHandlers(PairCells(...), warning = function(w) {
    if (grepl("cannot tell true partners", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}
