"""Torch building blocks of the contrastive hyperspherical VAE and its loss (no AnnData here)."""

from __future__ import annotations

import torch
from power_spherical import PowerSpherical
from torch import nn
from torch.nn import functional as F

from . import _losses as losses
from ._losses import LossWeights


def mlp(n_in: int, n_out: int, *, n_hidden: int, n_layers: int, dropout: float) -> nn.Sequential:
    """Linear -> BatchNorm -> ELU -> Dropout blocks followed by a linear output layer."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers += [
            nn.Linear(width, n_hidden),
            nn.BatchNorm1d(n_hidden),
            nn.ELU(),
            nn.Dropout(dropout),
        ]
        width = n_hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class DirectionEncoder(nn.Module):
    """Maps one modality's representation to a unit direction on the latent sphere."""

    def __init__(self, n_in: int, latent_dim: int, *, n_hidden: int, n_layers: int, dropout: float):
        super().__init__()
        self.net = mlp(n_in, latent_dim, n_hidden=n_hidden, n_layers=n_layers, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


class ConcentrationNet(nn.Module):
    """Per-cell concentration kappa > 0 from the concatenated inputs of all modalities."""

    def __init__(self, n_in: int, *, n_hidden: int, min_kappa: float = 1.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, n_hidden), nn.ELU(), nn.Linear(n_hidden, 1))
        self.min_kappa = min_kappa

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return F.softplus(self.net(torch.cat(inputs, dim=-1))).squeeze(-1) + self.min_kappa


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad, None


class AdversarialClassifier(nn.Module):
    """Predicts a label (modality or batch) from a latent direction through gradient reversal.

    The classifier learns to tell the labels apart while the encoders, receiving the reversed
    gradient, learn to make them indistinguishable — one optimizer, no alternating steps.
    """

    def __init__(self, latent_dim: int, n_classes: int, *, n_hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, n_hidden), nn.ELU(), nn.Linear(n_hidden, n_classes)
        )

    def forward(self, z: torch.Tensor, reversal_weight: float = 1.0) -> torch.Tensor:
        return self.net(_GradientReversal.apply(z, reversal_weight))


