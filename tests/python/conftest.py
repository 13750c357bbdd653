"""Fixtures shared by the Python tests."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import scpairing as scp

# One thread: seeds reproduce and CI's 2 cores are not oversubscribed.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def snare():
    """The bundled SNARE-seq2 RNA + ATAC counts (10,309 paired nuclei)."""
    return scp.datasets.snareseq2_mop()


def make_paired_representations(
    n_cells: int = 300, n_types: int = 5, dims: tuple[int, ...] = (20, 15), seed: int = 0
) -> dict[str, ad.AnnData]:
    """Synthetic paired cells: a shared latent state seen through one linear map per modality."""
    rng = np.random.default_rng(seed)
    types = rng.integers(n_types, size=n_cells)
    centres = rng.normal(size=(n_types, 8)) * 3
    state = centres[types] + rng.normal(size=(n_cells, 8))
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(types.astype(str)), "batch": rng.choice(["a", "b"], n_cells)},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    names = ["rna", "atac", "protein"][: len(dims)]
    out = {}
    for name, dim in zip(names, dims, strict=True):
        adata = ad.AnnData(obs=obs.copy())
        projection = rng.normal(size=(8, dim))
        adata.obsm["X_rep"] = (state @ projection + 0.5 * rng.normal(size=(n_cells, dim))).astype(
            np.float32
        )
        out[name] = adata
    return out


@pytest.fixture
def paired_reps():
    return make_paired_representations()
