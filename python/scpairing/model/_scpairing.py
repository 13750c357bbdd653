"""ScPairing: the user-facing model that owns config, fitted reductions, the module and I/O."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from .. import _confidence, _stages, _validate, pp
from .._device import check_device, default_device
from . import _adapt, _io, _small_bridge
from ._module import CLIPVAE
from ._train import TrainConfig, local_torch_rng, split_validation, train_module

# Fewest bridge cells the model trains on; the reductions fitted on the bridge may need more
# (the defaults: RNA PCA 51, ATAC LSI 202), which ScPairing checks before fitting anything.
MIN_CELLS = 32


def _environment() -> dict[str, Any]:
    """What bit-identical results depend on besides the seed (see ``ScPairing(seed=...)``)."""
    import sys

    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    blas = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return {
        "torch_threads": torch.get_num_threads(),
        "blas_threads": max(blas) if blas else None,
        "versions": {
            "scpairing": str(getattr(sys.modules.get("scpairing"), "__version__", "unknown")),
            "torch": str(torch.__version__),
            "numpy": str(np.__version__),
            "scipy": str(scipy.__version__),
            "scikit-learn": str(sklearn.__version__),
        },
    }


class ScPairing:
    """Contrastive hyperspherical VAE that embeds 2 or 3 modalities on one shared sphere.

    Parameters
    ----------
    data
        ``{modality: AnnData}`` of the same cells in the same order (a paired bridge), or a
        MuData. Modalities: ``"rna"``, ``"atac"``, ``"protein"``, ``"other"``. Cell names must
        be unique. At least 32 cells, and at least as many as the reductions fitted here need:
        with the defaults 202 when ATAC is reduced here (200 LSI components plus the dropped
        first, fewer than the cells) and 51 for RNA (50 PCs); fewer components need fewer
        cells. Counts must be raw (whole numbers; see ``allow_non_integer``).
    reductions
        Per modality, how to get its low-dimensional representation: ``None`` (or a missing
        key) fits the default :mod:`scpairing.pp` reduction on this bridge's counts; a string
        is an ``.obsm`` key that already holds it (queries must then carry the same-space key);
        an unfitted :mod:`scpairing.pp` reduction object is fitted on the bridge. To train on a
        reduction the bridge already carries *and* project count-only queries into it, give
        :class:`scpairing.pp.ProjectedPCA` / :class:`scpairing.pp.ProjectedLSI` (e.g.
        ``{"rna": scp.pp.ProjectedPCA.from_scanpy(rna), "atac":
        scp.pp.ProjectedLSI.from_muon(atac)}``, or ``.from_seurat`` / ``.from_signac`` with the
        loadings): the bridge trains on its own ``obsm`` reduction, and a query is projected from
        its counts unless it carries that ``obsm`` key itself.
    batch_key
        ``.obs`` column with batch labels; enables the adversarial batch discriminator.
    latent_dim
        Ambient dimension of the latent sphere.
    seed
        Random seed, an integer in ``[0, 2**32 - 1]``. The same seed, data and options give
        bit-identical embeddings and pairs with the same thread counts
        (``torch.get_num_threads()`` when training, the BLAS threads of numpy/scipy, see
        ``threadpoolctl``, when fitting the reductions), the same device (CPU type or GPU) and
        the same library versions; :attr:`reproducibility` records the counts, device and
        versions. Other thread counts change the floating-point summation order and so,
        slightly, the result (measured on 2,000 bridge cells: embeddings by up to 0.002, 1-4%
        of the pairs); to repeat a run, set the recorded counts with
        ``torch.set_num_threads(n)`` and ``threadpoolctl.threadpool_limits(n)``. The caller's
        random state (torch's, numpy's and ``random``'s) is left as it was.
    n_hidden, n_layers, dropout
        Width (integer >= 2), depth (integer >= 1) and dropout (in [0, 1)) of the
        encoder/decoder MLPs.
    count_decoders
        Also learn to decode the latent into each modality's counts (negative binomial for RNA
        and protein, Bernoulli for ATAC), enabling cross-modal :meth:`predict`. Counts are read
        from the layer the modality's reduction uses, else ``X``. Not for ``"other"``.
    train_config
        :class:`scpairing.model.TrainConfig` or a dict of its fields (loss weights included).
    device
        ``"cuda"``, ``"cpu"`` or None (CUDA when available).
    allow_non_integer
        Accept non-integer values where raw counts are read (the reductions fitted here and
        the count decoders' targets). By default non-integer values raise an error, since
        log-normalised or scaled data given as counts would be normalised twice; point at the
        raw counts instead (e.g. ``reductions={"rna": scp.pp.RNAReduction(layer="counts")}``).
        Set it when the values are meant (e.g. ambient-corrected counts); it is kept with the
        fitted reductions, so queries are read the same way.

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
        allow_non_integer: bool = False,
    ):
        modalities = _validate.check_modality_dict(data, "data")
        seed = _validate.check_seed(seed)
        latent_dim = _validate.check_integer(latent_dim, "latent_dim", low=2)
        n_hidden = _validate.check_integer(
            n_hidden,
            "n_hidden",
            low=2,
            why=" (the concentration net and discriminators use n_hidden // 2 units)",
        )
        n_layers = _validate.check_integer(n_layers, "n_layers", low=1)
        dropout = _validate.check_number(dropout, "dropout", low=0, high=1, high_open=True)
        count_decoders = _validate.check_bool(count_decoders, "count_decoders")
        allow_non_integer = _validate.check_bool(allow_non_integer, "allow_non_integer")
        if batch_key is not None and not isinstance(batch_key, str):
            raise TypeError(
                f"`batch_key` must be an obs column name (a string) or None; got {batch_key!r}."
            )
        train_config = self._as_train_config(train_config)
        device = self._check_device(device)
        n_cells = next(iter(modalities.values())).n_obs
        if n_cells < MIN_CELLS:
            raise ValueError(
                f"`data` has {n_cells} cells; at least {MIN_CELLS} are needed to train."
            )
        fitted = self._fit_reductions(modalities, reductions, allow_non_integer)
        inputs = {
            m: _representation(fitted[m], adata, m, f"data[{m!r}]")
            for m, adata in modalities.items()
        }
        batch_codes, batch_categories = None, []
        if batch_key is not None:
            first = next(iter(modalities.values()))
            batch_codes = _validate.check_labels(first, batch_key, "batch_key")
            batch_categories = [
                str(c) for c in first.obs[batch_key].astype("category").cat.categories
            ]
        bridge_counts = (
            _bridge_count_matrices(modalities, fitted, allow_non_integer) if count_decoders else {}
        )
        state = _io.ModelState(
            config={
                "latent_dim": int(latent_dim),
                "seed": seed,
                "n_hidden": int(n_hidden),
                "n_layers": int(n_layers),
                "dropout": float(dropout),
            },
            train_config=train_config,
            reductions=fitted,
            input_mean={m: x.mean(0) for m, x in inputs.items()},
            input_scale=_input_scale(inputs),
            batch_key=batch_key,
            batch_categories=batch_categories,
            count_features={m: list(modalities[m].var_names) for m in bridge_counts},
            history=[],
            is_trained=False,
            # Thread counts of the reductions' fit (BLAS) and, after train(), of training.
            reproducibility={"seed": seed, "device": str(device), **_environment()},
            validation=None,
            adaptation=None,
        )
        self._set_up(state, {m: x.shape[1] for m, x in inputs.items()}, device)
        self._bridge = {m: self._scale(x, m) for m, x in inputs.items()}
        self._bridge_batch = batch_codes
        self._bridge_counts = bridge_counts
        self._bridge_data = dict(modalities)

    def _set_up(self, state: _io.ModelState, input_dims: dict[str, int], device: torch.device):
        """Every attribute of a model, from a new bridge (``__init__``) or a file (:meth:`load`).

        Leaves the model without bridge data (it can embed, not train); ``__init__`` adds it.
        """
        self.config = state.config
        self.train_config = state.train_config
        self._reductions = state.reductions
        self._input_mean = state.input_mean
        self._input_scale = state.input_scale
        self.batch_key = state.batch_key
        self.batch_categories = state.batch_categories
        self._count_features = state.count_features
        self.history = state.history
        self.is_trained = state.is_trained
        self.reproducibility = state.reproducibility
        # Filled by train(): held-out AUC / FOSCTTM and the similarity calibration.
        self.validation = state.validation
        self.device = device
        self.module = self._build_module(input_dims)
        self._bridge, self._bridge_batch, self._bridge_counts = {}, None, {}
        self._bridge_data: dict[str, ad.AnnData] = {}  # for adapt(); not saved
        # Filled by adapt(): the query cells used and the validation before and after.
        self.adaptation = state.adaptation

    def _state(self) -> _io.ModelState:
        return _io.ModelState(
            config=self.config,
            train_config=self.train_config,
            reductions=self._reductions,
            input_mean=self._input_mean,
            input_scale=self._input_scale,
            batch_key=self.batch_key,
            batch_categories=self.batch_categories,
            count_features=self._count_features,
            history=self.history,
            is_trained=self.is_trained,
            reproducibility=self.reproducibility,
            validation=self.validation,
            adaptation=self.adaptation,
        )

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
    def holds_bridge(self) -> bool:
        """Whether the model holds the bridge it was built on (so it can :meth:`train` and
        :meth:`adapt` without being given it); False for a model loaded from a file."""
        return bool(self._bridge) and bool(self._bridge_data)

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
        validation = self.validation or {}
        if np.isfinite(validation.get("auc", np.nan)):
            flag = "" if _confidence.no_signal_message(validation) is None else " - NO SIGNAL"
            state += (
                f", validation AUC {validation['auc']:.3f} / FOSCTTM {validation['foscttm']:.3f}"
                f" on {validation['n_cells']} held-out cells{flag}"
            )
        return f"{self.name} [{state}, device={self.device}]"

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _as_train_config(value: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
        if value is None:
            return TrainConfig()
        if isinstance(value, TrainConfig):
            return TrainConfig.from_dict(value.to_dict())  # re-checked: fields may be reassigned
        if isinstance(value, Mapping):
            return TrainConfig.from_dict(value)
        raise TypeError(
            f"`train_config` must be a TrainConfig or a dict; got {type(value).__name__}."
        )

    @staticmethod
    def _check_device(device: object) -> torch.device:
        return default_device() if device is None else check_device(device)

    def _check_trained(self, action: str) -> None:
        if not self.is_trained:
            raise RuntimeError(
                f"This ScPairing model is not trained yet, so it cannot {action} (its output "
                "would be random); call model.train() first."
            )

    @staticmethod
    def _fit_reductions(
        modalities: dict[str, ad.AnnData],
        reductions: Mapping[str, str | pp.Reduction | None] | None,
        allow_non_integer: bool = False,
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
        planned: dict[str, str | pp.Reduction] = {}
        for m in modalities:
            spec = given.get(m)
            if isinstance(spec, str):
                planned[m] = spec
            elif spec is None or isinstance(spec, pp.Reduction):
                planned[m] = spec if spec is not None else pp.make_reduction(m)
                if spec is None:  # a default reduction adapts to a small bridge, with a warning
                    _small_bridge.adapt_default(planned[m], m, modalities[m])
                if allow_non_integer:
                    planned[m].allow_non_integer = True
            else:
                raise TypeError(
                    f"`reductions[{m!r}]` must be an obsm key, a scpairing.pp reduction or None; "
                    f"got {type(spec).__name__}."
                )
        n_cells = next(iter(modalities.values())).n_obs
        for m, spec in planned.items():
            if not isinstance(spec, pp.Reduction):
                continue
            needed = spec._min_cells(modalities[m].n_vars)
            if n_cells < needed:
                raise ValueError(
                    f"`data` has {n_cells} cells, too few for the {m!r} reduction "
                    f"{type(spec).__name__}(n_components={spec.n_components}), which needs at "
                    f"least {needed}; use a larger bridge or fewer components, e.g. "
                    f"reductions={{{m!r}: scp.pp.{type(spec).__name__}"
                    f"(n_components={max(1, min(n_cells // 2, spec.n_components // 2))})}}."
                )
        return {
            m: spec if isinstance(spec, str) else spec._fit_named(modalities[m], f"data[{m!r}]")
            for m, spec in planned.items()
        }

    def _count_decoder_specs(self) -> dict[str, tuple[int, str]]:
        return {
            m: (len(names), "bernoulli" if m == "atac" else "nb")
            for m, names in self._count_features.items()
        }

    def _representation(
        self,
        adata: ad.AnnData,
        modality: str,
        argname: str,
        allow_non_integer: bool | None = None,
    ) -> np.ndarray:
        return _representation(
            self._reductions[modality],
            adata,
            modality,
            argname,
            allow_non_integer,
            expected_width=self.input_dims[modality],
        )

    def _scale(self, x: np.ndarray, modality: str) -> np.ndarray:
        return ((x - self._input_mean[modality]) / self._input_scale[modality]).astype(np.float32)

    def _build_module(self, input_dims: dict[str, int]) -> CLIPVAE:
        with local_torch_rng(self.config["seed"]):  # the caller's torch random state is kept
            module = CLIPVAE(
                input_dims,
                self.config["latent_dim"],
                n_hidden=self.config["n_hidden"],
                n_layers=self.config["n_layers"],
                dropout=self.config["dropout"],
                n_batches=len(self.batch_categories),
                count_decoders=self._count_decoder_specs(),
            )
        return module.to(self.device)

    # ------------------------------------------------------------------ training / inference
    def train(
        self, *, max_epochs: int | None = None, progress: bool = True, **options: Any
    ) -> ScPairing:
        """Train on the bridge.

        Parameters
        ----------
        max_epochs
            Upper bound on epochs, an integer >= 1 (early stopping on the validation loss
            usually ends sooner).
        progress
            Show a tqdm progress bar.
        **options
            Any other :class:`scpairing.model.TrainConfig` field for this run
            (``batch_size``, ``lr``, ``patience`` ...), checked as there. ``weights`` may name
            some loss terms only (``weights={"kl": 0.01}``): they are merged into the model's
            configured weights. Unknown names raise a ``TypeError``.

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
        _validate.check_bool(progress, "progress")
        known = self.train_config.to_dict()
        unknown = set(options) - set(known)
        if unknown:
            raise TypeError(
                f"train() got unknown options {sorted(unknown)}; known: {sorted(known)}."
            )
        if max_epochs is not None:
            options["max_epochs"] = _validate.check_integer(max_epochs, "max_epochs", low=1)
        # Fields not given keep the configured values; a partial `weights` dict is merged.
        config = TrainConfig.from_dict(options, base=self.train_config)
        data = {m: torch.from_numpy(x).to(self.device) for m, x in self._bridge.items()}
        batch = (
            torch.from_numpy(self._bridge_batch.astype(np.int64)).to(self.device)
            if self._bridge_batch is not None
            else None
        )
        # Seeded on a forked generator: the caller's torch random state is left as it was.
        with local_torch_rng(self.seed, self.device):
            self.history = train_module(
                self.module,
                data,
                batch,
                config,
                seed=self.seed,
                progress=progress,
                counts=self._bridge_counts,
            )
        self.reproducibility.update(torch_threads=torch.get_num_threads(), device=str(self.device))
        self.validation = self._validate_held_out(config)
        if self.history:
            self.history[-1].update(
                validation_auc=self.validation["auc"], validation_foscttm=self.validation["foscttm"]
            )
        self.is_trained = True
        _confidence.warn_no_signal(self.validation, "train()")
        # After the no-signal check: a bridge too small to generalise (see _small_bridge).
        self.validation["generalisation"] = _small_bridge.check(self, config)
        _small_bridge.warn_if_overfit(self.validation, "train()")
        return self

    def adapt(
        self,
        queries: Mapping[str, ad.AnnData],
        *,
        bridge: Mapping[str, ad.AnnData] | Any = None,
        max_query_cells: int = _adapt.MAX_QUERY_CELLS,
        max_epochs: int | None = None,
        keep_if_worse: bool = False,
        progress: bool = True,
    ) -> ScPairing:
        """Refine the model with the unpaired query cells it will pair, without knowing which
        cells correspond.

        The reductions this model fitted on its bridge (the default RNA PCA, ATAC LSI and
        protein CLR/PCA; not ``.obsm`` keys or :class:`~scpairing.pp.ProjectedPCA` /
        :class:`~scpairing.pp.ProjectedLSI`, whose space is given) are refitted on the bridge's
        counts plus the queries' counts of that modality, and the model is retrained on the
        bridge in that space: the query cells shape the features, only the bridge's true
        pairs teach the shared space. Measured on SNARE-seq2 (held-out protocol, query ATAC
        rows shuffled, seeds 0-2): see ``benchmarks/bench_adapt.py`` and the README.

        The result does not depend on the order of the query cells: they are taken in
        cell-name order (so names must be unique within each query).

        Parameters
        ----------
        queries
            ``{modality: AnnData}`` of unpaired query cells (raw counts), one or more of the
            model's modalities.
        bridge
            The paired bridge the model was trained on, only for a model loaded from a file
            (a model built in this session keeps a reference to its bridge).
        max_query_cells
            Query cells per modality the reductions are refitted with, an integer >= 1; above
            it a sample (chosen by cell name and the model's seed).
        max_epochs
            As for :meth:`train`; None keeps the configured value.
        keep_if_worse
            Keep the adapted model even when the bridge's held-out validation got worse (by
            more than 0.01 in AUC or FOSCTTM). By default such an adaptation is undone with a
            ``UserWarning``.
        progress
            Show the training progress bar.

        Returns
        -------
        ScPairing
            ``self``; :attr:`adaptation` records the modalities refitted, the query cells
            used, the validation AUC / FOSCTTM before and after, the time, and whether the
            adaptation was kept.
        """
        _adapt.adapt(
            self,
            queries,
            bridge=bridge,
            max_query_cells=max_query_cells,
            max_epochs=max_epochs,
            keep_if_worse=keep_if_worse,
            progress=_validate.check_bool(progress, "progress"),
        )
        return self

    def _retrain_on(
        self,
        bridge: Mapping[str, ad.AnnData],
        reductions: dict[str, str | pp.Reduction],
        *,
        max_epochs: int | None,
        progress: bool,
    ) -> None:
        """Put the bridge through ``reductions``, rebuild the module and train it afresh."""
        inputs = {
            m: _representation(reductions[m], bridge[m], m, f"bridge[{m!r}]")
            for m in self.modalities
        }
        if len({x.shape[0] for x in inputs.values()}) != 1:
            raise ValueError("`bridge`: its modalities must hold the same cells (paired data).")
        if not self._bridge:  # a loaded model: batches and count targets from the given bridge
            first = bridge[self.modalities[0]]
            if self.batch_key is not None:
                self._bridge_batch = _validate.check_labels(first, self.batch_key, "batch_key")
            if self._count_features:
                allow = any(getattr(r, "allow_non_integer", False) for r in reductions.values())
                self._bridge_counts = _bridge_count_matrices(
                    {m: bridge[m] for m in self._count_features}, reductions, allow
                )
        self._reductions = reductions
        self._input_mean = {m: x.mean(0) for m, x in inputs.items()}
        self._input_scale = _input_scale(inputs)
        self.module = self._build_module({m: x.shape[1] for m, x in inputs.items()})
        self._bridge = {m: self._scale(x, m) for m, x in inputs.items()}
        self.train(max_epochs=max_epochs, progress=progress)

    @property
    def no_signal(self) -> str | None:
        """Why this model cannot pair (its validation AUC is below 0.6), or None when it can
        or was not validated; :func:`scpairing.bridge_pair` warns with this text."""
        return _confidence.no_signal_message(self.validation)

    def pair_confidence(
        self,
        similarity: np.ndarray,
        modality1: str = "rna",
        modality2: str = "atac",
        fallback: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Calibrated confidence in [0, 1] of pairs with these cosine similarities.

        Read off the calibration on the bridge's held-out validation cells (see
        :func:`scpairing.bridge_pair`, Notes). Returns ``fallback`` when this model has no
        calibration for the two modalities (trained before it existed, or too few cells).
        """
        values = _confidence.calibrated(
            self.validation or {},
            modality1,
            modality2,
            np.asarray(similarity, dtype=np.float64),
        )
        return fallback if values is None else values

    @torch.no_grad()
    def _validate_held_out(self, config: TrainConfig) -> dict[str, Any]:
        """AUC, FOSCTTM and similarity calibration on the held-out validation cells.

        The same split as training (``split_validation`` with the model's seed): these cells
        never gave a gradient, though they chose the epoch kept. See :mod:`scpairing._confidence`.
        """
        n_cells = next(iter(self._bridge.values())).shape[0]
        _, val_idx = split_validation(n_cells, config.validation_fraction, self.seed)
        self.module.eval()
        z = {
            m: self.module.encoders[m](torch.from_numpy(x[val_idx]).to(self.device)).cpu().numpy()
            for m, x in self._bridge.items()
        }
        return _confidence.validate(z, seed=self.seed)

    @torch.no_grad()
    def embed(
        self,
        adata: ad.AnnData,
        modality: str,
        *,
        batch_size: int = 8192,
        allow_non_integer: bool | None = None,
    ) -> np.ndarray:
        """Embed a single-modality dataset on the shared sphere.

        Parameters
        ----------
        adata
            Cells of one modality: raw counts when the model fitted its own reduction, otherwise
            the ``.obsm`` key the model was trained on, in the same space.
        modality
            Which encoder to use; one of :attr:`modalities`.
        batch_size
            Cells per forward pass, an integer >= 1.
        allow_non_integer
            Accept non-integer values where raw counts are read; ``None`` keeps the setting
            the model was built with (``ScPairing(allow_non_integer=...)``).

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
        batch_size = _validate.check_integer(batch_size, "batch_size", low=1)
        if allow_non_integer is not None:
            _validate.check_bool(allow_non_integer, "allow_non_integer")
        self._check_trained("embed")
        with _stages.stage(f"reduce:{modality}"):
            x = self._representation(adata, modality, "adata", allow_non_integer)
        encoder = self.module.encoders[modality]
        self.module.eval()
        # Scaled one batch at a time (no float64 copy of the whole representation), in the
        # batches of np.array_split.
        n_batches = max(1, int(np.ceil(len(x) / batch_size)))
        size, longer = divmod(len(x), n_batches)
        edges = np.cumsum([0] + [size + 1] * longer + [size] * (n_batches - longer))
        out = np.empty((len(x), self.latent_dim), dtype=np.float32)
        with _stages.stage(f"encode:{modality}"):
            for a, b in _stages.progress(
                list(zip(edges[:-1], edges[1:], strict=True)), f"embedding {modality}"
            ):
                batch = torch.from_numpy(self._scale(x[a:b], modality)).to(self.device)
                out[a:b] = encoder(batch).cpu().numpy()
        return out

    @torch.no_grad()
    def predict(
        self,
        adata: ad.AnnData,
        *,
        source: str,
        target: str,
        library_size: float = 1e4,
        batch_size: int = 4096,
        allow_non_integer: bool | None = None,
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
            Total counts per predicted cell for negative-binomial targets (> 0).
        batch_size
            Cells per forward pass, an integer >= 1.
        allow_non_integer
            As for :meth:`embed`.

        Returns
        -------
        anndata.AnnData
            Cells x target features of the bridge: expected counts per ``library_size`` (RNA,
            protein) or accessibility probabilities (ATAC).
        """
        source = _validate.check_modality(source, "source")
        if source not in self.modalities:
            raise ValueError(f"`source` {source!r} is not in this model; it has {self.modalities}.")
        target = _validate.check_modality(target, "target")
        if target not in self._count_features:
            raise ValueError(
                f"`target`: no count decoder for {target!r}; build the model with "
                f"count_decoders=True (decoders here: {sorted(self._count_features)})."
            )
        library_size = _validate.check_number(library_size, "library_size", low=0, low_open=True)
        batch_size = _validate.check_integer(batch_size, "batch_size", low=1)
        self._check_trained("predict")
        z = torch.from_numpy(
            self.embed(adata, source, batch_size=batch_size, allow_non_integer=allow_non_integer)
        )
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
        """Write config, fitted reductions, scaling, training history and weights to one file.

        Only a trained model is saved (an untrained one would embed at random).
        """
        self._check_trained("be saved")
        _io.write(path, self._state(), self.modalities, self.module.state_dict())

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, device: str | torch.device | None = None
    ) -> ScPairing:
        """Load a model written by :meth:`save`; a GPU-trained model loads on a CPU-only machine.

        The loaded model embeds, predicts and pairs; it has no bridge data, so it cannot train.
        """
        device = cls._check_device(device)
        state, input_dims, state_dict = _io.read(path)
        model = cls.__new__(cls)  # __init__ fits a bridge; both paths share _set_up
        try:
            model._set_up(state, input_dims, device)
            model.module.load_state_dict(state_dict)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            raise ValueError(
                f"`path`: {str(path)!r} is not a valid scpairing model file ({error}); it is "
                "corrupted or from an incompatible scpairing version."
            ) from None
        model.module.eval()
        return model


def _input_scale(inputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """One scalar per modality (keeps the relative variance of the PCA/LSI components)."""
    return {m: float(np.sqrt(x.var(0).mean()) or 1.0) for m, x in inputs.items()}


def _representation(
    spec: str | pp.Reduction,
    adata: ad.AnnData,
    modality: str,
    argname: str,
    allow_non_integer: bool | None = None,
    expected_width: int | None = None,
) -> np.ndarray:
    """One modality's representation: the ``.obsm`` key read, or the fitted reduction applied.

    ``ValueError`` when it has no columns or not ``expected_width`` (the trained encoder's).
    """
    if isinstance(spec, str):
        x = _validate.get_obsm(adata, spec, argname)
        where = f"`{argname}.obsm[{spec!r}]`"
    else:
        reduced = spec._transform_named(adata, argname, allow_non_integer=allow_non_integer)
        x = _validate.check_matrix_2d(reduced, f"{argname} (reduced)")
        where = f"The reduction of `{argname}`"
    if x.shape[1] == 0:
        raise ValueError(f"{where} has no columns; expected the {modality} representation.")
    if expected_width is not None and x.shape[1] != expected_width:
        raise ValueError(
            f"{where} has {x.shape[1]} columns but the model was trained on {expected_width} "
            f"for {modality!r}; the query must be in the same space as the bridge's {spec!r}."
        )
    return x


def _bridge_count_matrices(
    modalities: dict[str, ad.AnnData],
    reductions: dict[str, str | pp.Reduction],
    allow_non_integer: bool = False,
) -> dict[str, sp.csr_matrix]:
    """Float32 CSR counts per modality with a count decoder, read from the layer its reduction
    reads (``X`` for an ``.obsm`` key)."""
    counts = {}
    for m, adata in modalities.items():
        if m == "other":
            continue
        layer = getattr(reductions[m], "layer", None)
        values = pp.read_counts(
            adata, layer, f"data[{m!r}]", allow_non_integer=allow_non_integer, kind=m
        )
        _validate.check_unique_names(adata.var_names, f"data[{m!r}].var_names", "feature")
        counts[m] = sp.csr_matrix(values, dtype=np.float32)
    return counts