class CountDecoder(nn.Module):
    """Decodes a latent point into expected counts (NB) or accessibility (Bernoulli)."""

    def __init__(
        self, latent_dim: int, n_features: int, likelihood: str, *, n_hidden: int, dropout: float
    ):
        super().__init__()
        if likelihood not in ("nb", "bernoulli"):
            raise ValueError(f"`likelihood` must be 'nb' or 'bernoulli'; got {likelihood!r}.")
        self.likelihood = likelihood
        self.net = mlp(latent_dim, n_features, n_hidden=n_hidden, n_layers=1, dropout=dropout)
        if likelihood == "nb":
            self.log_theta = nn.Parameter(torch.zeros(n_features))

    def nll(self, z: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of observed counts of the same cells."""
        logits = self.net(z)
        if self.likelihood == "bernoulli":
            return losses.bernoulli_nll((counts > 0).to(logits.dtype), logits)
        library = counts.sum(-1, keepdim=True).clamp(min=1.0)
        mean = torch.softmax(logits, dim=-1) * library
        return losses.negative_binomial_nll(counts, mean, self.log_theta.exp())

    def expected(self, z: torch.Tensor, library_size: float) -> torch.Tensor:
        """Expected counts per ``library_size`` (NB) or accessibility probability (Bernoulli)."""
        logits = self.net(z)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1) * library_size


class CLIPVAE(nn.Module):
    """Encoders, concentration net, decoders and discriminators for 2 or 3 modalities.

    Parameters
    ----------
    input_dims
        Representation width per modality, in a fixed order.
    latent_dim
        Dimension of the ambient space of the latent sphere.
    n_batches
        Number of batches for the adversarial batch discriminator (0 or 1: none).
    count_decoders
        ``{modality: (n_features, likelihood)}`` of optional count decoders for cross-modal
        prediction; likelihood ``"nb"`` or ``"bernoulli"``.
    init_logit_scale
        Starting inverse temperature of the CLIP term. It is learned, but slowly (it moves by
        about +1 in a typical 40-60 epoch run), so in practice the start sets it. A shared mean
        direction ``a`` in every embedding adds a constant to each CLIP logit row and lowers
        the effective scale to about ``scale * (1 - a**2)``: when the start is above the
        temperature the data call for, the encoders reach it by crowding every cell towards
        one pole. Measured on SNARE-seq2 (held-out protocol, seeds 0-2): a start of 10 gave a
        mean random-pair cosine of 0.32-0.33 (effective scale 10.4 x 0.68 = 7.1); 6 gives
        0.16-0.17 (7.7 x 0.84 = 6.5) at the same query FOSCTTM (0.1145 vs 0.112 mean).
    """

    def __init__(
        self,
        input_dims: dict[str, int],
        latent_dim: int,
        *,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout: float = 0.1,
        n_batches: int = 0,
        max_logit_scale: float = 100.0,
        init_logit_scale: float = 6.0,
        count_decoders: dict[str, tuple[int, str]] | None = None,
    ):
        super().__init__()
        self.modalities = list(input_dims)
        self.latent_dim = latent_dim
        self.max_logit_scale = max_logit_scale
        kwargs = {"n_hidden": n_hidden, "n_layers": n_layers, "dropout": dropout}
        self.encoders = nn.ModuleDict(
            {m: DirectionEncoder(d, latent_dim, **kwargs) for m, d in input_dims.items()}
        )
        self.decoders = nn.ModuleDict(
            {m: mlp(latent_dim, d, **kwargs) for m, d in input_dims.items()}
        )
        self.concentration = ConcentrationNet(sum(input_dims.values()), n_hidden=n_hidden // 2)
        self.log_logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)).log())
        self.modality_discriminator = AdversarialClassifier(
            latent_dim, len(input_dims), n_hidden=n_hidden // 2
        )
        self.batch_discriminator = (
            AdversarialClassifier(latent_dim, n_batches, n_hidden=n_hidden // 2)
            if n_batches > 1
            else None
        )

        self.count_decoders = nn.ModuleDict(
            {
                m: CountDecoder(latent_dim, n, lik, n_hidden=n_hidden, dropout=dropout)
                for m, (n, lik) in (count_decoders or {}).items()
            }
        )

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def directions(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: self.encoders[m](x) for m, x in inputs.items()}

    def posterior(
        self, inputs: dict[str, torch.Tensor], directions: dict[str, torch.Tensor]
    ) -> PowerSpherical:
        """Power Spherical posterior around the normalised mean of the modality directions."""
        loc = F.normalize(torch.stack([directions[m] for m in self.modalities]).mean(0), dim=-1)
        kappa = self.concentration([inputs[m] for m in self.modalities])
        return PowerSpherical(loc, kappa)

    def decode(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: self.decoders[m](z) for m in self.modalities}

    # Terms that score the adversarial game rather than generalisation: left out of validation.
    GAME_TERMS = frozenset({"modality_adversarial", "batch_adversarial"})

    def loss_terms(
        self,
        inputs: dict[str, torch.Tensor],
        targets: dict[str, torch.Tensor],
        batch: torch.Tensor | None = None,
        *,
        sample: bool,
        counts: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every loss term of one mini-batch, unweighted, by the name of its weight.

        Parameters
        ----------
        inputs
            Per modality, the (possibly augmented) representations the encoders read.
        targets
            Per modality, the clean representations the decoders reconstruct.
        batch
            Batch codes of the cells (adversarial batch term), or None.
        sample
            Decode a sample of the posterior (training) or its mean direction (validation).
        counts
            Per modality with a count decoder, dense counts of the same cells.
        """
        directions = self.directions(inputs)
        posterior = self.posterior(inputs, directions)
        z = posterior.rsample() if sample else posterior.loc
        terms = {
            "reconstruction": losses.reconstruction_loss(self.decode(z), targets),
            "kl": losses.kl_to_uniform(posterior),
            "clip": losses.multimodal_clip_loss(directions, self.logit_scale),
            "alignment": losses.alignment_loss(directions),
            "centering": losses.centering_loss(directions),
        }
        if counts:
            terms["counts"] = sum(self.count_decoders[m].nll(z, c) for m, c in counts.items())
        stacked = torch.cat([directions[m] for m in self.modalities])
        n_cells = inputs[self.modalities[0]].shape[0]
        modality_labels = torch.arange(len(self.modalities), device=stacked.device)
        terms["modality_adversarial"] = losses.adversarial_loss(
            self.modality_discriminator(stacked), modality_labels.repeat_interleave(n_cells)
        )
        if self.batch_discriminator is not None and batch is not None:
            terms["batch_adversarial"] = losses.adversarial_loss(
                self.batch_discriminator(stacked), batch.repeat(len(self.modalities))
            )
        return terms

    def loss(
        self,
        inputs: dict[str, torch.Tensor],
        targets: dict[str, torch.Tensor],
        weights: LossWeights,
        batch: torch.Tensor | None = None,
        *,
        sample: bool,
        counts: dict[str, torch.Tensor] | None = None,
        validation: bool = False,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted total loss and its terms (see :meth:`loss_terms`); ``validation`` leaves
        out the adversarial terms (:attr:`GAME_TERMS`)."""
        terms = self.loss_terms(inputs, targets, batch, sample=sample, counts=counts)
        if validation:
            terms = {name: value for name, value in terms.items() if name not in self.GAME_TERMS}
        return weights.weighted_sum(terms), terms
