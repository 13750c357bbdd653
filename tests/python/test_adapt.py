"""ScPairing.adapt: reductions refitted with unpaired query cells, retraining, the guard."""

import anndata as ad
import numpy as np
import pytest

import scpairing as scp
from scpairing.model import _adapt

# A 300-cell bridge trained 2-4 epochs has little signal; these tests check mechanisms.
pytestmark = pytest.mark.filterwarnings("ignore:.*cannot tell true partners:UserWarning")

SMALL = {"rna": scp.pp.RNAReduction(n_components=20), "atac": scp.pp.ATACReduction(n_components=30)}


@pytest.fixture(scope="module")
def split(snare):
    """Real SNARE-seq2 cells: a 300-cell bridge and 600 query cells of other nuclei."""
    rna, atac = snare
    rng = np.random.default_rng(0)
    cells = rng.choice(rna.n_obs, 900, replace=False)
    bridge = {"rna": rna[cells[:300]].copy(), "atac": atac[cells[:300]].copy()}
    query = {"rna": rna[cells[300:]].copy(), "atac": atac[cells[300:]].copy()}
    return bridge, query


def _model(bridge):
    reductions = {m: type(r)(n_components=r.n_components) for m, r in SMALL.items()}
    return scp.ScPairing(bridge, reductions=reductions, seed=0).train(max_epochs=4, progress=False)


def test_adapt_refits_the_reductions_with_the_queries_and_records_it(split):
    bridge, query = split
    model = _model(bridge)
    old = dict(model.reductions)
    before = model.validation["auc"]
    assert model.adapt(query, max_epochs=4, keep_if_worse=True, progress=False) is model
    record = model.adaptation
    assert record["refitted"] == ["rna", "atac"] and record["accepted"]
    assert record["query_cells"] == {"rna": 600, "atac": 600}
    assert record["before"]["auc"] == pytest.approx(before)
    assert record["after"]["auc"] == pytest.approx(model.validation["auc"])
    for m in ("rna", "atac"):
        assert model.reductions[m] is not old[m]
        # Fitted on 900 cells now: the bridge's own representation is not what it was.
        assert not np.allclose(
            model.reductions[m].transform(bridge[m]), old[m].transform(bridge[m])
        )
    z = model.embed(query["rna"], "rna")
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_adapt_does_not_depend_on_the_order_of_the_query_cells(split):
    bridge, query = split
    order = np.random.default_rng(1).permutation(query["atac"].n_obs)
    shuffled = {"rna": query["rna"], "atac": query["atac"][order].copy()}
    a = _model(bridge).adapt(query, max_epochs=3, keep_if_worse=True, progress=False)
    b = _model(bridge).adapt(shuffled, max_epochs=3, keep_if_worse=True, progress=False)
    np.testing.assert_allclose(
        a.embed(query["atac"], "atac"), b.embed(query["atac"], "atac"), atol=1e-6
    )
    np.testing.assert_allclose(
        a.embed(query["rna"], "rna"), b.embed(query["rna"], "rna"), atol=1e-6
    )


def test_query_sample_is_chosen_by_cell_name():
    adata = ad.AnnData(np.zeros((10, 2), dtype=np.float32))
    adata.obs_names = [f"c{i}" for i in range(10)]
    order = np.random.default_rng(0).permutation(10)
    sample = adata.obs_names[_adapt.query_sample(adata, 4, seed=3)]
    shuffled = adata[order]
    assert list(shuffled.obs_names[_adapt.query_sample(shuffled, 4, seed=3)]) == list(sample)
    assert list(adata.obs_names[_adapt.query_sample(adata, 20, seed=3)]) == sorted(adata.obs_names)


def test_an_adaptation_that_hurts_the_bridge_validation_is_undone(split, monkeypatch):
    bridge, query = split
    model = _model(bridge)
    z_before = model.embed(query["rna"], "rna")
    reductions, validation = dict(model.reductions), model.validation
    monkeypatch.setattr(_adapt, "_worse", lambda before, after: True)
    with pytest.warns(UserWarning, match="validation got worse.*left as it was"):
        model.adapt(query, max_epochs=2, progress=False)
    assert not model.adaptation["accepted"]
    assert model.reductions == reductions and model.validation["auc"] == validation["auc"]
    np.testing.assert_array_equal(model.embed(query["rna"], "rna"), z_before)


