#!/usr/bin/env bash
# Installs the R side from Debian's packages (CRAN is not reachable here).
# Does nothing when every package already loads.
set -euo pipefail
R_PKGS=(Seurat SeuratObject reticulate testthat Matrix knitr rmarkdown)
DEB_PKGS=(r-base-core r-cran-seurat r-cran-seuratobject r-cran-reticulate r-cran-testthat
          r-cran-matrix r-cran-knitr r-cran-rmarkdown)

if command -v Rscript >/dev/null 2>&1 && Rscript -e "
  pkgs <- c($(printf '"%s",' "${R_PKGS[@]}" | sed 's/,$//'))
  ok <- vapply(pkgs, requireNamespace, logical(1), quietly = TRUE)
  quit(status = if (all(ok)) 0 else 1)" >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "R packages are missing and this user cannot install them. As root run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${DEB_PKGS[*]}" >&2
    exit 1
  fi
fi
echo "Installing R packages from Debian: ${DEB_PKGS[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${DEB_PKGS[@]}" >/dev/null
