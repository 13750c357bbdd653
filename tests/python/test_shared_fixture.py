"""The shared R/Python fixture (tests/fixtures/snareseq2_600) run from Python.

The R suite (tests/testthat/test-shared-fixture.R) runs ``tests/fixtures/shared_fixture.py`` in
a separate process and checks that the R path gives the same embeddings and pairs; here the
Python side of that contract is checked on its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

import shared_fixture  # noqa: E402

import scpairing as scp  # noqa: E402


@pytest.fixture(scope="module")
def reference():
    return shared_fixture.run()


def test_fixture_is_the_documented_real_subset():
    rna, atac = shared_fixture.load()
    assert rna.shape[0] == atac.shape[0] == 600
    assert (rna.obs_names == atac.obs_names).all()
    assert (rna.obs["role"] == "bridge").sum() == 360
    assert atac.var_names[0].startswith("chr") and ":" in atac.var_names[0]
    bundled, _ = scp.datasets.snareseq2_mop()
    cells = rna.obs_names[:5]
    genes = rna.var_names[:50]
    np.testing.assert_array_equal(
        rna[cells, genes].X.toarray(), bundled[cells, genes].X.toarray().astype(np.float32)
    )


def test_embeddings_are_unit_rows_and_pair_the_bridge(reference):
    _, tables = reference
    config = shared_fixture.settings()
    z_rna, z_atac = tables["bridge_z_rna"], tables["bridge_z_atac"]
    assert z_rna.shape == (360, int(config["latent_dim"]))
    assert (z_rna.index == z_atac.index).all()
    for z in (z_rna, z_atac):
        np.testing.assert_allclose(np.linalg.norm(z.to_numpy(), axis=1), 1.0, atol=1e-5)
    similarity = z_rna.to_numpy() @ z_atac.to_numpy().T
    assert np.diag(similarity).mean() > similarity.mean() + 0.1


def test_pairs_are_one_to_one_above_the_cutoff(reference):
    _, tables = reference
    pairs = tables["pairs"]
    assert len(pairs) > 0
    assert pairs["rna_cell"].is_unique and pairs["atac_cell"].is_unique
    assert (pairs["similarity"] >= shared_fixture.settings()["cutoff"]).all()


def test_saved_model_reloads_with_the_same_embeddings(reference, tmp_path):
    model, tables = reference
    model.save(tmp_path / "model.pt")
    loaded = scp.ScPairing.load(tmp_path / "model.pt")
    rna, _ = shared_fixture.load()
    bridge = rna[rna.obs["role"] == "bridge"].copy()
    np.testing.assert_allclose(
        loaded.embed(bridge, modality="rna"), tables["bridge_z_rna"].to_numpy(), atol=1e-6
    )
