"""Per-pair confidence, the held-out validation AUC / calibration and the no-signal warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import scpairing as scp
from conftest import make_paired_representations
from scpairing import _confidence
from scpairing.model import _losses as losses

REDUCTIONS = {"rna": "X_rep", "atac": "X_rep"}


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _train(data, **kwargs) -> scp.ScPairing:
    model = scp.ScPairing(data, reductions=REDUCTIONS, seed=0)
    return model.train(progress=False, max_epochs=15, validation_fraction=0.25, **kwargs)


@pytest.fixture(scope="module")
def trained():
    data = make_paired_representations(n_cells=400, dims=(20, 15))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # data with signal must not trip the flag
        return _train(data), data


@pytest.fixture(scope="module")
def no_signal():
    """The no-signal control: the bridge's ATAC cells permuted, so no pair is a true pair."""
    data = make_paired_representations(n_cells=400, dims=(20, 15))
    perm = np.random.default_rng(1).permutation(data["atac"].n_obs)
    data["atac"].obsm["X_rep"] = data["atac"].obsm["X_rep"][perm]
    with pytest.warns(UserWarning, match=r"train\(\): .*validation AUC 0\.[3-5]"):
        model = _train(data)
    return model, data


def test_centering_loss_is_zero_when_spread_and_one_when_crowded():
    spread = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    crowded = torch.tensor([[1.0, 0.0]] * 4)
    assert losses.centering_loss({"rna": spread, "atac": spread}).item() == pytest.approx(0.0)
    assert losses.centering_loss({"rna": crowded, "atac": spread}).item() == pytest.approx(0.5)


def test_validate_separates_signal_from_none():
    rng = np.random.default_rng(0)
    z = _unit(rng.normal(size=(200, 8)))
    good = _confidence.validate({"rna": z, "atac": _unit(z + 0.3 * rng.normal(size=z.shape))})
    none = _confidence.validate({"rna": z, "atac": _unit(rng.normal(size=z.shape))})
    assert good["auc"] > 0.95 and good["foscttm"] < 0.05
    assert abs(none["auc"] - 0.5) < 0.1 and abs(none["foscttm"] - 0.5) < 0.1
    assert _confidence.no_signal_message(good) is None
    assert "validation AUC" in _confidence.no_signal_message(none)
    knots = good["pairs"]["rna+atac"]
    values = np.asarray(knots["confidence"])
    assert np.all(np.diff(knots["similarity"]) > 0) and np.all(np.diff(values) >= 0)
    assert values.min() >= 0 and values.max() <= 1 and values[-1] > 0.8
    # Similarities only random pairs reach map to 0; no-signal similarities stay low.
    assert _confidence.calibrated(good, "atac", "rna", np.array([-0.5]))[0] == 0.0
    assert np.max(none["pairs"]["rna+atac"]["confidence"]) < 0.5


def test_too_few_validation_cells_give_no_calibration():
    z = _unit(np.random.default_rng(0).normal(size=(5, 4)))
    out = _confidence.validate({"rna": z, "atac": z})
    assert np.isnan(out["auc"]) and out["pairs"] == {}
    assert _confidence.no_signal_message(out) is None


def test_pair_gives_a_model_free_confidence_per_pair():
    rng = np.random.default_rng(0)
    z1 = _unit(rng.normal(size=(60, 5)))
    result = scp.pair(z1, _unit(z1 + 0.2 * rng.normal(size=z1.shape)), cutoff=0.0)
    assert result.confidence.shape == result.similarity.shape
    assert np.all((result.confidence >= 0) & (result.confidence <= 1))
    order = np.argsort(result.similarity)
    assert np.all(np.diff(result.confidence[order]) >= 0)  # monotone in similarity


def test_training_records_validation_in_model_history_repr_and_file(trained, tmp_path):
    model, _ = trained
    assert model.validation["n_cells"] == 100
    assert model.validation["auc"] > 0.8
    assert model.history[-1]["validation_auc"] == model.validation["auc"]
    assert "validation AUC" in repr(model) and "NO SIGNAL" not in repr(model)
    model.save(tmp_path / "m.pt")
    assert scp.ScPairing.load(tmp_path / "m.pt").validation == model.validation


def test_bridge_pair_confidence_column_and_cutoff(trained):
    model, data = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        paired = scp.bridge_pair(model, data, cutoff=0.0)
        strict = scp.bridge_pair(model, data, cutoff=0.0, min_confidence=0.6)
    confidence = paired.obs["confidence"].to_numpy()
    assert np.all((confidence >= 0) & (confidence <= 1))
    assert paired.uns["scpairing"]["confidence"].startswith("calibrated on 100")
    assert strict.n_obs < paired.n_obs
    assert strict.obs["confidence"].min() >= 0.6
    n_rna = strict.n_obs + len(strict.uns["unpaired"]["rna"])
    assert n_rna == data["rna"].n_obs
    assert strict.uns["scpairing"]["similarity_cutoff_used"] > 0.0


@pytest.mark.parametrize(
    ("value", "error"), [(1.5, ValueError), (-0.1, ValueError), ("0.5", TypeError)]
)
def test_min_confidence_is_checked(trained, value, error):
    model, data = trained
    with pytest.raises(error, match="min_confidence"):
        scp.bridge_pair(model, data, min_confidence=value)


def test_no_signal_control_is_flagged_and_has_low_confidence(no_signal):
    model, data = no_signal
    assert abs(model.validation["auc"] - 0.5) < 0.1
    assert "NO SIGNAL" in repr(model)
    with pytest.warns(UserWarning, match=r"bridge_pair\(\): .*FOSCTTM 0\.[4-6].*Try:"):
        paired = scp.bridge_pair(model, data, cutoff=0.0)
    assert np.median(paired.obs["confidence"]) < 0.3


def test_model_pair_confidence_and_no_signal_text(trained, no_signal):
    model, _ = trained
    values = model.pair_confidence(np.array([-1.0, 0.99]))
    assert values[0] == 0.0 and values[1] > 0.5
    assert model.pair_confidence(np.array([0.5]), "rna", "protein", fallback="none") == "none"
    assert model.no_signal is None
    assert "validation AUC" in no_signal[0].no_signal
