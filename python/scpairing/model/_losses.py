"""Loss terms of the contrastive hyperspherical VAE, as pure functions of tensors, and their
weights (:class:`LossWeights`). A new term is a function here, a weight field here and one line
in :meth:`scpairing.model.CLIPVAE.loss_terms`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from itertools import combinations

import torch
from power_spherical import HypersphericalUniform, PowerSpherical
from torch.nn import functional as F

from .._validate import check_number, check_option_names


@dataclass
class LossWeights:
    """Weights of the loss terms (the functions of this module); each a finite number >= 0."""

    reconstruction: float = 1.0
    kl: float = 1e-3
    clip: float = 1.0
    alignment: float = 1.0
    centering: float = 0.0
    modality_adversarial: float = 0.1
    batch_adversarial: float = 0.1
    counts: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, check_number(getattr(self, f.name), f"weights.{f.name}", low=0))

    @classmethod
    def from_dict(cls, values: Mapping, base: LossWeights | None = None) -> LossWeights:
        """Weights from a dict of some of them; the others come from ``base`` (or the defaults).

        Unknown names raise a ``TypeError`` listing the valid ones.
        """
        if not isinstance(values, Mapping):
            raise TypeError(
                f"`weights` must be a dict {{term: weight}} or a LossWeights; got "
                f"{type(values).__name__}."
            )
        check_option_names(values, [f.name for f in fields(cls)], "weights")
        merged = asdict(base) if base is not None else {}
        merged.update(values)
        return cls(**merged)

    def weighted_sum(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The total loss: each term times its weight."""
        return sum(getattr(self, name) * value for name, value in terms.items())


def clip_loss(z1: torch.Tensor, z2: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) loss: row i of ``z1`` should pick row i of ``z2`` and vice versa.

    Parameters
    ----------
    z1, z2
        Unit vectors of the same cells, shape (n, d).
    logit_scale
        Inverse temperature multiplying the cosine similarities.
    """
    logits = logit_scale * z1 @ z2.T
    targets = torch.arange(z1.shape[0], device=z1.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def multimodal_clip_loss(
    directions: dict[str, torch.Tensor], logit_scale: torch.Tensor
) -> torch.Tensor:
    """Mean CLIP loss over every pair of modalities."""
    pairs = list(combinations(directions, 2))
    return sum(clip_loss(directions[a], directions[b], logit_scale) for a, b in pairs) / len(pairs)


def alignment_loss(directions: dict[str, torch.Tensor]) -> torch.Tensor:
    """Negative mean cosine similarity between the paired directions of every modality pair."""
    pairs = list(combinations(directions, 2))
    cosines = [(directions[a] * directions[b]).sum(-1).mean() for a, b in pairs]
    return -sum(cosines) / len(pairs)


def centering_loss(directions: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over modalities of the squared norm of the batch's mean direction.

    CLIP logits only change by a constant per row when every direction shares a common
    component, so the contrastive term cannot see a shared mean direction; it lets the encoders
    lower their effective temperature by crowding all cells towards one pole, and the alignment
    term rewards that crowding (every cosine rises). This term, 0 for directions spread evenly
    around the sphere and 1 when they all coincide, removes that free direction.
    """
    means = [directions[m].mean(0) for m in directions]
    return sum((mean * mean).sum() for mean in means) / len(means)


def kl_to_uniform(posterior: PowerSpherical) -> torch.Tensor:
    """Mean KL divergence of a Power Spherical posterior to the uniform sphere distribution."""
    dim = posterior.loc.shape[-1]
    prior = HypersphericalUniform(dim, device=posterior.loc.device, dtype=posterior.loc.dtype)
    return torch.distributions.kl_divergence(posterior, prior).mean()


def reconstruction_loss(
    reconstructions: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Sum over modalities of the mean squared error of the reconstructed representation."""
    return sum(F.mse_loss(reconstructions[m], targets[m]) for m in targets)


def adversarial_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a discriminator; gradient reversal flips its sign for the encoders."""
    return F.cross_entropy(logits, labels)


def negative_binomial_nll(
    counts: torch.Tensor, mean: torch.Tensor, theta: torch.Tensor
) -> torch.Tensor:
    """Mean negative log-likelihood of counts under a negative binomial (mean, inverse dispersion).

    Parameters
    ----------
    counts
        Observed counts, shape (n, features).
    mean
        Expected counts, same shape, > 0.
    theta
        Inverse dispersion per feature, shape (features,), > 0.
    """
    eps = 1e-8
    log_theta_mean = torch.log(theta + mean + eps)
    log_likelihood = (
        theta * (torch.log(theta + eps) - log_theta_mean)
        + counts * (torch.log(mean + eps) - log_theta_mean)
        + torch.lgamma(counts + theta)
        - torch.lgamma(theta)
        - torch.lgamma(counts + 1)
    )
    return -log_likelihood.mean()


def bernoulli_nll(binary: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of 0/1 observations (e.g. peak accessibility) given logits."""
    return F.binary_cross_entropy_with_logits(logits, binary)
