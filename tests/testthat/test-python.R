# Finding Python and reporting on it; library(scPairing) must work without Python.

test_that("scpairing_python() prefers the option, then RETICULATE_PYTHON, then SCPAIRING_PYTHON", {
  withr::local_envvar(RETICULATE_PYTHON = "/env/reticulate", SCPAIRING_PYTHON = "/env/scpairing")
  withr::local_options(scPairing.python = "/opt/python")
  expect_equal(scpairing_python()$path, "/opt/python")
  withr::local_options(scPairing.python = NULL)
  expect_equal(scpairing_python()$path, "/env/reticulate")
  withr::local_envvar(RETICULATE_PYTHON = "")
  expect_equal(scpairing_python(), list(path = "/env/scpairing", source = "SCPAIRING_PYTHON"))
})

test_that("scpairing_python() finds a .venv in a parent directory, else reports none", {
  withr::local_envvar(RETICULATE_PYTHON = "", SCPAIRING_PYTHON = "")
  withr::local_options(scPairing.python = NULL)
  root <- withr::local_tempdir()
  dir.create(file.path(root, ".venv", "bin"), recursive = TRUE)
  file.create(file.path(root, ".venv", "bin", "python"))
  dir.create(file.path(root, "vignettes"))
  withr::local_dir(file.path(root, "vignettes"))
  expect_equal(normalizePath(scpairing_python()$path),
               normalizePath(file.path(root, ".venv", "bin", "python")))
  withr::local_dir(withr::local_tempdir())
  if (!file.exists("/.venv/bin/python")) expect_true(is.na(scpairing_python()$path))
})

test_that("library(scPairing) loads without Python and the error names the fix", {
  out <- run_fresh_r(c(
    "setwd(tempdir())",
    "library(scPairing)",
    "cat('available:', scpairing_available(), '\\n')",
    "invisible(py_config_ok())",
    "object <- SeuratObject::pbmc_small",
    "tryCatch(RunScPairing(object, reductions = c(RNA = 'pca', ADT = 'tsne')),",
    "         error = function(e) cat('ERROR:', conditionMessage(e), '\\n'))"
  ), env = c("-u", "RETICULATE_PYTHON", "-u", "SCPAIRING_PYTHON"))
  out <- paste(out, collapse = "\n")
  expect_match(out, "available: FALSE")
  expect_match(out, "NOT AVAILABLE")
  expect_match(out, "ERROR: No Python with scpairing was found", fixed = TRUE)
  expect_match(out, "make setup", fixed = TRUE)
})

test_that("a Python path that does not exist gives an error naming it", {
  out <- run_fresh_r(c(
    "setwd(tempdir())",
    "library(scPairing)",
    "tryCatch(scPairing:::.scp(), error = function(e) cat('ERROR:', conditionMessage(e), '\\n'))"
  ), env = c("-u", "RETICULATE_PYTHON", "SCPAIRING_PYTHON=/no/such/python"))
  out <- paste(out, collapse = "\n")
  expect_match(out, "/no/such/python (from SCPAIRING_PYTHON) does not exist", fixed = TRUE)
})

test_that("py_config_ok() reports the backend, its version and CUDA", {
  skip_if_no_scpairing()
  output <- capture.output(info <- py_config_ok())
  expect_true(info$ok)
  expect_true(file.exists(info$python))
  expect_match(info$scpairing, "^[0-9]+\\.[0-9]+")
  expect_type(info$cuda, "logical")
  expect_match(paste(output, collapse = "\n"), "CUDA:")
})

test_that("Python exceptions become one-line R errors", {
  expect_equal(scPairing:::.trim_python_error(
    "ValueError: `x` is bad\n\nDetailed traceback:\n  File \"a.py\", line 1, in f\n"),
    "ValueError: `x` is bad")
  expect_equal(scPairing:::.trim_python_error("KeyError: \"`modality`: bad 'a'\""),
               "KeyError: `modality`: bad 'a'")
  skip_if_no_scpairing()
  builtins <- reticulate::import_builtins(convert = FALSE)
  error <- tryCatch(scPairing:::.py_try(builtins$int("not a number"), "parsing"),
                    error = function(e) e)
  expect_s3_class(error, "scPairing_python_error")
  expect_match(conditionMessage(error), "^parsing: ValueError: invalid literal")
  expect_no_match(conditionMessage(error), "Traceback|File \"")
})
