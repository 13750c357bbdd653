"""ScPairing: the user-facing model that owns config, fitted reductions, the module and I/O."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from . import _validate, pp
from .module import CLIPVAE
from .train import TrainConfig, train_module

MIN_CELLS = 32
_FILE_FORMAT = "scpairing.ScPairing"
_FILE_VERSION = 1


def default_device() -> torch.device:
    """CUDA when present, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _numpy_to_torch(value: Any) -> Any:
    """Make a reduction state loadable with ``torch.load(weights_only=True)``."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.ndarray):
        return {"__strarray__": [str(v) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _numpy_to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numpy_to_torch(v) for v in value]
    return value


def _torch_to_numpy(value: Any) -> Any:
    if isinstance(value, Mapping):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy()
        if "__strarray__" in value:
            return np.asarray(value["__strarray__"], dtype=object)
        return {k: _torch_to_numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_torch_to_numpy(v) for v in value]
    return value


class ScPairing:
    """Contrastive hyperspherical VAE that embeds 2 or 3 modalities on one shared sphere.

    Parameters
    ----------
    data
        ``{modality: AnnData}`` of the same cells in the same order (a paired bridge), or a
        MuData. Modalities: ``"rna"``, ``"atac"``, ``"protein"``, ``"other"``.
    reductions
        Per modality, how to get its low-dimensional representation: ``None`` (or a missing
        key) fits the default :mod:`scpairing.pp` reduction on this bridge's counts; a string
        is an ``.obsm`` key that already holds it (queries must then carry the same-space key);
        an unfitted :mod:`scpairing.pp` reduction object is fitted on the bridge.
    batch_key
        ``.obs`` column with batch labels; enables the adversarial batch discriminator.
    latent_dim
        Ambient dimension of the latent sphere.
    seed
        Random seed; on the CPU a seed gives identical embeddings.
    n_hidden, n_layers, dropout
        Width, depth and dropout of the encoder/decoder MLPs.
    count_decoders
        Also learn to decode the latent into each modality's counts (negative binomial for RNA
        and protein, Bernoulli for ATAC), enabling cross-modal :meth:`predict`. Counts are read
        from the layer the modality's reduction uses, else ``X``. Not for ``"other"``.
    train_config
        :class:`scpairing.train.TrainConfig` or a dict of its fields (loss weights included).
    device
        ``"cuda"``, ``"cpu"`` or None (CUDA when available).

    Examples
    --------
    >>> model = ScPairing({"rna": rna, "atac": atac}, seed=0)
    >>> model.train()
    >>> z_rna = model.embed(query_rna, modality="rna")
    """

    def __init__(
        self,
        data: Mapping[str, ad.AnnData] | Any,
        *,
        reductions: Mapping[str, str | pp.Reduction | None] | None = None,
        batch_key: str | None = None,
        latent_dim: int = 10,
        seed: int = 0,
        n_hidden: int = 128,
        n_layers: int = 1,
        dropout: float = 0.1,
        count_decoders: bool = False,
        train_config: TrainConfig | Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
    ):
        modalities = _validate.check_modality_dict(data, "data")
        seed = _validate.check_seed(seed)
        if not _validate.is_integer(latent_dim) or latent_dim < 2:
            raise ValueError(f"`latent_dim` must be an integer >= 2; got {latent_dim!r}.")
        n_cells = next(iter(modalities.values())).n_obs
        if n_cells < MIN_CELLS:
            raise ValueError(
                f"`data` has {n_cells} cells; at least {MIN_CELLS} are needed to train."
            )
        self._reductions = self._fit_reductions(modalities, reductions)
        inputs = {m: self._representation(adata, m, "data") for m, adata in modalities.items()}
        self._input_mean = {m: x.mean(0) for m, x in inputs.items()}
        # One scalar per modality keeps the relative variance of the components (PCA/LSI order).
        self._input_scale = {m: float(np.sqrt(x.var(0).mean()) or 1.0) for m, x in inputs.items()}

        self.batch_key = batch_key
        batch_codes, self.batch_categories = None, []
        if batch_key is not None:
            first = next(iter(modalities.values()))
            batch_codes = _validate.check_labels(first, batch_key, "batch_key")
            self.batch_categories = [
                str(c) for c in first.obs[batch_key].astype("category").cat.categories
            ]

        self.config = {
            "latent_dim": int(latent_dim),
            "seed": seed,
            "n_hidden": int(n_hidden),
            "n_layers": int(n_layers),
            "dropout": float(dropout),
        }
        self.train_config = self._as_train_config(train_config)
        self.device = torch.device(device) if device is not None else default_device()
        self._bridge_counts = self._bridge_count_matrices(modalities) if count_decoders else {}
        self._count_features = {m: list(modalities[m].var_names) for m in self._bridge_counts}
        self.module = self._build_module({m: x.shape[1] for m, x in inputs.items()})
        self._bridge = {m: self._scale(x, m) for m, x in inputs.items()}
        self._bridge_batch = batch_codes
        self.history: list[dict[str, float]] = []
        self.is_trained = False

    # ------------------------------------------------------------------ properties
    @property
    def modalities(self) -> list[str]:
        """Modalities the model embeds, in training order."""
        return list(self.module.modalities)

    @property
    def reductions(self) -> dict[str, str | pp.Reduction]:
        """Per modality: the ``.obsm`` key read, or the fitted :mod:`scpairing.pp` reduction."""
        return dict(self._reductions)

    @property
    def input_dims(self) -> dict[str, int]:
        """Width of each modality's representation (the encoder input)."""
        return {m: int(mean.shape[0]) for m, mean in self._input_mean.items()}

    @property
    def latent_dim(self) -> int:
        return self.config["latent_dim"]

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def name(self) -> str:
        """Short description used as provenance in paired outputs."""
        modalities = "+".join(self.modalities)
        return f"ScPairing({modalities}, latent_dim={self.latent_dim}, seed={self.seed})"

    def __repr__(self) -> str:
        state = f"trained {len(self.history)} epochs" if self.is_trained else "untrained"
        return f"{self.name} [{state}, device={self.device}]"

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _as_train_config(value: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
        if value is None:
            return TrainConfig()
        if isinstance(value, TrainConfig):
            return value
        if isinstance(value, Mapping):
            try:
                return TrainConfig.from_dict(value)
            except TypeError as error:
                raise TypeError(f"`train_config`: {error}") from None
        raise TypeError(
            f"`train_config` must be a TrainConfig or a dict; got {type(value).__name__}."
        )

    @staticmethod
    def _fit_reductions(
        modalities: dict[str, ad.AnnData],
        reductions: Mapping[str, str | pp.Reduction | None] | None,
    ) -> dict[str, str | pp.Reduction]:
        if reductions is None:
            reductions = {}
        if not isinstance(reductions, Mapping):
            raise TypeError(
                "`reductions` must be None or a dict {modality: obsm key or reduction}."
            )
        given = {_validate.check_modality(k, "reductions key"): v for k, v in reductions.items()}
        unknown = set(given) - set(modalities)
        if unknown:
            raise ValueError(
                f"`reductions` names modalities not in `data`: {sorted(unknown)}; "
                f"data has {list(modalities)}."
            )
        fitted: dict[str, str | pp.Reduction] = {}
        for m, adata in modalities.items():
            spec = given.get(m)
            if isinstance(spec, str):
                fitted[m] = spec
            elif spec is None or isinstance(spec, pp.Reduction):
                reduction = spec if spec is not None else pp.make_reduction(m)
                fitted[m] = reduction.fit(adata)
            else:
                raise TypeError(
                    f"`reductions[{m!r}]` must be an obsm key, a scpairing.pp reduction or None; "
                    f"got {type(spec).__name__}."
                )
        return fitted

    def _bridge_count_matrices(self, modalities: dict[str, ad.AnnData]) -> dict[str, sp.csr_matrix]:
        counts = {}
        for m, adata in modalities.items():
            if m == "other":
                continue
            layer = getattr(self._reductions[m], "layer", None)
            values = pp.read_counts(adata, layer, f"data[{m!r}]")
            counts[m] = sp.csr_matrix(values, dtype=np.float32)
        return counts

    def _count_decoder_specs(self) -> dict[str, tuple[int, str]]:
        return {
            m: (len(names), "bernoulli" if m == "atac" else "nb")
            for m, names in self._count_features.items()
        }

    def _representation(self, adata: ad.AnnData, modality: str, argname: str) -> np.ndarray:
        spec = self._reductions[modality]
        if isinstance(spec, str):
            return _validate.get_obsm(adata, spec, argname)
        return _validate.check_matrix_2d(spec.transform(adata), f"{argname} (reduced)")

    def _scale(self, x: np.ndarray, modality: str) -> np.ndarray:
        return ((x - self._input_mean[modality]) / self._input_scale[modality]).astype(np.float32)

    def _build_module(self, input_dims: dict[str, int]) -> CLIPVAE:
        torch.manual_seed(self.config["seed"])
        return CLIPVAE(
            input_dims,
            self.config["latent_dim"],
            n_hidden=self.config["n_hidden"],
            n_layers=self.config["n_layers"],
            dropout=self.config["dropout"],
            n_batches=len(self.batch_categories),
            count_decoders=self._count_decoder_specs(),
        ).to(self.device)

    # ------------------------------------------------------------------ training / inference
    def train(
        self, *, max_epochs: int | None = None, progress: bool = True, **options: Any
    ) -> ScPairing:
        """Train on the bridge.

        Parameters
        ----------
        max_epochs
            Upper bound on epochs (early stopping on the validation loss usually ends sooner).
        progress
            Show a tqdm progress bar.
        **options
            Any other :class:`scpairing.train.TrainConfig` field for this run
            (``batch_size``, ``lr``, ``patience`` ...).

        Returns
        -------
        ScPairing
            ``self``, trained.
        """
        if not self._bridge:
            raise RuntimeError(
                "This model was loaded from a file without its bridge data; "
                "it can embed but not train."
            )
        values = self.train_config.to_dict()
        if max_epochs is not None:
            if int(max_epochs) < 1:
                raise ValueError(f"`max_epochs` must be >= 1; got {max_epochs}.")
            values["max_epochs"] = int(max_epochs)
        unknown = set(options) - set(values)
        if unknown:
            raise TypeError(
                f"train() got unknown options {sorted(unknown)}; known: {sorted(values)}."
            )
        values.update(options)
        config = TrainConfig.from_dict(values)
        data = {m: torch.from_numpy(x).to(self.device) for m, x in self._bridge.items()}
        batch = (
            torch.from_numpy(self._bridge_batch.astype(np.int64)).to(self.device)
            if self._bridge_batch is not None
            else None
        )
        self.history = train_module(
            self.module,
            data,
            batch,
            config,
            seed=self.seed,
            progress=progress,
            counts=self._bridge_counts,
        )
        self.is_trained = True
        return self

    @torch.no_grad()
    def embed(self, adata: ad.AnnData, modality: str, *, batch_size: int = 8192) -> np.ndarray:
        """Embed a single-modality dataset on the shared sphere.

        Parameters
        ----------
        adata
            Cells of one modality: raw counts when the model fitted its own reduction, otherwise
            the ``.obsm`` key the model was trained on, in the same space.
        modality
            Which encoder to use; one of :attr:`modalities`.
        batch_size
            Cells per forward pass.

        Returns
        -------
        numpy.ndarray
            ``(n_cells, latent_dim)`` float32 unit vectors.
        """
        modality = _validate.check_modality(modality)
        if modality not in self.modalities:
            raise ValueError(
                f"`modality` {modality!r} is not in this model; it has {self.modalities}."
            )
        _validate.check_anndata(adata, "adata")
        x = self._scale(self._representation(adata, modality, "adata"), modality)
        encoder = self.module.encoders[modality]
        self.module.eval()
        chunks = [
            encoder(torch.from_numpy(chunk).to(self.device)).cpu().numpy()
            for chunk in np.array_split(x, max(1, int(np.ceil(len(x) / batch_size))))
        ]
        return np.concatenate(chunks).astype(np.float32)

    @torch.no_grad()
    def predict(
        self,
        adata: ad.AnnData,
        *,
        source: str,
        target: str,
        library_size: float = 1e4,
        batch_size: int = 4096,
    ) -> ad.AnnData:
        """Predict another modality of single-modality cells through the shared space.

        Needs a model built with ``count_decoders=True``.

        Parameters
        ----------
        adata
            Cells of the ``source`` modality (as for :meth:`embed`).
        source, target
            Modality of ``adata`` and the modality to predict.
        library_size
            Total counts per predicted cell for negative-binomial targets.
        batch_size
            Cells per forward pass.

        Returns
        -------
        anndata.AnnData
            Cells x target features of the bridge: expected counts per ``library_size`` (RNA,
            protein) or accessibility probabilities (ATAC).
        """
        target = _validate.check_modality(target, "target")
        if target not in self._count_features:
            raise ValueError(
                f"`target`: no count decoder for {target!r}; build the model with "
                f"count_decoders=True (decoders here: {sorted(self._count_features)})."
            )
        z = torch.from_numpy(self.embed(adata, source, batch_size=batch_size))
        decoder = self.module.count_decoders[target]
        values = np.concatenate(
            [
                decoder.expected(chunk.to(self.device), library_size).cpu().numpy()
                for chunk in torch.split(z, batch_size)
            ]
        )
        return ad.AnnData(
            X=values,
            obs=adata.obs.copy(),
            var=pd.DataFrame(index=pd.Index(self._count_features[target])),
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write config, fitted reductions, scaling, training history and weights to one file."""
        reductions = {
            m: {"obsm_key": spec} if isinstance(spec, str) else {"state": spec.to_state()}
            for m, spec in self._reductions.items()
        }
        payload = {
            "format": _FILE_FORMAT,
            "version": _FILE_VERSION,
            "config": self.config,
            "train_config": self.train_config.to_dict(),
            "modalities": self.modalities,
            "input_dims": self.input_dims,
            "input_mean": {m: torch.from_numpy(x) for m, x in self._input_mean.items()},
            "input_scale": self._input_scale,
            "reductions": _numpy_to_torch(reductions),
            "batch_key": self.batch_key,
            "batch_categories": self.batch_categories,
            "count_features": self._count_features,
            "history": self.history,
            "is_trained": self.is_trained,
            "state_dict": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
        }
        torch.save(payload, Path(path))

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, device: str | torch.device | None = None
    ) -> ScPairing:
        """Load a model written by :meth:`save`; a GPU-trained model loads on a CPU-only machine."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"`path`: no file at {str(path)!r}.")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(
                f"`path`: {str(path)!r} is not a readable scpairing model file "
                f"(not written by ScPairing.save, or truncated): {error}"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != _FILE_FORMAT:
            raise ValueError(f"`path`: {str(path)!r} is not a scpairing model file.")
        if payload["version"] > _FILE_VERSION:
            raise ValueError(
                f"`path`: model file version {payload['version']} is newer than this scpairing "
                f"supports ({_FILE_VERSION}); upgrade scpairing."
            )
        model = cls.__new__(cls)
        model.config = payload["config"]
        model.train_config = TrainConfig.from_dict(payload["train_config"])
        model.batch_key = payload["batch_key"]
        model.batch_categories = payload["batch_categories"]
        model.device = torch.device(device) if device is not None else default_device()
        model._input_mean = {m: t.numpy() for m, t in payload["input_mean"].items()}
        model._input_scale = payload["input_scale"]
        reductions = _torch_to_numpy(payload["reductions"])
        model._reductions = {
            m: spec["obsm_key"] if "obsm_key" in spec else pp.reduction_from_state(spec["state"])
            for m, spec in reductions.items()
        }
        model._count_features = payload["count_features"]
        model.module = model._build_module(payload["input_dims"])
        model.module.load_state_dict(payload["state_dict"])
        model.module.eval()
        model._bridge, model._bridge_batch, model._bridge_counts = {}, None, {}
        model.history = payload["history"]
        model.is_trained = payload["is_trained"]
        return model