def test_worse_means_lower_auc_or_higher_foscttm_by_more_than_the_margin():
    base = {"auc": 0.9, "foscttm": 0.1}
    assert not _adapt._worse(base, {"auc": 0.895, "foscttm": 0.105})
    assert _adapt._worse(base, {"auc": 0.88, "foscttm": 0.1})
    assert _adapt._worse(base, {"auc": 0.9, "foscttm": 0.12})
    assert not _adapt._worse({"auc": float("nan"), "foscttm": float("nan")}, base)


def test_a_loaded_model_adapts_with_its_bridge_given(split, tmp_path):
    bridge, query = split
    _model(bridge).save(tmp_path / "model.pt")
    loaded = scp.ScPairing.load(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="`bridge`: this model was loaded from a file"):
        loaded.adapt(query, progress=False)
    loaded.adapt(query, bridge=bridge, max_epochs=2, keep_if_worse=True, progress=False)
    assert loaded.adaptation["refitted"] == ["rna", "atac"]
    loaded.save(tmp_path / "adapted.pt")
    again = scp.ScPairing.load(tmp_path / "adapted.pt")
    assert again.adaptation["query_cells"] == loaded.adaptation["query_cells"]
    np.testing.assert_allclose(
        again.embed(query["atac"], "atac"), loaded.embed(query["atac"], "atac"), atol=1e-6
    )


def test_bridge_pair_adapts_a_copy(split, monkeypatch):
    bridge, query = split
    model = _model(bridge)
    reductions, z = dict(model.reductions), model.embed(query["rna"], "rna")
    monkeypatch.setattr(_adapt, "_worse", lambda before, after: False)
    adapted = scp.bridge_pair(model, query, cutoff=0.0, adapt=True)
    plain = scp.bridge_pair(model, query, cutoff=0.0)
    assert adapted.uns["scpairing"]["adapted"] and not plain.uns["scpairing"]["adapted"]
    assert not np.allclose(adapted.obs["similarity"].sum(), plain.obs["similarity"].sum())
    # The model passed in is unchanged.
    assert model.reductions == reductions and model.adaptation is None
    np.testing.assert_array_equal(model.embed(query["rna"], "rna"), z)
    with pytest.raises(ValueError, match="`bridge` is only used with adapt=True"):
        scp.bridge_pair(model, query, bridge=bridge)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m, q, b: m.adapt([q["rna"]]), TypeError, "`queries` must be a non-empty dict"),
        (lambda m, q, b: m.adapt({}), TypeError, "`queries` must be a non-empty dict"),
        (lambda m, q, b: m.adapt({"protein": q["rna"]}), ValueError, "does not embed"),
        (lambda m, q, b: m.adapt(q, max_query_cells=0), ValueError, "`max_query_cells`"),
        (lambda m, q, b: m.adapt(q, keep_if_worse=1), TypeError, "`keep_if_worse`"),
        (lambda m, q, b: m.adapt(q, bridge=b), ValueError, "leave `bridge` as None"),
    ],
)
def test_adapt_checks_its_arguments(split, call, error, match):
    bridge, query = split
    model = _model(bridge)
    with pytest.raises(error, match=match):
        call(model, query, bridge)


def test_adapt_needs_a_trained_model_with_its_own_reductions(paired_reps):
    model = scp.ScPairing(paired_reps, reductions={"rna": "X_rep", "atac": "X_rep"}, seed=0)
    with pytest.raises(RuntimeError, match="not trained"):
        model.adapt(paired_reps)
    model.train(max_epochs=2, progress=False)
    with pytest.raises(ValueError, match="refits the reductions the model fitted itself"):
        model.adapt(paired_reps)


def test_refit_refuses_query_features_named_twice(split):
    bridge, query = split
    model = _model(bridge)
    twice = query["rna"].copy()
    twice.var_names = [twice.var_names[0], *twice.var_names[:-1]]
    with pytest.raises(ValueError, match=r"`queries\['rna'\].var_names` has duplicated feature"):
        model.adapt({"rna": twice, "atac": query["atac"]}, progress=False)
