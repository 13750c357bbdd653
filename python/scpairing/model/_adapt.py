"""Query-aware refinement (:meth:`ScPairing.adapt`): the reductions the model fitted on its
bridge are refitted on the bridge plus the unpaired query cells, and the model is retrained on
the bridge in that space.

Why this and not more: on the SNARE-seq2 held-out protocol, refitting the reductions with the
queries moved query FOSCTTM from 0.117 to 0.095 (seed 0); self-training on confident mutual
nearest neighbours of the query modalities (30% of the query cells as pseudo-pairs) made it
worse (0.103): only 63% of those pseudo-pairs shared a cell type, so they taught noise.
Also tried and not kept (seeds 0-2 means of FOSCTTM / top-10 / pair type after adapting; this
method at 1 thread: 0.092 / 0.035 / 0.581): twice the components in the refit (RNA 100 PCs, ATAC
400 LSI) 0.120 / 0.023 / 0.556; ATAC 300 alone 0.100 / 0.031 / 0.580 (seed 0); input centring
and scaling over bridge plus query cells 0.094 / 0.034 / 0.581; patience 40 instead of 20 kept
the same weights (seed 0); a within-modality reconstruction of the query cells during the
retraining (each through its own encoder and decoder, weight 0.3) 0.093 / 0.035 / 0.584, within
seed noise (top-10 fell on seed 1, rose on seed 2; weight 1 on seed 0: 0.094 / 0.032 / 0.586).
See ``benchmarks/bench_adapt.py``.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np

from .. import _validate, pp

# Query cells per modality the reductions are refitted with (a subsample above this).
MAX_QUERY_CELLS = 50_000
# How much worse the bridge's held-out validation may get before adaptation is undone.
MAX_AUC_DROP = 0.01
MAX_FOSCTTM_RISE = 0.01


def query_sample(adata: ad.AnnData, max_cells: int, seed: int) -> np.ndarray:
    """Row positions of at most ``max_cells`` cells of ``adata``, in cell-name order.

    Chosen from the cells sorted by name, so the same cells in any row order give the same
    sample in the same order (adaptation must not depend on how the query is ordered).
    """
    by_name = np.argsort(np.asarray(adata.obs_names, dtype=str), kind="stable")
    if by_name.size <= max_cells:
        return by_name
    chosen = np.random.default_rng(seed).choice(by_name.size, max_cells, replace=False)
    return by_name[np.sort(chosen)]


def _check_queries(model: Any, queries: object) -> dict[str, ad.AnnData]:
    if not isinstance(queries, Mapping) or not queries:
        raise TypeError(
            "`queries` must be a non-empty dict {modality: AnnData} of unpaired query cells, "
            f"e.g. {{'rna': rna_atlas, 'atac': atac_atlas}}; got {type(queries).__name__}."
        )
    checked = {}
    for name, adata in queries.items():
        modality = _validate.check_modality(name, "queries key")
        if modality not in model.modalities:
            raise ValueError(
                f"`queries` has {modality!r}, which this model does not embed; it has "
                f"{model.modalities}."
            )
        checked[modality] = _validate.check_anndata(adata, f"queries[{modality!r}]")
        _validate.check_unique_names(adata.obs_names, f"queries[{modality!r}].obs_names", "cell")
    return checked


def _check_bridge(model: Any, bridge: object) -> dict[str, ad.AnnData]:
    """The bridge the model was built on, or the one given for a model loaded from a file."""
    if bridge is None:
        if not model.holds_bridge:
            raise ValueError(
                "`bridge`: this model was loaded from a file, so it does not hold its bridge; "
                "pass the paired bridge it was trained on, adapt(queries, bridge={'rna': ..., "
                "'atac': ...})."
            )
        return model._bridge_data
    if model.holds_bridge:
        raise ValueError(
            "`bridge`: this model holds the bridge it was built on; leave `bridge` as None."
        )
    data = _validate.check_modality_dict(bridge, "bridge")
    if sorted(data) != sorted(model.modalities):
        raise ValueError(
            f"`bridge` has the modalities {sorted(data)}; the model was trained on "
            f"{sorted(model.modalities)}."
        )
    return data


def _summary(validation: Mapping[str, Any] | None) -> dict[str, float]:
    validation = validation or {}
    return {
        "auc": float(validation.get("auc", np.nan)),
        "foscttm": float(validation.get("foscttm", np.nan)),
    }


def _worse(before: Mapping[str, float], after: Mapping[str, float]) -> bool:
    if not (np.isfinite(before["auc"]) and np.isfinite(after["auc"])):
        return False
    return (
        after["auc"] < before["auc"] - MAX_AUC_DROP
        or after["foscttm"] > before["foscttm"] + MAX_FOSCTTM_RISE
    )


def adapt(
    model: Any,
    queries: object,
    *,
    bridge: object = None,
    max_query_cells: int = MAX_QUERY_CELLS,
    max_epochs: int | None = None,
    keep_if_worse: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Refit the model's own reductions with the queries and retrain it; see
    :meth:`ScPairing.adapt` (the user-facing documentation)."""
    model._check_trained("adapt")
    queries = _check_queries(model, queries)
    max_query_cells = _validate.check_integer(max_query_cells, "max_query_cells", low=1)
    keep_if_worse = _validate.check_bool(keep_if_worse, "keep_if_worse")
    bridge_data = _check_bridge(model, bridge)
    refit = [
        m
        for m in queries
        if isinstance(model._reductions[m], pp.Reduction) and model._reductions[m].refittable
    ]
    if not refit:
        raise ValueError(
            f"`queries`: adapt() refits the reductions the model fitted itself, but "
            f"{sorted(queries)} use given reductions ({[model._reductions[m] for m in queries]}),"
            " whose space is fixed; train the model with reductions=None for those modalities "
            "to adapt them."
        )
    start = time.perf_counter()
    saved = _snapshot(model)
    samples = {m: query_sample(queries[m], max_query_cells, model.seed) for m in refit}
    reductions = dict(model._reductions)
    for m in refit:
        reductions[m] = reductions[m].refit(
            bridge_data[m], [(queries[m][samples[m]], f"queries[{m!r}]")]
        )
    before = _summary(model.validation)
    model._retrain_on(bridge_data, reductions, max_epochs=max_epochs, progress=progress)
    after = _summary(model.validation)
    record = {
        "refitted": refit,
        "query_cells": {m: int(samples[m].size) for m in refit},
        "before": before,
        "after": after,
        "seconds": time.perf_counter() - start,
    }
    record["accepted"] = keep_if_worse or not _worse(before, after)
    if not record["accepted"]:
        _restore(model, saved)
        warnings.warn(
            f"adapt(): the bridge's held-out validation got worse (AUC {before['auc']:.3f} -> "
            f"{after['auc']:.3f}, FOSCTTM {before['foscttm']:.3f} -> {after['foscttm']:.3f}), "
            "so the model was left as it was. The queries may differ too much from the bridge "
            "(other tissue, chemistry or feature set); pass keep_if_worse=True to keep it.",
            UserWarning,
            stacklevel=3,
        )
    model.adaptation = record
    return record


def _snapshot(model: Any) -> dict[str, Any]:
    names = (
        "_reductions",
        "_input_mean",
        "_input_scale",
        "_bridge",
        "_bridge_batch",
        "_bridge_counts",
        "history",
        "validation",
    )
    saved = {name: copy.copy(getattr(model, name)) for name in names}
    saved["module"] = model.module
    saved["reproducibility"] = copy.deepcopy(model.reproducibility)
    return saved


def _restore(model: Any, saved: Mapping[str, Any]) -> None:
    for name, value in saved.items():
        setattr(model, name, value)
