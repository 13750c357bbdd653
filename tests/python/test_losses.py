import math

import numpy as np
import pytest
import torch
from power_spherical import PowerSpherical
from torch.nn import functional as F

from scpairing.model import _losses as losses


def unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def test_clip_loss_matches_hand_computation():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    scale = torch.tensor(2.0)
    # Each row: logits (2, 0) with target 0 -> -log(e^2 / (e^2 + 1)).
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert losses.clip_loss(z1, z2, scale).item() == pytest.approx(expected, rel=1e-6)


def test_clip_loss_is_symmetric_and_prefers_true_pairs():
    torch.manual_seed(0)
    z = unit(torch.randn(16, 8))
    shuffled = z[torch.randperm(16)]
    scale = torch.tensor(10.0)
    assert losses.clip_loss(z, z, scale) < losses.clip_loss(z, shuffled, scale)
    a, b = unit(torch.randn(16, 8)), unit(torch.randn(16, 8))
    assert losses.clip_loss(a, b, scale).item() == pytest.approx(
        losses.clip_loss(b, a, scale).item(), rel=1e-6
    )


def test_multimodal_clip_averages_over_all_pairs():
    torch.manual_seed(1)
    d = {m: unit(torch.randn(8, 4)) for m in ("rna", "atac", "protein")}
    scale = torch.tensor(5.0)
    expected = (
        losses.clip_loss(d["rna"], d["atac"], scale)
        + losses.clip_loss(d["rna"], d["protein"], scale)
        + losses.clip_loss(d["atac"], d["protein"], scale)
    ) / 3
    assert losses.multimodal_clip_loss(d, scale).item() == pytest.approx(expected.item())


def test_alignment_loss_is_minus_mean_cosine():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert losses.alignment_loss({"rna": a, "atac": b}).item() == pytest.approx(-0.5)
    assert losses.alignment_loss({"rna": a, "atac": a}).item() == pytest.approx(-1.0)


def test_kl_to_uniform_grows_with_concentration():
    loc = unit(torch.randn(4, 10))
    low = losses.kl_to_uniform(PowerSpherical(loc, torch.full((4,), 1.0)))
    high = losses.kl_to_uniform(PowerSpherical(loc, torch.full((4,), 100.0)))
    assert 0 <= low.item() < high.item()


def test_power_spherical_samples_lie_on_sphere_and_concentrate_with_kappa():
    torch.manual_seed(0)
    loc = unit(torch.randn(1, 10)).expand(2000, 10)
    spread = {}
    for kappa in (2.0, 200.0):
        samples = PowerSpherical(loc, torch.full((2000,), kappa)).rsample()
        np.testing.assert_allclose(samples.norm(dim=-1).numpy(), 1.0, atol=1e-5)
        spread[kappa] = (samples * loc).sum(-1).mean().item()
    assert spread[200.0] > 0.9 > spread[2.0]


def test_reconstruction_loss_sums_modalities():
    targets = {"rna": torch.zeros(3, 2), "atac": torch.zeros(3, 4)}
    recon = {"rna": torch.ones(3, 2), "atac": torch.full((3, 4), 2.0)}
    assert losses.reconstruction_loss(recon, targets).item() == pytest.approx(1.0 + 4.0)


def test_adversarial_loss_is_cross_entropy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1])
    assert losses.adversarial_loss(logits, labels).item() == pytest.approx(
        F.cross_entropy(logits, labels).item()
    )
