import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
import torch

import scpairing as scp
from conftest import make_paired_representations

REPS = {"rna": "X_rep", "atac": "X_rep"}


def trained(data, *, epochs: int = 15, **kwargs) -> scp.ScPairing:
    reductions = {m: "X_rep" for m in data}
    model = scp.ScPairing(data, reductions=reductions, latent_dim=6, **kwargs)
    return model.train(max_epochs=epochs, progress=False)


def test_training_aligns_modalities_and_embeds_unit_vectors(paired_reps):
    model = trained(paired_reps)
    z_rna = model.embed(paired_reps["rna"], modality="rna")
    z_atac = model.embed(paired_reps["atac"], modality="atac")
    assert z_rna.shape == (300, 6) and z_rna.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z_rna, axis=1), 1.0, atol=1e-5)
    assert scp.metrics.foscttm(z_rna, z_atac) < 0.1
    assert model.history and "validation" in model.history[-1]


def test_embedding_generalises_to_unseen_cells():
    data = make_paired_representations(n_cells=600, seed=3)
    bridge = {m: a[:300].copy() for m, a in data.items()}
    query = {m: a[300:].copy() for m, a in data.items()}
    model = trained(bridge)
    z_rna, z_atac = model.embed(query["rna"], "rna"), model.embed(query["atac"], "atac")
    assert scp.metrics.foscttm(z_rna, z_atac) < 0.15


def test_three_modalities(paired_reps):
    data = make_paired_representations(dims=(20, 15, 10))
    model = trained(data)
    assert model.modalities == ["rna", "atac", "protein"]
    z = {m: model.embed(data[m], m) for m in data}
    assert scp.metrics.foscttm(z["rna"], z["protein"]) < 0.15


def test_same_seed_gives_identical_embeddings(paired_reps):
    a = trained(paired_reps, seed=7).embed(paired_reps["rna"], "rna")
    b = trained(paired_reps, seed=7).embed(paired_reps["rna"], "rna")
    c = trained(paired_reps, seed=8).embed(paired_reps["rna"], "rna")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_save_load_round_trip(tmp_path, paired_reps):
    model = trained(paired_reps)
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = scp.ScPairing.load(path)
    assert loaded.modalities == model.modalities and loaded.latent_dim == model.latent_dim
    for m in model.modalities:
        np.testing.assert_array_equal(
            model.embed(paired_reps[m], m), loaded.embed(paired_reps[m], m)
        )
    with pytest.raises(RuntimeError, match="cannot train|can embed but not train"):
        loaded.train(progress=False)


def test_load_rejects_foreign_and_truncated_files(tmp_path, paired_reps):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not a scpairing model"):
        scp.ScPairing.load(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable scpairing model"):
        scp.ScPairing.load(text)
    good = tmp_path / "model.pt"
    trained(paired_reps, epochs=1).save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        scp.ScPairing.load(truncated)
    with pytest.raises(FileNotFoundError, match="path"):
        scp.ScPairing.load(tmp_path / "missing.pt")


def test_accepts_mudata(paired_reps):
    with mudata.set_options(pull_on_update=False):
        data = mudata.MuData(paired_reps)
    model = scp.ScPairing(data, reductions=REPS, latent_dim=4)
    assert model.modalities == ["rna", "atac"]


def test_batch_key_enables_batch_discriminator(paired_reps):
    model = trained(paired_reps, batch_key="batch")
    assert model.module.batch_discriminator is not None
    assert "batch_adversarial" in model.history[0]
    assert model.batch_categories == ["a", "b"]


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda d: d.update(atac=d["atac"][::-1].copy()), ValueError, "cell names"),
        (lambda d: d.update(atac=d["atac"][:200].copy()), ValueError, "200 cells"),
        (lambda d: d["atac"].obsm["X_rep"].__setitem__((0, 0), np.nan), ValueError, "NaN"),
        (
            lambda d: d["atac"].obsm.__setitem__("X_rep", np.full((300, 3), np.inf)),
            ValueError,
            "Inf",
        ),
        (lambda d: d["rna"].obsm.pop("X_rep"), KeyError, "X_rep"),
        (lambda d: d.update(dna=d.pop("atac")), ValueError, "unknown modality"),
        (lambda d: d.pop("atac"), ValueError, "2 or 3 modalities"),
        (lambda d: d.update(protein=d["rna"], other=d["rna"]), ValueError, "2 or 3 modalities"),
        (lambda d: d.update(atac="not anndata"), TypeError, "AnnData"),
    ],
)
def test_bad_input_is_named(paired_reps, mutate, error, match):
    mutate(paired_reps)
    reductions = {m: "X_rep" for m in paired_reps if m in ("rna", "atac", "protein", "other")}
    with pytest.raises(error, match=match):
        scp.ScPairing(paired_reps, reductions=reductions)


