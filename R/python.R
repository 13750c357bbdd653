# Finding the Python that has scpairing, importing it lazily, and turning Python
# exceptions into short R errors.

.scp_state <- new.env(parent = emptyenv())

#' Locate the Python interpreter used by scPairing
#'
#' Looks, in order, at `getOption("scPairing.python")`, the `RETICULATE_PYTHON`
#' and `SCPAIRING_PYTHON` environment variables, and a `.venv/bin/python` in the
#' working directory or one of its parents (the virtual environment that
#' `make setup` creates in an scpairing checkout). Nothing is imported.
#'
#' @return A list with `path` (the interpreter, or `NA` when none was found) and
#'   `source` (where it came from).
#' @export
#' @examples
#' scpairing_python()
scpairing_python <- function() {
  candidates <- list(
    list(path = getOption("scPairing.python", ""), source = "option scPairing.python"),
    list(path = Sys.getenv("RETICULATE_PYTHON"), source = "RETICULATE_PYTHON"),
    list(path = Sys.getenv("SCPAIRING_PYTHON"), source = "SCPAIRING_PYTHON")
  )
  for (candidate in candidates) {
    if (is.character(candidate$path) && nzchar(candidate$path)) {
      return(candidate)
    }
  }
  dir <- normalizePath(getwd(), mustWork = FALSE)
  repeat {
    venv <- file.path(dir, ".venv", "bin", "python")
    if (file.exists(venv)) {
      return(list(path = venv, source = paste0(".venv found in ", dir)))
    }
    parent <- dirname(dir)
    if (identical(parent, dir)) break
    dir <- parent
  }
  list(path = NA_character_, source = "not found")
}

.setup_hint <- paste0(
  "Run `make setup` in the scpairing checkout and set ",
  "SCPAIRING_PYTHON=/path/to/scpairing/.venv/bin/python (or ",
  "options(scPairing.python = ...)) before the first scPairing call of the R session."
)

# Initialises reticulate on the interpreter found by scpairing_python() and imports
# scpairing once per session. Errors explain how to fix the setup.
.scp <- function() {
  if (!is.null(.scp_state$module)) {
    return(.scp_state$module)
  }
  found <- scpairing_python()
  if (reticulate::py_available(initialize = FALSE)) {
    # reticulate can bind one interpreter per R session: use it if it is the one asked for.
    active <- reticulate::py_config()$python
    if (!is.na(found$path) && !.same_file(active, found$path)) {
      stop("reticulate is already bound to ", active, " but scPairing was asked to use ",
           found$path, " (", found$source, "). Restart R and call scPairing before ",
           "anything else that uses Python.", call. = FALSE)
    }
  } else {
    if (is.na(found$path)) {
      stop("No Python with scpairing was found. ", .setup_hint, call. = FALSE)
    }
    if (!file.exists(found$path)) {
      stop("The Python interpreter ", found$path, " (from ", found$source,
           ") does not exist. ", .setup_hint, call. = FALSE)
    }
    # Binding through RETICULATE_PYTHON also stops reticulate from probing the working
    # directory (e.g. a pyproject.toml it would try to read as a poetry project).
    if (!nzchar(Sys.getenv("RETICULATE_PYTHON"))) Sys.setenv(RETICULATE_PYTHON = found$path)
    reticulate::use_python(found$path, required = TRUE)
  }
  if (!reticulate::py_module_available("scpairing")) {
    stop("The Python at ", reticulate::py_config()$python, " cannot import scpairing. ",
         .setup_hint, call. = FALSE)
  }
  module <- .py_try(reticulate::import("scpairing", convert = FALSE, delay_load = FALSE))
  # reticulate 1.28 converts pandas objects with a method pandas 2 deprecates.
  reticulate::import("warnings")$filterwarnings(
    "ignore", message = "Index.format is deprecated",
    category = reticulate::import_builtins()$FutureWarning
  )
  .scp_state$module <- module
  module
}

# The keys of a Python mapping as a character vector.
.py_names <- function(mapping) {
  builtins <- reticulate::import_builtins(convert = FALSE)
  as.character(reticulate::py_to_r(builtins$list(mapping$keys())))
}

.same_file <- function(a, b) {
  identical(normalizePath(a, mustWork = FALSE), normalizePath(b, mustWork = FALSE))
}

