"""What the documentation promises about reproducibility, tested exactly.

The promise (``ScPairing`` ``seed``, README, R ``RunScPairing``): the same seed, data and options
give bit-identical embeddings and pairs with the same thread counts (torch's for training, the
BLAS threads for fitting the reductions), the same device and the same library versions; the
model records those in ``model.reproducibility``. The caller's global random state is left as
it was. Different thread counts are *not* promised to agree (they change the floating-point
summation order), so nothing here asserts that they do.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import scpairing as scp

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

import shared_fixture  # noqa: E402

EPOCHS = 2


@pytest.fixture(scope="module")
def fixture_data():
    """The shared real fixture: 360 bridge cells and 240 query cells of RNA + ATAC counts."""
    rna, atac = shared_fixture.load()
    bridge = (rna.obs["role"] == "bridge").to_numpy()
    return {
        "bridge": {"rna": rna[bridge].copy(), "atac": atac[bridge].copy()},
        "query": {"rna": rna[~bridge].copy(), "atac": atac[~bridge].copy()},
    }


def _run(data, seed: int = 0):
    """Fit the reductions, train, embed the queries and pair them: everything a seed governs."""
    model = scp.ScPairing(data["bridge"], latent_dim=8, seed=seed)
    model.train(max_epochs=EPOCHS, progress=False)
    z = {m: model.embed(adata, modality=m) for m, adata in data["query"].items()}
    pairs = scp.pair(z["rna"], z["atac"], cutoff=0.2)
    return model, z, pairs


def _global_states():
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (global state)
    return torch.get_rng_state(), (kind, keys.tolist(), pos, has_gauss, gauss), random.getstate()


def test_same_seed_and_threads_give_bit_identical_results(fixture_data):
    model_a, z_a, pairs_a = _run(fixture_data)
    model_b, z_b, pairs_b = _run(fixture_data)
    for name in ("rna", "atac"):
        # The fitted reductions (pp) are part of the promise, not only the network.
        np.testing.assert_array_equal(
            model_a._reductions[name].components_, model_b._reductions[name].components_
        )
        np.testing.assert_array_equal(z_a[name], z_b[name])
    for key, value in model_a.module.state_dict().items():
        assert torch.equal(value, model_b.module.state_dict()[key]), key
    assert model_a.history == model_b.history
    np.testing.assert_array_equal(pairs_a.index1, pairs_b.index1)
    np.testing.assert_array_equal(pairs_a.index2, pairs_b.index2)
    np.testing.assert_array_equal(pairs_a.similarity, pairs_b.similarity)
    # A different seed is a different run (the seed is not ignored).
    _, z_c, _ = _run(fixture_data, seed=1)
    assert not np.array_equal(z_a["rna"], z_c["rna"])


def test_caller_random_state_is_left_as_it_was(fixture_data, tmp_path):
    torch.manual_seed(1234)
    np.random.seed(99)  # noqa: NPY002
    random.seed(7)
    before = _global_states()
    model = scp.ScPairing(fixture_data["bridge"], latent_dim=8, seed=0)
    assert torch.equal(torch.get_rng_state(), before[0]), "ScPairing() changed torch's state"
    model.train(max_epochs=2, progress=False)
    model.embed(fixture_data["query"]["rna"], modality="rna")
    model.save(tmp_path / "model.pt")
    loaded = scp.ScPairing.load(tmp_path / "model.pt")
    z_rna = loaded.embed(fixture_data["query"]["rna"], modality="rna")
    z_atac = loaded.embed(fixture_data["query"]["atac"], modality="atac")
    scp.pair(z_rna, z_atac, cutoff=0.2, method="sparse")
    scp.bridge_pair(loaded, fixture_data["query"], cutoff=0.2)
    after = _global_states()
    assert torch.equal(after[0], before[0]), "torch's global random state changed"
    assert after[1] == before[1], "numpy's global random state changed"
    assert after[2] == before[2], "python's random state changed"


def test_caller_random_state_does_not_change_results(fixture_data):
    torch.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002
    _, z_a, _ = _run(fixture_data)
    torch.manual_seed(2)
    np.random.seed(2)  # noqa: NPY002
    torch.rand(10)  # the caller has drawn numbers of its own
    _, z_b, _ = _run(fixture_data)
    np.testing.assert_array_equal(z_a["rna"], z_b["rna"])


def test_reproducibility_is_recorded_and_saved(fixture_data, tmp_path):
    model = scp.ScPairing(fixture_data["bridge"], latent_dim=8, seed=3)
    model.train(max_epochs=1, progress=False)
    info = model.reproducibility
    assert info["seed"] == 3
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["blas_threads"] is None or info["blas_threads"] >= 1
    assert info["device"] == "cpu"
    assert info["versions"]["torch"] == torch.__version__
    assert info["versions"]["scpairing"] == scp.__version__
    model.save(tmp_path / "model.pt")
    assert scp.ScPairing.load(tmp_path / "model.pt").reproducibility == info


# Two runs in a fresh interpreter with a given thread count (torch and BLAS); prints a digest of
# each run's fitted reductions, embeddings and pairs, and the recorded thread counts.
_SCRIPT = """
import hashlib, json, sys
import numpy as np, torch
from threadpoolctl import threadpool_limits
threads = int(sys.argv[1])
torch.set_num_threads(threads)
sys.path.insert(0, sys.argv[2])
import shared_fixture
import scpairing as scp
rna, atac = shared_fixture.load()
bridge = (rna.obs["role"] == "bridge").to_numpy()
for _ in range(2):
    with threadpool_limits(limits=threads, user_api="blas"):
        model = scp.ScPairing({"rna": rna[bridge].copy(), "atac": atac[bridge].copy()},
                              latent_dim=8, seed=0)
    model.train(max_epochs=int(sys.argv[3]), progress=False)
    z1 = model.embed(rna[~bridge].copy(), modality="rna")
    z2 = model.embed(atac[~bridge].copy(), modality="atac")
    pairs = scp.pair(z1, z2, cutoff=0.2)
    digest = hashlib.sha256()
    for array in (model._reductions["atac"].components_, model._reductions["rna"].components_,
                  z1, z2, pairs.index1, pairs.index2, pairs.similarity):
        digest.update(np.ascontiguousarray(array).tobytes())
    info = model.reproducibility
    print(json.dumps({"digest": digest.hexdigest(), "torch_threads": info["torch_threads"],
                      "blas_threads": info["blas_threads"]}))
"""


def test_same_thread_count_is_bit_identical_with_several_threads():
    """With 2 torch and 2 BLAS threads (multi-threaded kernels), two runs are bit-identical;
    the pytest process itself runs on one thread (conftest), so this is a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "2", str(FIXTURES), str(EPOCHS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert first["torch_threads"] == 2
    assert first["blas_threads"] in (2, None)
    assert first["digest"] == second["digest"]
