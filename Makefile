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

.PHONY: demo test test-python test-r lint setup setup-r vignette benchmarks clean

demo: setup
	$(PY) -m scpairing demo --out $(DEMO_OUT)

test: setup setup-r lint test-python test-r

setup: $(STAMPS)/python

setup-r: $(STAMPS)/r-package

lint: setup
	$(PY) -m ruff check python tests/python benchmarks
	$(PY) -m ruff format --check python tests/python benchmarks

test-python: setup
	$(PY) -m pytest

test-r: setup-r
	$(R_ENV) Rscript tests/run_testthat.R

vignette: setup setup-r
	$(R_ENV) Rscript -e 'rmarkdown::render("vignettes/scPairing.Rmd", output_dir = "$(DEMO_OUT)")'

$(STAMPS)/python: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/r-deps: tools/install_r_deps.sh
	bash tools/install_r_deps.sh
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/r-package: $(STAMPS)/r-deps $(STAMPS)/python DESCRIPTION NAMESPACE $(wildcard R/*.R)
	@mkdir -p $(RLIB)
	R CMD INSTALL --no-multiarch --no-test-load -l $(RLIB) . > $(STAMPS)/r-install.log 2>&1 || (cat $(STAMPS)/r-install.log; exit 1)
	@touch $@

clean:
	rm -rf $(STAMPS) $(RLIB) $(DEMO_OUT)
