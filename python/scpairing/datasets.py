"""Loaders for the real data bundled with the package."""

from __future__ import annotations

import warnings
from importlib import resources

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

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


def bridge_query_split(
    n_cells: int,
    labels: np.ndarray | pd.Series | None = None,
    *,
    bridge_fraction: float = 0.3,
    seed: int = 0,
    what: str = "labels",
) -> tuple[np.ndarray, np.ndarray]:
    """Split cell indices into a paired bridge and a held-out query, stratified by ``labels``.

    This is the held-out protocol of the benchmarks and the demo: the model sees only the
    bridge; the query's modalities are embedded separately and judged against their known pairing.

    Parameters
    ----------
    n_cells
        Number of cells.
    labels
        Optional per-cell labels to stratify on (e.g. ``rna.obs["cell_type"]``).
    bridge_fraction
        Fraction of cells in the bridge, in (0, 1).
    seed
        Random seed.
    what
        How warnings name the labels (e.g. ``"obs['cell_type']"``). Classes of a single cell
        are pooled for stratification, with a ``UserWarning`` naming them; a split too small
        for one cell of every class on each side is random, with a ``UserWarning``.

    Returns
    -------
    bridge_idx, query_idx
        Sorted integer indices.
    """
    if not 0 < bridge_fraction < 1:
        raise ValueError(f"`bridge_fraction` must be in (0, 1); got {bridge_fraction}.")
    if labels is not None and len(labels) != n_cells:
        raise ValueError(f"`labels` has {len(labels)} entries but `n_cells` is {n_cells}.")
    strata = None if labels is None else _strata(np.asarray(labels), bridge_fraction, what)
    bridge_idx, query_idx = train_test_split(
        np.arange(n_cells), train_size=bridge_fraction, random_state=seed, stratify=strata
    )
    return np.sort(bridge_idx), np.sort(query_idx)


def _strata(labels: np.ndarray, bridge_fraction: float, what: str) -> np.ndarray | None:
    """Labels to stratify on: classes of a single cell (which cannot be split in proportion)
    are pooled, with a ``UserWarning`` naming them; None (a random split, with a warning) when
    the split is too small to hold one cell of every class on each side."""
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    strata = inverse.astype(np.int64)
    rare = counts < 2
    n_bridge = int(np.floor(bridge_fraction * labels.size))
    if not rare.any() and min(n_bridge, labels.size - n_bridge) >= values.size:
        return labels  # as given: the split sklearn makes of them is unchanged
    if rare.any():
        shown = [repr(str(v)) for v in values[rare]]
        names = ", ".join(shown[:10]) + (f", ... ({len(shown)} in all)" if len(shown) > 10 else "")
        kind = "class has" if len(shown) == 1 else "classes have"
        warnings.warn(
            f"{what}: {len(shown)} {kind} a single cell ({names}), which cannot be split in "
            "proportion; they are pooled for the stratified split.",
            UserWarning,
            stacklevel=4,
        )
        strata[rare[inverse]] = -1
        if rare.sum() == 1:  # a pool of one: put it with the largest class
            strata[strata == -1] = int(np.argmax(counts))
    n_strata = np.unique(strata).size
    if min(n_bridge, labels.size - n_bridge) < n_strata:
        warnings.warn(
            f"{what}: a split of {labels.size} cells into {n_bridge} + {labels.size - n_bridge} "
            f"cannot hold one cell of each of {n_strata} classes on both sides; the split is "
            "random, not stratified.",
            UserWarning,
            stacklevel=4,
        )
        return None
    return strata
