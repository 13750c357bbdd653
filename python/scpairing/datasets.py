"""Loaders for the real data bundled with the package."""

from __future__ import annotations

from importlib import resources

import anndata as ad
import scipy.sparse as sp

from ._compat import moved

_SNARESEQ2 = "data/snareseq2_mop"


def _data_path(name: str):
    return resources.files("scpairing").joinpath(_SNARESEQ2, name)


def snareseq2_mop() -> tuple[ad.AnnData, ad.AnnData]:
    """Paired SNARE-seq2 RNA + ATAC of 10,309 mouse motor cortex nuclei.

    Returns
    -------
    rna, atac
        Raw counts (cells x genes, cells x peaks) of the same cells in the same order.
        ``obs`` holds ``cell_type`` (15 classes), ``cell_type_fine`` (23) and ``batch``
        (12 samples). Peak names are ``chrN:start-end``.
        Provenance: ``data/snareseq2_mop/README.md``.
    """
    with resources.as_file(_data_path("rna.h5ad")) as rna_path:
        rna = ad.read_h5ad(rna_path)
    with resources.as_file(_data_path("atac.h5ad")) as atac_path:
        atac = ad.read_h5ad(atac_path)
    return rna, atac


def snareseq2_mop_links() -> sp.csr_matrix:
    """Gene-peak links of the SNARE-seq2 data (genes x peaks, 1 where a peak belongs to a gene).

    Rows follow ``rna.var_names`` and columns ``atac.var_names`` of :func:`snareseq2_mop`.
    """
    with resources.as_file(_data_path("gene_peak_links.npz")) as path:
        return sp.load_npz(path).tocsr()


__getattr__ = moved("scpairing.datasets", {"bridge_query_split": "scpairing.evaluation"})
