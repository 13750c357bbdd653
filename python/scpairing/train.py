"""The training loop: optimiser, schedule, augmentation, validation split and early stopping."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from . import losses
from .module import CLIPVAE


@dataclass
class LossWeights:
    """Weights of the loss terms (see :mod:`scpairing.losses`)."""

    reconstruction: float = 1.0
    kl: float = 1e-3
    clip: float = 1.0
    alignment: float = 1.0
    modality_adversarial: float = 0.1
    batch_adversarial: float = 0.1
    counts: float = 1.0


@dataclass
class TrainConfig:
    """Options of :func:`train_module`; the defaults work for 1k-100k cells."""

    max_epochs: int = 300
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-3
    validation_fraction: float = 0.1
    patience: int = 20
    grad_clip: float = 5.0
    input_noise: float = 0.2
    feature_dropout: float = 0.1
    weights: LossWeights = field(default_factory=LossWeights)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        values["weights"] = LossWeights(**values.get("weights", {}))
        return cls(**values)


def _augment(
    x: dict[str, torch.Tensor], config: TrainConfig, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Gaussian input noise and feature dropout: a small bridge must not be memorised."""
    out = {}
    for m, values in x.items():
        noise = torch.randn(values.shape, generator=generator, device=values.device)
        keep = torch.rand(values.shape, generator=generator, device=values.device)
        out[m] = (values + config.input_noise * noise) * (keep >= config.feature_dropout)
    return out


def _loss_terms(
    module: CLIPVAE,
    inputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    batch: torch.Tensor | None,
    *,
    sample: bool,
    counts: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    directions = module.directions(inputs)
    posterior = module.posterior(inputs, directions)
    z = posterior.rsample() if sample else posterior.loc
    terms = {
        "reconstruction": losses.reconstruction_loss(module.decode(z), targets),
        "kl": losses.kl_to_uniform(posterior),
        "clip": losses.multimodal_clip_loss(directions, module.logit_scale),
        "alignment": losses.alignment_loss(directions),
    }
    if counts:
        terms["counts"] = sum(module.count_decoders[m].nll(z, c) for m, c in counts.items())
    stacked = torch.cat([directions[m] for m in module.modalities])
    n = inputs[module.modalities[0]].shape[0]
    modality_labels = torch.arange(len(module.modalities), device=stacked.device).repeat_interleave(
        n
    )
    terms["modality_adversarial"] = losses.adversarial_loss(
        module.modality_discriminator(stacked), modality_labels
    )
    if module.batch_discriminator is not None and batch is not None:
        terms["batch_adversarial"] = losses.adversarial_loss(
            module.batch_discriminator(stacked), batch.repeat(len(module.modalities))
        )
    return terms


def _weighted_sum(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    return sum(getattr(weights, name) * value for name, value in terms.items())


# Adversarial terms are left out of the validation loss: they measure a game, not generalisation.
_VALIDATION_TERMS = ("reconstruction", "kl", "clip", "alignment", "counts")


def _count_batch(
    counts: dict[str, sp.csr_matrix] | None, idx: torch.Tensor, device: torch.device
) -> dict[str, torch.Tensor] | None:
    """Densify the count rows of one mini-batch; counts stay sparse on the host between steps."""
    if not counts:
        return None
    rows = idx.cpu().numpy()
    return {m: torch.from_numpy(c[rows].toarray()).to(device) for m, c in counts.items()}


@torch.no_grad()
def _validation_loss(
    module: CLIPVAE,
    data: dict[str, torch.Tensor],
    index: torch.Tensor,
    config: TrainConfig,
    counts: dict[str, sp.csr_matrix] | None,
) -> float:
    module.eval()
    total, count = 0.0, 0
    for chunk in torch.split(index, config.batch_size):
        if len(chunk) < 2:
            continue
        x = {m: values[chunk] for m, values in data.items()}
        terms = _loss_terms(
            module, x, x, None, sample=False, counts=_count_batch(counts, chunk, chunk.device)
        )
        kept = {name: value for name, value in terms.items() if name in _VALIDATION_TERMS}
        loss = _weighted_sum(kept, config.weights)
        total += float(loss) * len(chunk)
        count += len(chunk)
    return total / max(count, 1)


def split_validation(n_cells: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of cell indices (validation empty when ``fraction`` is 0)."""
    order = np.random.default_rng(seed).permutation(n_cells)
    n_val = int(round(n_cells * fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_module(
    module: CLIPVAE,
    data: dict[str, torch.Tensor],
    batch: torch.Tensor | None,
    config: TrainConfig,
    *,
    seed: int,
    progress: bool = True,
    counts: dict[str, sp.csr_matrix] | None = None,
) -> list[dict[str, float]]:
    """Train ``module`` in place on representations already on its device.

    The whole representation matrices live on the device and mini-batches are index
    selections there, so no host-to-device copy happens per step. The weights with the lowest
    validation loss are restored at the end.

    ``counts`` (float32 CSR per modality with a count decoder) are the only data copied to the
    device per step, densified one mini-batch at a time.

    Returns
    -------
    list of dict
        One record per epoch: mean training loss per term, validation loss, logit scale.
    """
    device = next(module.parameters()).device
    n_cells = next(iter(data.values())).shape[0]
    train_idx, val_idx = split_validation(n_cells, config.validation_fraction, seed)
    train_idx = torch.as_tensor(train_idx, device=device)
    val_idx = torch.as_tensor(val_idx, device=device)
    batch_size = min(config.batch_size, len(train_idx))

    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5)

    history: list[dict[str, float]] = []
    best_loss, best_state, stale_epochs = float("inf"), None, 0
    epochs = tqdm(range(config.max_epochs), desc="training", disable=not progress, leave=False)
    for epoch in epochs:
        module.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator, device=device)]
        sums: dict[str, float] = {}
        n_steps = 0
        # Dropping the ragged last batch keeps BatchNorm and the CLIP negatives well defined.
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            x = {m: values[idx] for m, values in data.items()}
            b = batch[idx] if batch is not None else None
            terms = _loss_terms(
                module,
                _augment(x, config, generator),
                x,
                b,
                sample=True,
                counts=_count_batch(counts, idx, device),
            )
            loss = _weighted_sum(terms, config.weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            n_steps += 1
        record = {name: value / n_steps for name, value in sums.items()}
        record["epoch"] = epoch
        record["logit_scale"] = float(module.logit_scale.detach())
        if len(val_idx) >= 2:
            val_loss = _validation_loss(module, data, val_idx, config, counts)
            record["validation"] = val_loss
            scheduler.step(val_loss)
            if val_loss < best_loss - 1e-4:
                best_loss, best_state, stale_epochs = (
                    val_loss,
                    copy.deepcopy(module.state_dict()),
                    0,
                )
            else:
                stale_epochs += 1
            epochs.set_postfix(val=f"{val_loss:.3f}")
        history.append(record)
        if stale_epochs >= config.patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history
