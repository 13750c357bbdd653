# Runs the testthat suite against the installed package and prints a closing line CI can read
# (`make test-r`, from the repository root). R CMD check runs every R file in tests/ from inside
# tests/; there tests/testthat.R already runs the suite, so this file does nothing.
if (!dir.exists("tests/testthat")) {
  message("run_testthat.R: not run from the repository root; tests/testthat.R runs the suite.")
  quit(status = 0)
}
suppressPackageStartupMessages({
  library(testthat)
  library(scPairing)
})
results <- as.data.frame(testthat::test_dir("tests/testthat", reporter = "summary",
                                            stop_on_failure = FALSE, package = "scPairing",
                                            load_package = "installed"))
failed <- results$failed > 0 | results$error
skipped <- results$skipped & !failed
cat(sprintf("testthat: %d passed, %d failed, %d skipped\n",
            sum(!failed & !skipped), sum(failed), sum(skipped)))
quit(status = if (any(failed)) 1 else 0)