# Imports a Python module without converting its results to R.
.py_import <- function(name) {
  .scp()
  .py_try(reticulate::import(name, convert = FALSE))
}

#' Is the scpairing Python backend usable?
#'
#' Tries to start Python and import scpairing, and never raises an error: useful
#' to skip examples and tests when the backend is missing.
#'
#' @return `TRUE` or `FALSE`.
#' @export
#' @examples
#' scpairing_available()
scpairing_available <- function() {
  isTRUE(tryCatch({
    .scp()
    TRUE
  }, error = function(e) FALSE))
}

#' Report the Python backend scPairing uses
#'
#' Finds the interpreter (see [scpairing_python()]), imports scpairing and
#' reports its version and whether torch sees a CUDA GPU. Prints a short summary.
#'
#' @return Invisibly, a list with `ok` (logical), `python` (path), `source`
#'   (where the path came from), `scpairing` (version or `NA`), `torch`
#'   (version or `NA`), `cuda` (logical) and `message` (the error when `ok`
#'   is `FALSE`).
#' @export
#' @examples
#' py_config_ok()
py_config_ok <- function() {
  found <- scpairing_python()
  info <- list(ok = FALSE, python = found$path, source = found$source,
               scpairing = NA_character_, torch = NA_character_, cuda = FALSE,
               message = "")
  result <- tryCatch({
    scp <- .scp()
    torch <- reticulate::import("torch", convert = TRUE)
    info$python <- reticulate::py_config()$python
    info$scpairing <- reticulate::py_to_r(scp$`__version__`)
    info$torch <- torch$`__version__`
    info$cuda <- isTRUE(torch$cuda$is_available())
    info$ok <- TRUE
    info
  }, error = function(e) {
    info$message <- conditionMessage(e)
    info
  })
  cat(sprintf("scPairing Python backend: %s\n", if (result$ok) "OK" else "NOT AVAILABLE"))
  cat(sprintf("  python:    %s (%s)\n", result$python, result$source))
  if (result$ok) {
    cat(sprintf("  scpairing: %s\n  torch:     %s\n  CUDA:      %s\n", result$scpairing,
                result$torch, if (result$cuda) "available" else "not available (CPU)"))
  } else {
    cat(sprintf("  problem:   %s\n", result$message))
  }
  invisible(result)
}

# Evaluates `expr` (which calls into Python) and re-raises a Python exception as an R
# error carrying only the exception line, e.g. "ValueError: `cutoff` must be ...".
.py_try <- function(expr, context = NULL) {
  tryCatch(expr, error = function(e) {
    if (inherits(e, "scPairing_error")) stop(e)
    message <- .trim_python_error(conditionMessage(e))
    if (!is.null(context)) message <- paste0(context, ": ", message)
    stop(structure(class = c("scPairing_python_error", "scPairing_error", "error", "condition"),
                   list(message = message, call = NULL)))
  })
}

# Runs `fun()` (a Python call) and re-raises the UserWarnings Python gave as R warnings,
# `prefix: message`; errors become one short R error naming `context` (see .py_try).
.py_with_warnings <- function(fun, context, prefix = context) {
  warnings <- .py_import("warnings")
  builtins <- reticulate::import_builtins(convert = FALSE)
  catcher <- warnings$catch_warnings(record = TRUE)
  caught <- catcher$`__enter__`()
  warnings$simplefilter("always", builtins$UserWarning)
  value <- tryCatch(.py_try(fun(), context), finally = catcher$`__exit__`(NULL, NULL, NULL))
  reticulate::iterate(caught, function(w) {
    if (reticulate::py_to_r(builtins$issubclass(w$category, builtins$UserWarning))) {
      warning(prefix, ": ", reticulate::py_to_r(builtins$str(w$message)), call. = FALSE)
    }
  })
  value
}

.trim_python_error <- function(message) {
  message <- sub("\n+Detailed traceback:.*$", "", message)
  message <- sub("\n*Run `reticulate::py_last_error\\(\\)` for details\\.?", "", message)
  message <- trimws(message)
  # KeyError shows its argument as a quoted repr: show the text itself.
  quoted <- regmatches(message, regexec("^KeyError: ([\"'])(.*)\\1$", message))[[1]]
  if (length(quoted) == 3) {
    message <- paste0("KeyError: ", gsub("\\\\n", "\n", quoted[3]))
  }
  message
}
