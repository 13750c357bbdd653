"""The training loop: optimiser, schedule, augmentation, validation split and early stopping."""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from .._validate import check_integer, check_number, check_option_names
from ._losses import LossWeights
from ._module import CLIPVAE


@dataclass
class TrainConfig:
    """Options of :func:`train_module`; the defaults work for 1k-100k cells.

    Every field is checked on construction (``TypeError`` for a wrong type, ``ValueError`` for
    a value out of range):

    - ``max_epochs``: integer >= 1.
    - ``batch_size``: integer >= 2 (BatchNorm and the contrastive loss need 2 cells per batch;
      a bridge smaller than ``batch_size`` trains in one batch of all its training cells).
    - ``lr``: learning rate > 0. ``weight_decay``: >= 0.
    - ``validation_fraction``: in [0, 1), the share of bridge cells held out for early stopping
      and for choosing the weights kept. 0 holds out nothing: all ``max_epochs`` epochs run and
      the last weights are kept.
    - ``patience``: integer >= 1, epochs without a better validation loss before stopping.
    - ``grad_clip``: > 0, the gradient norm clipped to.
    - ``input_noise``: >= 0, standard deviation of the Gaussian noise added to the inputs.
    - ``feature_dropout``: in [0, 1), the share of input features zeroed per step.
    - ``weights``: a :class:`LossWeights` or a dict of some of its fields (the rest default).
    """

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

    def __post_init__(self) -> None:
        self.max_epochs = check_integer(self.max_epochs, "max_epochs", low=1)
        self.batch_size = check_integer(
            self.batch_size,
            "batch_size",
            low=2,
            why=" (BatchNorm and the contrastive loss need at least 2 cells per batch)",
        )
        self.lr = check_number(self.lr, "lr", low=0, low_open=True)
        self.weight_decay = check_number(self.weight_decay, "weight_decay", low=0)
        self.validation_fraction = check_number(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            high_open=True,
            why=" (the share of bridge cells held out; 0 holds out none and disables early "
            "stopping)",
        )
        self.patience = check_integer(self.patience, "patience", low=1)
        self.grad_clip = check_number(self.grad_clip, "grad_clip", low=0, low_open=True)
        self.input_noise = check_number(self.input_noise, "input_noise", low=0)
        self.feature_dropout = check_number(
            self.feature_dropout, "feature_dropout", low=0, high=1, high_open=True
        )
        if not isinstance(self.weights, LossWeights):
            self.weights = LossWeights.from_dict(self.weights)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping, base: TrainConfig | None = None) -> TrainConfig:
        """A config from a dict of some of its fields; the others come from ``base`` (or the
        defaults). A partial ``weights`` dict is merged into ``base``'s weights the same way.

        Unknown names raise a ``TypeError`` listing the valid ones.
        """
        if not isinstance(values, Mapping):
            raise TypeError(
                f"`train_config` must be a TrainConfig or a dict; got {type(values).__name__}."
            )
        check_option_names(values, [f.name for f in fields(cls)], "train_config")
        base = base if base is not None else cls()
        merged = {f.name: getattr(base, f.name) for f in fields(cls)}
        merged.update(values)
        weights = values.get("weights", base.weights)
        if not isinstance(weights, LossWeights):
            weights = LossWeights.from_dict(weights, base.weights)
        merged["weights"] = weights
        return cls(**merged)


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
        loss, _ = module.loss(
            x,
            x,
            config.weights,
            sample=False,
            counts=_count_batch(counts, chunk, chunk.device),
            validation=True,
        )
        total += float(loss) * len(chunk)
        count += len(chunk)
    return total / max(count, 1)


@contextlib.contextmanager
def local_torch_rng(seed: int, device: torch.device | str = "cpu"):
    """Seed torch's global generator (and ``device``'s, on CUDA) for the block only.

    Module initialisation, dropout and the Power Spherical samples draw from torch's global
    generators; inside this block they start from ``seed``, and afterwards the caller's
    generator states are back exactly as they were (``torch.random.fork_rng``).
    """
    device = torch.device(device)
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def split_validation(n_cells: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of cell indices (validation empty when ``fraction`` is 0).

    Raises ``ValueError`` when fewer than 2 cells would be left to train on.
    """
    order = np.random.default_rng(seed).permutation(n_cells)
    n_val = int(round(n_cells * fraction))
    if n_cells - n_val < 2:
        raise ValueError(
            f"`validation_fraction`={fraction} holds out {n_val} of the {n_cells} bridge cells, "
            "leaving fewer than 2 to train on; use a smaller fraction."
        )
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

    Seeds torch's global generator with ``seed`` (module dropout and the Power Spherical samples
    draw from it); :meth:`ScPairing.train` runs this inside :func:`local_torch_rng`, so the
    caller's random state is kept.

    Returns
    -------
    list of dict
        One record per epoch: mean training loss per term, validation loss, logit scale.
    """
    device = next(module.parameters()).device
    n_cells = next(iter(data.values())).shape[0]
    train_idx, val_idx = split_validation(n_cells, config.validation_fraction, seed)
    if config.validation_fraction > 0 and len(val_idx) < 2:
        warnings.warn(
            f"`validation_fraction`={config.validation_fraction} holds out {len(val_idx)} of the "
            f"{n_cells} bridge cells, too few for a validation loss: no early stopping, all "
            f"{config.max_epochs} epochs run and the last weights are kept.",
            UserWarning,
            stacklevel=3,
        )
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
            loss, terms = module.loss(
                _augment(x, config, generator),
                x,
                config.weights,
                b,
                sample=True,
                counts=_count_batch(counts, idx, device),
            )
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
