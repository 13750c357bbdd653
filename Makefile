# Two entry points for a new user (see README.md):
#   make demo   installs what is missing, then runs the bundled end-to-end demo
#   make test   installs what is missing, then runs pytest and the R testthat suite
# Both are idempotent: stamps under .make-stamps/ skip installs that are already done.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(abspath $(VENV))/bin/python
RLIB := $(abspath .Rlib)
STAMPS := .make-stamps
DEMO_OUT ?= demo_output
R_ENV := RETICULATE_PYTHON=$(PY) SCPAIRING_PYTHON=$(PY) R_LIBS=$(RLIB)

.PHONY: demo test test-python test-r lint setup setup-r vignette benchmarks clean r-docs r-check

demo: setup
	$(PY) -m scpairing demo --out $(DEMO_OUT)

test: setup setup-r lint test-python test-r

setup: $(STAMPS)/python

setup-r: $(STAMPS)/r-package $(STAMPS)/python-r

lint: setup
	$(PY) -m ruff check python tests/python benchmarks
	$(PY) -m ruff format --check python tests/python benchmarks

test-python: setup
	$(PY) -m pytest

test-r: setup-r
	$(R_ENV) Rscript tests/run_testthat.R

vignette: setup setup-r
	$(R_ENV) Rscript -e 'rmarkdown::render("vignettes/scPairing.Rmd", output_dir = "$(DEMO_OUT)")'

# Regenerates NAMESPACE and man/ from the roxygen comments in R/.
r-docs: $(STAMPS)/r-deps
	Rscript -e 'roxygen2::roxygenise()'

# R CMD check of the built package (tests and vignette run against the project's Python).
r-check: setup $(STAMPS)/r-deps
	rm -rf $(STAMPS)/r-check && mkdir -p $(STAMPS)/r-check
	cd $(STAMPS)/r-check && $(R_ENV) R CMD build $(CURDIR) > build.log 2>&1 || (cat build.log; exit 1)
	cd $(STAMPS)/r-check && $(R_ENV) _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual scPairing_*.tar.gz | tee check.log
	@grep -q "Status: OK" $(STAMPS)/r-check/check.log || echo "R CMD check: see $(STAMPS)/r-check/check.log"

$(STAMPS)/python: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@mkdir -p $(STAMPS) && touch $@

# The `r` extra (rpy2, anndata2ri: scpairing.io) once R is installed.
$(STAMPS)/python-r: $(STAMPS)/python $(STAMPS)/r-deps
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,r]"
	@touch $@

$(STAMPS)/r-deps: tools/install_r_deps.sh
	bash tools/install_r_deps.sh
	@mkdir -p $(STAMPS) && touch $@

# Installed from a built tarball: R CMD build renders the vignette (against the project's
# Python) into inst/doc, so vignette(package = "scPairing") lists it; R CMD INSTALL of the
# source directory would install no vignette.
$(STAMPS)/r-package: $(STAMPS)/r-deps $(STAMPS)/python DESCRIPTION NAMESPACE $(wildcard R/*.R) $(wildcard man/*.Rd) $(wildcard vignettes/*.Rmd) $(wildcard inst/scripts/*.R)
	@mkdir -p $(RLIB) $(STAMPS)/r-build
	rm -f $(STAMPS)/r-build/scPairing_*.tar.gz
	cd $(STAMPS)/r-build && $(R_ENV) R CMD build $(CURDIR) > build.log 2>&1 || (cat build.log; exit 1)
	R CMD INSTALL --no-multiarch --no-test-load -l $(RLIB) $(STAMPS)/r-build/scPairing_*.tar.gz > $(STAMPS)/r-install.log 2>&1 || (cat $(STAMPS)/r-install.log; exit 1)
	@touch $@

clean:
	rm -rf $(STAMPS) $(RLIB) $(DEMO_OUT)
