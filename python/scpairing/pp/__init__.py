"""Reductions fitted on a paired bridge and reused, unchanged, on unpaired query datasets.

Bridge pairing only works when every query is put into the *same* low-dimensional coordinate
system the model was trained on. Each reduction here is fitted once on the bridge's raw counts
(its features, scaling statistics, IDF and loadings are stored) and then ``transform`` maps the raw
counts of any dataset into that space, matching features by name.

- :class:`RNAReduction`: library-size normalisation, log1p, optional highly variable genes,
  standardisation (clipped), PCA.
- :class:`ATACReduction`: binarisation, log-TF-IDF, truncated SVD (LSI), first component dropped.
- :class:`ProteinReduction`: centred log-ratio per cell, PCA (or pass-through for small panels).

All work on sparse counts without densifying them.
"""

from .._peaks import canonical_peak_name
from ._atac import ATACReduction
from ._base import Reduction, read_counts
from ._projected_lsi import ProjectedLSI
from ._projected_pca import ProjectedPCA
from ._protein import ProteinReduction
from ._rna import RNAReduction
from ._state import make_reduction, reduction_from_state

__all__ = [
    "ATACReduction",
    "ProjectedLSI",
    "ProjectedPCA",
    "ProteinReduction",
    "RNAReduction",
    "Reduction",
    "canonical_peak_name",
    "make_reduction",
    "read_counts",
    "reduction_from_state",
]
