"""Bad input fails loudly: each case asserts the exception type and that the message names the
argument (see the TypeError / ValueError rule in ``scpairing._validate``)."""

from __future__ import annotations

import pickle
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import scpairing as scp
from conftest import make_paired_representations
from scpairing import pp
from scpairing.model import LossWeights, TrainConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
import shared_fixture  # noqa: E402

N_CELLS = 64
PRINT = False
REPS = {"rna": "X_rep", "atac": "X_rep"}
SMALL = {"latent_dim": 4, "n_hidden": 8}


def reps(n_cells: int = N_CELLS) -> dict[str, ad.AnnData]:
    return make_paired_representations(n_cells=n_cells)


def counts(n_cells: int = N_CELLS, seed: int = 0) -> dict[str, ad.AnnData]:
    """Paired Poisson counts (RNA 40 genes, ATAC 60 peaks) that carry the reps' cell types."""
    rng = np.random.default_rng(seed)
    data = reps(n_cells)
    types = data["rna"].obs["cell_type"].cat.codes.to_numpy()
    out = {}
    for m, n_features in (("rna", 40), ("atac", 60)):
        rates = rng.gamma(1.0, 1.0, size=(5, n_features))[types]
        out[m] = ad.AnnData(
            X=sp.csr_matrix(rng.poisson(rates * 2).astype(np.float32)),
            obs=data[m].obs.copy(),
            obsm={"X_rep": data[m].obsm["X_rep"]},
            var=pd.DataFrame(index=[f"{m}{j}" for j in range(n_features)]),
        )
    return out


def small_reductions() -> dict[str, pp.Reduction]:
    return {"rna": pp.RNAReduction(5), "atac": pp.ATACReduction(5)}


def lognormalised(adata: ad.AnnData) -> ad.AnnData:
    out = adata.copy()
    x = out.X.toarray()
    out.layers["counts"] = sp.csr_matrix(x)
    out.X = sp.csr_matrix(np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4))
    return out


def fractional(adata: ad.AnnData) -> ad.AnnData:
    """Whole counts but for 1% of the stored values, which get a fractional part."""
    out = adata.copy()
    x = out.X.copy()
    x.data[::100] += 0.5
    out.X = x
    return out


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """Models and files shared by the matrix (the cases never mutate them)."""
    trained = scp.ScPairing(reps(), reductions=REPS, **SMALL).train(max_epochs=1, progress=False)
    on_counts = scp.ScPairing(counts(), reductions=small_reductions(), count_decoders=True, **SMALL)
    on_counts.train(max_epochs=1, progress=False)
    folder = tmp_path_factory.mktemp("bad_input")
    backed_path = folder / "backed.h5ad"
    reps()["rna"].write_h5ad(backed_path)
    good_file = folder / "model.pt"
    trained.save(good_file)
    payload = torch.load(good_file, weights_only=True)
    del payload["state_dict"], payload["input_mean"]
    incomplete = folder / "incomplete.pt"
    torch.save(payload, incomplete)
    hostile = folder / "hostile.pt"
    with open(hostile, "wb") as handle:  # a pickle that would call a function when loaded
        pickle.dump(SimpleNamespace(a=1), handle, protocol=2)
    return SimpleNamespace(
        trained=trained,
        untrained=scp.ScPairing(reps(), reductions=REPS, **SMALL),
        on_counts=on_counts,
        untrained_counts=scp.ScPairing(counts(), reductions=REPS, count_decoders=True, **SMALL),
        backed=lambda: ad.read_h5ad(backed_path, backed="r"),
        incomplete=incomplete,
        hostile=hostile,
    )


def _with(data: dict[str, ad.AnnData], modality: str, change) -> dict[str, ad.AnnData]:
    data[modality] = change(data[modality])
    return data


