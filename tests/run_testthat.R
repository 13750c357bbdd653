# Runs the testthat suite against the installed package and prints a closing line CI can read.
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