def test_too_few_cells_and_bad_batches(paired_reps):
    small = {m: a[:10].copy() for m, a in paired_reps.items()}
    with pytest.raises(ValueError, match="at least"):
        scp.ScPairing(small, reductions=REPS)
    paired_reps["rna"].obs.loc[paired_reps["rna"].obs_names[3], "batch"] = np.nan
    with pytest.raises(ValueError, match="batch_key.*missing"):
        scp.ScPairing(paired_reps, reductions=REPS, batch_key="batch")
    with pytest.raises(KeyError, match="batch_key"):
        scp.ScPairing(paired_reps, reductions=REPS, batch_key="donor")


def test_bad_arguments(paired_reps):
    with pytest.raises(ValueError, match="reductions"):
        scp.ScPairing(paired_reps, reductions={"rna": "X_rep", "protein": "X_rep"})
    with pytest.raises(ValueError, match="seed"):
        scp.ScPairing(paired_reps, reductions=REPS, seed=-1)
    with pytest.raises(ValueError, match="latent_dim"):
        scp.ScPairing(paired_reps, reductions=REPS, latent_dim=1)
    model = scp.ScPairing(paired_reps, reductions=REPS)
    with pytest.raises(TypeError, match="unknown options"):
        model.train(learning_rate=1.0, progress=False)
    with pytest.raises(ValueError, match="not in this model"):
        model.embed(paired_reps["rna"], modality="protein")
    with pytest.raises(ValueError, match="unknown modality"):
        model.embed(paired_reps["rna"], modality="methylation")
    with pytest.raises(TypeError, match="adata"):
        model.embed(np.zeros((3, 20)), modality="rna")


def test_query_missing_obsm_key_is_named(paired_reps):
    model = trained(paired_reps, epochs=1)
    query = ad.AnnData(obs=paired_reps["rna"].obs)
    with pytest.raises(KeyError, match="X_rep"):
        model.embed(query, modality="rna")


def test_count_decoders_predict_the_other_modality(tmp_path):
    rng = np.random.default_rng(0)
    data = make_paired_representations(n_cells=200)
    # Counts that follow the cell type, so the decoders have something to learn.
    types = data["rna"].obs["cell_type"].cat.codes.to_numpy()
    profiles = rng.gamma(1.0, 1.0, size=(5, 30))
    for m, n_features in (("rna", 30), ("atac", 40)):
        rates = profiles[types] if m == "rna" else np.repeat(profiles[types], 2, axis=1)[:, :40]
        data[m] = ad.AnnData(
            X=rng.poisson(rates * 3).astype(np.float32),
            obs=data[m].obs,
            obsm={"X_rep": data[m].obsm["X_rep"]},
            var=pd.DataFrame(index=[f"{m}{j}" for j in range(n_features)]),
        )
    model = scp.ScPairing(data, reductions=REPS, latent_dim=6, count_decoders=True)
    model.train(max_epochs=20, progress=False)
    assert "counts" in model.history[-1]
    predicted = model.predict(data["atac"], source="atac", target="rna")
    assert predicted.shape == (200, 30) and list(predicted.var_names[:2]) == ["rna0", "rna1"]
    np.testing.assert_allclose(predicted.X.sum(1), 1e4, rtol=1e-4)
    # The predicted expression profile correlates with the true type profile.
    truth = profiles[types] / profiles[types].sum(1, keepdims=True)
    r = np.corrcoef(predicted.X.ravel(), truth.ravel())[0, 1]
    assert r > 0.5
    accessibility = model.predict(data["rna"], source="rna", target="atac")
    assert ((accessibility.X >= 0) & (accessibility.X <= 1)).all()
    model.save(tmp_path / "model.pt")
    loaded = scp.ScPairing.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(
        loaded.predict(data["atac"], source="atac", target="rna").X, predicted.X
    )


def test_predict_needs_count_decoders(paired_reps):
    model = trained(paired_reps, epochs=1)
    with pytest.raises(ValueError, match="count_decoders=True"):
        model.predict(paired_reps["rna"], source="rna", target="atac")


def test_public_accessors(paired_reps):
    model = scp.ScPairing(paired_reps, reductions=REPS, latent_dim=4)
    assert model.reductions == {"rna": "X_rep", "atac": "X_rep"}
    assert model.input_dims == {"rna": 20, "atac": 15}
    assert "rna+atac" in model.name and "untrained" in repr(model)