def _duplicate_names(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    names = adata.obs_names.to_numpy().copy()
    names[1] = names[0]
    adata.obs_names = names
    return adata


def _nan_obsm(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    adata.obsm["X_rep"][3, 2] = np.nan
    return adata


def _narrow_obsm(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    adata.obsm["X_rep"] = adata.obsm["X_rep"][:, :5].copy()
    return adata


def _with_source_cell(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    adata.obs["source_cell"] = "mine"
    return adata


def _duplicate_vars(adata: ad.AnnData) -> ad.AnnData:
    adata = adata.copy()
    names = adata.var_names.to_numpy().copy()
    names[1] = names[0]
    adata.var_names = names
    return adata


def _train(**options):
    def run(c):
        scp.ScPairing(reps(), reductions=REPS, **SMALL).train(**{"progress": False, **options})

    return run


def _build(**options):
    return lambda c: scp.ScPairing(reps(), reductions=REPS, **{**SMALL, **options})


def _bridge_pair(change=None, modality="rna", model="trained", **kwargs):
    def run(c):
        data = reps()
        if change is not None:
            data = _with(data, modality, change)
        scp.bridge_pair(getattr(c, model), data, cutoff=0.0, **kwargs)

    return run


CASES = [
    # ------------------------------------------------------------------ train() options
    pytest.param(_train(batch_size=0), ValueError, r"`batch_size`.*>= 2", id="batch_size=0"),
    pytest.param(_train(batch_size=1), ValueError, r"`batch_size`.*BatchNorm", id="batch_size=1"),
    pytest.param(_train(batch_size=-8), ValueError, "`batch_size`", id="batch_size<0"),
    pytest.param(_train(batch_size=2.5), TypeError, "`batch_size`", id="batch_size-float"),
    pytest.param(_train(batch_size=64.0), TypeError, "`batch_size`", id="batch_size-whole-float"),
    pytest.param(_train(batch_size="64"), TypeError, "`batch_size`", id="batch_size-str"),
    pytest.param(_train(batch_size=True), TypeError, "`batch_size`", id="batch_size-bool"),
    pytest.param(
        _train(validation_fraction=-0.5), ValueError, r"`validation_fraction`.*\[0, 1\)", id="vf<0"
    ),
    pytest.param(_train(validation_fraction=1.0), ValueError, "`validation_fraction`", id="vf=1"),
    pytest.param(
        _train(validation_fraction=0.99),
        ValueError,
        r"`validation_fraction`.*fewer than 2",
        id="vf-leaves-one-cell",
    ),
    pytest.param(
        _train(validation_fraction="0.1"), TypeError, "`validation_fraction`", id="vf-str"
    ),
    pytest.param(_train(max_epochs=2.7), TypeError, "`max_epochs`", id="max_epochs-float"),
    pytest.param(_train(max_epochs=0), ValueError, "`max_epochs`", id="max_epochs=0"),
    pytest.param(_train(lr=0), ValueError, r"`lr`.*> 0", id="lr=0"),
    pytest.param(_train(lr=-1e-3), ValueError, "`lr`", id="lr<0"),
    pytest.param(_train(lr=float("nan")), ValueError, "`lr`", id="lr-nan"),
    pytest.param(_train(lr="fast"), TypeError, "`lr`", id="lr-str"),
    pytest.param(_train(weight_decay=-1), ValueError, "`weight_decay`", id="weight_decay<0"),
    pytest.param(_train(patience=0), ValueError, "`patience`", id="patience=0"),
    pytest.param(_train(patience=1.5), TypeError, "`patience`", id="patience-float"),
    pytest.param(_train(grad_clip=0), ValueError, "`grad_clip`", id="grad_clip=0"),
    pytest.param(_train(input_noise=-0.1), ValueError, "`input_noise`", id="input_noise<0"),
    pytest.param(_train(feature_dropout=1.0), ValueError, "`feature_dropout`", id="dropout=1"),
    pytest.param(
        _train(weights={"klx": 1.0}), TypeError, r"`weights`.*'klx'.*valid.*'kl'", id="weight-name"
    ),
    pytest.param(_train(weights={"kl": -1.0}), ValueError, r"`weights\.kl`", id="weight<0"),
    pytest.param(_train(weights={"clip": "1"}), TypeError, r"`weights\.clip`", id="weight-str"),
    pytest.param(_train(weights=[1.0, 2.0]), TypeError, "`weights`", id="weights-list"),
    pytest.param(
        _train(learning_rate=1.0),
        TypeError,
        r"unknown options \['learning_rate'\]",
        id="unknown-option",
    ),
    pytest.param(_train(progress="yes"), TypeError, "`progress`", id="progress-str"),
    pytest.param(
        _build(train_config={"batch_size": 1}), ValueError, "`batch_size`", id="train_config-value"
    ),
    pytest.param(
        _build(train_config={"bogus": 1}),
        TypeError,
        r"`train_config`.*'bogus'",
        id="train_config-key",
    ),
    pytest.param(_build(train_config=5), TypeError, "`train_config`", id="train_config-type"),
    pytest.param(
        lambda c: TrainConfig(max_epochs=2.7), TypeError, "`max_epochs`", id="TrainConfig-direct"
    ),
    pytest.param(
        lambda c: LossWeights(kl=float("inf")), ValueError, r"`weights\.kl`", id="LossWeights-inf"
    ),
    # ------------------------------------------------------------------ ScPairing() options
    pytest.param(_build(seed=2**70), ValueError, r"`seed`.*\[0, 4294967295\]", id="seed-2**70"),
    pytest.param(_build(seed=-1), ValueError, "`seed`", id="seed<0"),
    pytest.param(_build(seed=1.5), TypeError, "`seed`", id="seed-float"),
    pytest.param(_build(seed="0"), TypeError, "`seed`", id="seed-str"),
    pytest.param(_build(latent_dim=2.7), TypeError, "`latent_dim`", id="latent_dim-float"),
    pytest.param(_build(latent_dim=1), ValueError, "`latent_dim`", id="latent_dim=1"),
    pytest.param(_build(n_hidden=0), ValueError, "`n_hidden`", id="n_hidden=0"),
    pytest.param(_build(n_hidden=1), ValueError, r"`n_hidden`.*n_hidden // 2", id="n_hidden=1"),
    pytest.param(_build(n_hidden=16.0), TypeError, "`n_hidden`", id="n_hidden-float"),
    pytest.param(_build(n_layers=0), ValueError, "`n_layers`", id="n_layers=0"),
    pytest.param(_build(dropout=1.0), ValueError, "`dropout`", id="dropout=1"),
    pytest.param(_build(dropout="0.1"), TypeError, "`dropout`", id="dropout-str"),
    pytest.param(_build(count_decoders="yes"), TypeError, "`count_decoders`", id="count_decoders"),
    pytest.param(_build(batch_key=3), TypeError, "`batch_key`", id="batch_key-int"),
    pytest.param(_build(device="tpu"), ValueError, "`device`", id="device-unknown"),
    pytest.param(_build(device=3), TypeError, "`device`", id="device-int"),
    pytest.param(_build(allow_non_integer="yes"), TypeError, "`allow_non_integer`", id="allow-str"),
    pytest.param(
        lambda c: scp.ScPairing(reps(), reductions="X_rep"),
        TypeError,
        "`reductions`",
        id="reductions-str",
    ),
    # ------------------------------------------------------------------ bridge data
    pytest.param(
        lambda c: scp.ScPairing(
            {m: _duplicate_names(a) for m, a in reps().items()}, reductions=REPS
        ),
        ValueError,
        r"`data` has duplicated cell names.*obs_names_make_unique",
        id="bridge-duplicate-cells",
    ),
    pytest.param(
        lambda c: scp.ScPairing(reps(31), reductions=REPS),
        ValueError,
        r"`data` has 31 cells",
        id="bridge-31-cells",
    ),
    pytest.param(
        lambda c: scp.ScPairing(_with(reps(), "atac", _nan_obsm), reductions=REPS),
        ValueError,
        r"`data\['atac'\]\.obsm\['X_rep'\]` contains 1 NaN",
        id="bridge-nan-names-modality",
    ),
    pytest.param(
        lambda c: scp.ScPairing({"rna": c.backed(), "atac": reps()["atac"]}, reductions=REPS),
        ValueError,
        r"`data\['rna'\]` is a backed AnnData.*to_memory\(\)",
        id="bridge-backed",
    ),
    pytest.param(
        lambda c: scp.ScPairing(
            _with(counts(), "rna", lognormalised), reductions=small_reductions()
        ),
        ValueError,
        r"`data\['rna'\]\.X` holds non-integer.*layer='counts'.*'counts'.*allow_non_integer=True",
        id="bridge-lognormalised",
    ),
    pytest.param(
        lambda c: scp.ScPairing(_with(counts(), "atac", fractional), reductions=small_reductions()),
        ValueError,
        r"`data\['atac'\]\.X` holds non-integer",
        id="bridge-fractional",
    ),
    pytest.param(
        lambda c: scp.ScPairing(
            _with(counts(), "rna", lognormalised), reductions=REPS, count_decoders=True
        ),
        ValueError,
        r"`data\['rna'\]\.X` holds non-integer",
        id="count-decoder-lognormalised",
    ),
    pytest.param(
        lambda c: scp.ScPairing(
            _with(counts(), "rna", _duplicate_vars), reductions=REPS, count_decoders=True
        ),
        ValueError,
        r"`data\['rna'\]\.var_names` has duplicated feature names",
        id="count-decoder-duplicate-features",
    ),
    pytest.param(
        lambda c: scp.ScPairing(
            _with(counts(), "atac", _duplicate_vars), reductions=small_reductions()
        ),
        ValueError,
        r"`data\['atac'\]\.var_names` has duplicated feature names",
        id="reduction-duplicate-features",
    ),
    pytest.param(
        lambda c: pp.RNAReduction(5).fit(lognormalised(counts()["rna"])),
        ValueError,
        r"`adata\.X` holds non-integer",
        id="reduction-lognormalised",
    ),
    # ------------------------------------------------------------------ untrained models
    pytest.param(
        lambda c: c.untrained.embed(reps()["rna"], modality="rna"),
        RuntimeError,
        r"not trained.*call model\.train\(\) first",
        id="embed-untrained",
    ),
    pytest.param(
        lambda c: c.untrained_counts.predict(counts()["rna"], source="rna", target="atac"),
        RuntimeError,
        r"call model\.train\(\) first",
        id="predict-untrained",
    ),
    pytest.param(
        lambda c: c.untrained.save("never-written.pt"),
        RuntimeError,
        r"call model\.train\(\) first",
        id="save-untrained",
    ),
    pytest.param(
        _bridge_pair(model="untrained"),
        RuntimeError,
        r"`model`.*model\.train\(\) first",
        id="bridge_pair-untrained",
    ),
    # ------------------------------------------------------------------ embed / predict
    pytest.param(
        lambda c: c.trained.embed(reps()["rna"], "rna", batch_size=0),
        ValueError,
        "`batch_size`",
        id="embed-batch_size=0",
    ),
    pytest.param(
        lambda c: c.trained.embed(reps()["rna"], "rna", batch_size=1.5),
        TypeError,
        "`batch_size`",
        id="embed-batch_size-float",
    ),
    pytest.param(
        lambda c: c.trained.embed(_narrow_obsm(reps()["rna"]), "rna"),
        ValueError,
        r"`adata\.obsm\['X_rep'\]` has 5 columns but the model was trained on 20",
        id="embed-obsm-width",
    ),
    pytest.param(
        lambda c: c.trained.embed(c.backed(), "rna"),
        ValueError,
        r"`adata`.*to_memory",
        id="embed-backed",
    ),
    pytest.param(
        lambda c: c.trained.embed(reps()["rna"], "rna", allow_non_integer=1),
        TypeError,
        "`allow_non_integer`",
        id="embed-allow-int",
    ),
    pytest.param(
        lambda c: c.on_counts.embed(lognormalised(counts()["rna"]), "rna"),
        ValueError,
        r"`adata\.X` holds non-integer.*allow_non_integer=True",
        id="embed-lognormalised",
    ),
    pytest.param(
        lambda c: c.on_counts.predict(counts()["rna"], source="rna", target="atac", library_size=0),
        ValueError,
        "`library_size`",
        id="predict-library_size=0",
    ),
    pytest.param(
        lambda c: c.on_counts.predict(counts()["rna"], source="rna", target="atac", batch_size=0),
        ValueError,
        "`batch_size`",
        id="predict-batch_size=0",
    ),
    pytest.param(
        lambda c: c.on_counts.predict(counts()["rna"], source="protein", target="atac"),
        ValueError,
        "`source`",
        id="predict-source",
    ),
    # ------------------------------------------------------------------ bridge_pair queries
    pytest.param(
        _bridge_pair(_duplicate_names, "atac"),
        ValueError,
        r"`queries\['atac'\]` has duplicated cell names.*obs_names_make_unique",
        id="query-duplicate-cells",
    ),
    pytest.param(
        _bridge_pair(_with_source_cell),
        ValueError,
        r"`queries\['rna'\]`.*'source_cell'.*rename",
        id="query-source_cell",
    ),
    pytest.param(
        _bridge_pair(_narrow_obsm, "atac"),
        ValueError,
        r"`queries\['atac'\]`.*5 columns but the model was trained on 15",
        id="query-obsm-width",
    ),
    pytest.param(
        _bridge_pair(_nan_obsm, "atac"),
        ValueError,
        r"`queries\['atac'\]`.*NaN",
        id="query-nan-names-modality",
    ),
    pytest.param(
        _bridge_pair(allow_non_integer="yes"), TypeError, "`allow_non_integer`", id="bp-allow-str"
    ),
    pytest.param(
        lambda c: scp.bridge_pair("model.pt", reps()), TypeError, "`model`", id="bp-model-str"
    ),
    # ------------------------------------------------------------------ model files
    pytest.param(
        lambda c: scp.ScPairing.load(c.incomplete),
        ValueError,
        r"`path`.*missing the entries \['input_mean', 'state_dict'\].*incompatible",
        id="load-missing-keys",
    ),
    pytest.param(
        lambda c: scp.ScPairing.load(c.hostile),
        ValueError,
        r"`path`.*not a readable scpairing model file",
        id="load-hostile",
    ),
    pytest.param(lambda c: scp.ScPairing.load(3), TypeError, "`path`", id="load-path-int"),
    # ------------------------------------------------------------------ shared checkers elsewhere
    pytest.param(
        lambda c: scp.pair(_unit(10), _unit(10), cutoff=0.0, seed=2**70),
        ValueError,
        "`seed`",
        id="pair-seed-2**70",
    ),
    pytest.param(
        lambda c: pp.RNAReduction(5, allow_non_integer="no"),
        TypeError,
        "`allow_non_integer`",
        id="reduction-allow-str",
    ),
]


def _unit(n: int) -> np.ndarray:
    z = np.random.default_rng(n).normal(size=(n, 4)).astype(np.float32)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


@pytest.mark.parametrize(("call", "error", "match"), CASES)
def test_bad_input_raises_naming_the_argument(ctx, call, error, match):
    with pytest.raises(error, match=match) as caught:
        call(ctx)
    if PRINT:
        print(f"\n{type(caught.value).__name__}: {caught.value}")
    assert type(caught.value) is error  # not a subclass standing in for the rule's type


# ---------------------------------------------------------------------------- beyond the matrix
def test_failed_train_leaves_the_model_untrained():
    model = scp.ScPairing(reps(), reductions=REPS, **SMALL)
    for bad in ({"batch_size": -256}, {"max_epochs": 0}, {"validation_fraction": 1.0}):
        with pytest.raises(ValueError):
            model.train(progress=False, **bad)
        assert not model.is_trained and not model.history


def test_hostile_file_error_gives_no_unsafe_advice(ctx):
    with pytest.raises(ValueError) as caught:
        scp.ScPairing.load(ctx.hostile)
    assert "weights_only" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_train_weights_merge_into_configured_weights(monkeypatch):
    seen = {}

    def capture(module, data, batch, config, **kwargs):
        seen["config"] = config
        return []

    monkeypatch.setattr(scp.model._scpairing, "train_module", capture)
    model = scp.ScPairing(
        reps(), reductions=REPS, train_config={"batch_size": 16, "weights": {"clip": 0.5}}, **SMALL
    )
    model.train(progress=False, weights={"kl": 0.01}, lr=1e-3)
    config = seen["config"]
    assert config.weights.clip == 0.5 and config.weights.kl == 0.01
    assert config.weights.alignment == LossWeights().alignment
    assert config.batch_size == 16 and config.lr == 1e-3
    # The model's own configuration is not changed by a run's options.
    assert model.train_config.weights.kl == LossWeights().kl and model.train_config.lr == 2e-3


def test_validation_fraction_zero_runs_every_epoch_and_keeps_the_last_weights():
    model = scp.ScPairing(reps(), reductions=REPS, **SMALL)
    model.train(max_epochs=3, validation_fraction=0, progress=False)
    assert len(model.history) == 3 and "validation" not in model.history[-1]


def test_too_small_validation_split_warns():
    model = scp.ScPairing(reps(), reductions=REPS, **SMALL)
    with pytest.warns(UserWarning, match=r"`validation_fraction`.*no early stopping"):
        model.train(max_epochs=1, validation_fraction=0.01, progress=False)


def test_allow_non_integer_is_an_explicit_opt_out():
    data = _with(counts(), "rna", lognormalised)
    model = scp.ScPairing(data, reductions=small_reductions(), allow_non_integer=True, **SMALL)
    model.train(max_epochs=1, progress=False)
    query = lognormalised(counts(seed=1)["rna"])
    z = model.embed(query, "rna")  # the setting travels with the fitted reduction
    assert z.shape == (N_CELLS, 4)
    # Raw counts in a layer are the other way out: point the reduction at it.
    strict = scp.ScPairing(
        data, reductions={"rna": pp.RNAReduction(5, layer="counts"), "atac": pp.ATACReduction(5)}
    )
    assert strict.reductions["rna"].layer == "counts"
    # Per call, embed can accept values the model would refuse.
    on_counts = scp.ScPairing(counts(), reductions=small_reductions(), **SMALL)
    on_counts.train(max_epochs=1, progress=False)
    with pytest.raises(ValueError, match="non-integer"):
        on_counts.embed(query, "rna")
    assert on_counts.embed(query, "rna", allow_non_integer=True).shape == (N_CELLS, 4)


def test_allow_non_integer_survives_save_and_load(tmp_path):
    model = scp.ScPairing(counts(), reductions=small_reductions(), allow_non_integer=True, **SMALL)
    model.train(max_epochs=1, progress=False)
    model.save(tmp_path / "model.pt")
    loaded = scp.ScPairing.load(tmp_path / "model.pt")
    assert loaded.reductions["rna"].allow_non_integer
    loaded.embed(lognormalised(counts(seed=2)["rna"]), "rna")


def test_integrality_is_checked_on_a_sample_at_scale(monkeypatch):
    from scpairing import _validate

    monkeypatch.setattr(_validate, "INTEGRALITY_SAMPLE", 1000)
    rng = np.random.default_rng(0)
    whole = sp.random(2000, 300, density=0.05, random_state=0, format="csr", dtype=np.float32)
    whole.data = rng.integers(1, 20, whole.nnz).astype(np.float32)
    assert _validate.non_integer_example(whole) is None
    assert _validate.non_integer_example(whole.toarray()) is None
    some = whole.copy()
    some.data[::50] += 0.5  # 2% of the stored values: a sparse sample draws stored values only
    assert _validate.non_integer_example(some) is not None
    logged = whole.copy()
    logged.data = np.log1p(logged.data)  # a dense sample also draws zeros: 5% density here
    assert _validate.non_integer_example(logged.toarray()) is not None
    assert _validate.non_integer_example(whole.astype(np.int32)) is None


def test_source_cell_of_a_query_is_not_overwritten(ctx):
    data = reps()
    data["rna"].obs["source_cell"] = "mine"
    with pytest.raises(ValueError, match="source_cell"):
        scp.bridge_pair(ctx.trained, data, cutoff=0.0)
    assert (data["rna"].obs["source_cell"] == "mine").all()


def test_minimum_bridge_with_precomputed_reductions_is_32():
    scp.ScPairing(reps(32), reductions=REPS, **SMALL).train(max_epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"`data` has 31 cells; at least 32"):
        scp.ScPairing(reps(31), reductions=REPS, **SMALL)


def test_default_reductions_adapt_to_a_small_bridge_and_say_so():
    """Default reductions are capped at half the bridge cells (with a warning naming the value
    and the option); a reduction the user sets is kept, and one too large is an error."""
    rna, atac = shared_fixture.load()
    bridge = {"rna": rna[:201].copy(), "atac": atac[:201].copy()}
    with pytest.warns(UserWarning, match=r"201 cells .* n_components=100 instead of 200"):
        model = scp.ScPairing(bridge, **SMALL)
    assert model.input_dims == {"rna": 50, "atac": 100}
    with pytest.raises(ValueError, match=r"`data` has 201 cells.*'atac'.*at least 202"):
        scp.ScPairing(bridge, reductions={"atac": pp.ATACReduction(200)}, **SMALL)
    # RNA (with a precomputed ATAC representation): 50 cells give 25 PCs; 50 set by hand fail.
    atac_small = bridge["atac"][:50].copy()
    atac_small.obsm["X_lsi"] = np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32)
    small = {"rna": bridge["rna"][:50].copy(), "atac": atac_small}
    with pytest.warns(UserWarning, match=r"RNAReduction uses n_components=25 instead of 50"):
        model = scp.ScPairing(small, reductions={"atac": "X_lsi"}, **SMALL)
    assert model.input_dims["rna"] == 25
    with pytest.raises(ValueError, match=r"`data` has 50 cells.*'rna'.*at least 51"):
        scp.ScPairing(small, reductions={"atac": "X_lsi", "rna": pp.RNAReduction(50)}, **SMALL)


def test_large_enough_bridge_keeps_the_default_components():
    rna, atac = shared_fixture.load()
    n = min(400, rna.n_obs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = scp.ScPairing({"rna": rna[:n].copy(), "atac": atac[:n].copy()}, **SMALL)
    assert model.input_dims == {"rna": 50, "atac": 200}


def test_reduction_states_written_before_allow_non_integer_still_load():
    state = pp.RNAReduction(5).fit(counts()["rna"]).to_state()
    assert state.pop("allow_non_integer") is False
    rebuilt = pp.reduction_from_state(state)
    assert rebuilt.allow_non_integer is False and rebuilt.n_output == 5
