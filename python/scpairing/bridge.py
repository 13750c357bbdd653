"""Bridge pairing: embed unpaired queries with a trained model and pair them.

:func:`pair_queries` returns one :class:`QueryPairing` (indices per modality, similarity,
confidence, unpaired cells, provenance) from which both fronts build their output: Python's
:func:`bridge_pair` a MuData, R's ``PairCells()`` a Seurat object. A new field of the paired
output goes here once.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from . import _confidence, _output, _stages, _validate
from .pairing._auction import edge_similarity
from .pairing._pair import _check_cutoff, pair, pair_three


@dataclass
class QueryPairing:
    """The cells :func:`pair_queries` paired, per modality, in paired order.

    Attributes
    ----------
    index
        ``{modality: positions}``: pair ``t`` joins cell ``index[m][t]`` of each query ``m``.
    cells
        ``{modality: names}`` of those cells (the provenance of every pair).
    similarity
        Cosine similarity of each pair (for three modalities, the mean of the pairwise ones).
    confidence
        Confidence of each pair in [0, 1] (see :func:`bridge_pair`, Notes).
    unpaired, unpaired_cells
        ``{modality: positions}`` / names of the cells left unpaired; with ``index`` they cover
        every query cell exactly once.
    embeddings
        ``{modality: (n_pairs, latent_dim)}`` unit vectors of the paired cells.
    provenance
        Model, cutoff, min_confidence, the similarity cutoff used, method, objective, how
        confidence was computed, the model's validation AUC / FOSCTTM, the matcher's
        ``diagnostics`` (:attr:`Pairing.diagnostics`: rounds, proven or estimated gap; two
        modalities only, else empty) and ``stages``: seconds and peak-memory growth per stage
        of the run (see :func:`bridge_pair`, Notes).
    """

    index: dict[str, np.ndarray]
    cells: dict[str, np.ndarray]
    similarity: np.ndarray
    confidence: np.ndarray
    unpaired: dict[str, np.ndarray]
    unpaired_cells: dict[str, np.ndarray]
    embeddings: dict[str, np.ndarray]
    provenance: dict[str, Any]

    @property
    def modalities(self) -> list[str]:
        return list(self.index)

    @property
    def n_pairs(self) -> int:
        return int(self.similarity.size)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{m}: {self.index[m].size + self.unpaired[m].size:,} cells, "
            f"{self.unpaired[m].size:,} unpaired"
            for m in self.modalities
        )
        return f"QueryPairing: {self.n_pairs:,} pairs ({counts})"


@_stages.recorded
def pair_queries(
    model: Any,
    queries: Mapping[str, ad.AnnData] | Any,
    cutoff: float = 0.8,
    *,
    method: str = "auto",
    min_confidence: float = 0.0,
    allow_non_integer: bool | None = None,
    progress: bool = False,
    adapt: bool = False,
    bridge: Mapping[str, ad.AnnData] | Any = None,
    **pair_kwargs: Any,
) -> QueryPairing:
    """Embed unpaired query datasets with a trained model and pair their cells one to one.

    Parameters
    ----------
    model, queries, cutoff, method, min_confidence, allow_non_integer, progress, adapt, bridge
        As :func:`bridge_pair` (a query may hold an ``obs["source_cell"]`` column here: only
        the MuData of :func:`bridge_pair` writes one).
    **pair_kwargs
        As :func:`bridge_pair`.

    Returns
    -------
    QueryPairing
        What :func:`bridge_pair` (a MuData) and R's ``PairCells()`` (a Seurat object) are
        built from.
    """
    if not callable(getattr(model, "embed", None)) or not hasattr(model, "modalities"):
        raise TypeError(
            f"`model` must be a trained scpairing.ScPairing (or have `embed` and `modalities`); "
            f"got {type(model).__name__}."
        )
    if not getattr(model, "is_trained", True):
        raise RuntimeError(
            "`model` is not trained yet, so its embeddings would be random; call model.train() "
            "first."
        )
    queries = _validate.modality_mapping(queries, "queries")
    min_confidence = _validate.check_number(min_confidence, "min_confidence", low=0, high=1)
    pair_kwargs["progress"] = _validate.check_bool(progress, "progress")
    validation = getattr(model, "validation", None)
    known = list(model.modalities)
    embed_options = {}
    if allow_non_integer is not None:
        embed_options["allow_non_integer"] = _validate.check_bool(
            allow_non_integer, "allow_non_integer"
        )
    for name, adata in queries.items():
        if name not in known:
            raise KeyError(
                f"`queries`: modality {name!r} is not one of the model's modalities {known}."
            )
        _validate.check_unique_names(
            adata.obs_names,
            f"queries[{name!r}]",
            fix=f"call `queries[{name!r}].obs_names_make_unique()` first, so every pair names "
            "its cells unambiguously",
        )
    if _validate.check_bool(adapt, "adapt"):
        with _stages.stage("adapt"):
            model = _adapted(model, queries, bridge)
        validation = model.validation
    elif bridge is not None:
        raise ValueError("`bridge` is only used with adapt=True; leave it as None.")
    z = {name: _embed(model, adata, name, embed_options) for name, adata in queries.items()}
    _confidence.warn_no_signal(validation, "bridge_pair()")
    names = list(z)
    cutoff = _check_cutoff(cutoff)
    used_cutoff = cutoff
    if len(names) == 2:
        floor = _confidence.similarity_at(validation, names[0], names[1], min_confidence)
        used_cutoff = max(cutoff, min(floor, 1.0)) if floor is not None else cutoff
        with _stages.stage("pair"):
            result = pair(z[names[0]], z[names[1]], used_cutoff, method=method, **pair_kwargs)
        index = {names[0]: result.index1, names[1]: result.index2}
        unpaired = {names[0]: result.unpaired1, names[1]: result.unpaired2}
        similarity, used = result.similarity, result.method
        diagnostics = dict(result.diagnostics)
    else:
        diagnostics = {}
        if "groups1" in pair_kwargs or "groups2" in pair_kwargs:
            raise ValueError("`groups1`/`groups2` are only supported when pairing two modalities.")
        with _stages.stage("pair"):
            index, similarity, unpaired, used = pair_three(z, cutoff, method=method, **pair_kwargs)
    with _stages.stage("confidence"):
        confidence, how = _pair_confidence(z, index, validation)
    keep = confidence >= min_confidence
    if not keep.all():
        unpaired = {n: np.sort(np.concatenate([unpaired[n], index[n][~keep]])) for n in names}
        index = {n: index[n][keep] for n in names}
        similarity, confidence = similarity[keep], confidence[keep]

    provenance = {
        "model": str(model.name),
        "cutoff": float(cutoff),
        "min_confidence": float(min_confidence),
        "similarity_cutoff_used": float(used_cutoff),
        "method": used,
        "objective": float(similarity.sum(dtype=np.float64)),
        "confidence": how,
        "validation_auc": float((validation or {}).get("auc", np.nan)),
        "validation_foscttm": float((validation or {}).get("foscttm", np.nan)),
        "diagnostics": diagnostics,
        "stages": _stages.current().as_dict(),
        "adapted": bool(adapt and model.adaptation["accepted"]),
    }
    return QueryPairing(
        index=index,
        cells={n: queries[n].obs_names.to_numpy()[index[n]] for n in names},
        similarity=similarity,
        confidence=confidence,
        unpaired=unpaired,
        unpaired_cells={n: queries[n].obs_names.to_numpy()[unpaired[n]] for n in names},
        embeddings={n: z[n][index[n]] for n in names},
        provenance=provenance,
    )


@_stages.recorded
def bridge_pair(
    model: Any,
    queries: Mapping[str, ad.AnnData] | Any,
    cutoff: float = 0.8,
    *,
    method: str = "auto",
    min_confidence: float = 0.0,
    allow_non_integer: bool | None = None,
    progress: bool = False,
    adapt: bool = False,
    bridge: Mapping[str, ad.AnnData] | Any = None,
    **pair_kwargs: Any,
):
    """Embed unpaired query datasets with a trained model and pair them into an artificial multiome.

    :func:`pair_queries`, returned as a MuData.

    Parameters
    ----------
    model
        A trained model with ``embed(adata, modality=...)`` (unit rows), ``modalities`` and
        ``name`` (e.g. :class:`scpairing.ScPairing`).
    queries
        ``{modality: AnnData}`` (or a MuData) of unpaired cells, 2 or 3 modalities known to the
        model. With three, pairing follows :func:`pair_three`. Cell names must be unique within
        each query (they are the provenance of every pair; ``adata.obs_names_make_unique()``),
        and no query may have an ``obs["source_cell"]`` column: this function writes it, and
        raises rather than overwrite yours (rename it first).
    cutoff, method, **pair_kwargs
        Passed to :func:`pair` (e.g. ``k``, ``groups1``/``groups2`` for two modalities).
    min_confidence
        Cutoff on the calibrated confidence scale, in [0, 1]: pairs below it are not made
        (their cells go to the unpaired lists). With two modalities it is turned into a
        similarity cutoff for the matching (the larger of it and ``cutoff``), so the cells
        it excludes can still find other partners. Unlike a similarity cutoff it means the
        same on every dataset: 0.5 keeps pairs whose similarity true partners reach 3 times
        as often as random cells, 0.8 at 9 times (see ``confidence`` below). 0 (default)
        keeps every pair the similarity ``cutoff`` allows.
    allow_non_integer
        Passed to ``model.embed`` when given: accept non-integer values where raw counts are
        read (``None``: the model's own setting).
    progress
        Show progress bars over the long loops (reducing and embedding each query in blocks,
        pairing rounds, groups).
    adapt
        Refine the model on these queries first (:meth:`ScPairing.adapt`: its own reductions
        refitted with the query cells, retrained on the bridge) and pair with the refined
        copy; ``model`` itself is unchanged. Takes about one more training run.
    bridge
        With ``adapt=True`` and a model loaded from a file: the paired bridge it was trained
        on (see :meth:`ScPairing.adapt`).

    Returns
    -------
    mudata.MuData
        One modality per query, in paired order, obs names ``pair_0, pair_1, ...``. Each
        modality keeps its source ``X``/layers/var and obs columns, plus ``obs["source_cell"]``.
        Feature names are unique across modalities: a modality whose names overlap an
        earlier one's (order rna, atac, protein) has all of them prefixed ``"<modality>:"``
        (``protein:CD4``; originals in ``var["source_name"]``, noted in
        ``uns["scpairing"]["var_names"]``); RNA names are never changed.
        ``mdata.obs`` has ``{mod}_cell`` per modality, ``similarity`` and ``confidence``;
        ``mdata.uns["unpaired"]`` lists unpaired cell names per modality and
        ``mdata.uns["scpairing"]`` records model, cutoff, min_confidence, the similarity cutoff
        used, method, objective, how confidence was computed, the model's validation AUC /
        FOSCTTM, whether it was adapted to the queries (``adapted``), the matcher's
        ``diagnostics`` and ``stages`` (below).

    Notes
    -----
    ``confidence`` of a pair, in [0, 1], is read off the model's calibration on the bridge's
    held-out validation cells (true partners known, never trained on): with ``p`` the share of
    true partners among held-out cell pairs of that similarity (true and random pairs weighted
    equally), confidence is ``max(0, 2p - 1)``. 0: random cells are as often that similar as
    true partners (no evidence the two cells correspond); 0.5: true partners are 3 times as
    likely to be that similar as random cells; 0.8: 9 times; 1: only true partners are. On
    SNARE-seq2 the share of pairs agreeing on cell type rises with it (see the README). For
    three modalities it is the mean of the three pairwise confidences. A model without a
    calibration (trained before it existed, or with fewer than 10 validation cells) gives the
    model-free measure of :attr:`Pairing.confidence` instead (``uns["scpairing"]["confidence"]``
    says which).

    A ``UserWarning`` gives the figure when the model's validation AUC is below 0.6: it cannot
    tell true partners from random cells, and its pairs are little better than random.

    ``uns["scpairing"]["stages"]`` is ``{stage: {"seconds": s, "peak_rss_growth_gb": g}}`` in
    the order the stages ran: ``reduce:<modality>`` (the bridge's reductions applied to a
    query's counts), ``encode:<modality>`` (the encoder), ``index`` (clustering both sets for
    the search), ``search`` and ``solve`` (the sparse matcher's neighbour / pricing searches
    and auctions, which alternate, so their memory is ``nan``), ``pair`` (all of the matching,
    the three before included), ``confidence`` and ``output`` (building this MuData). ``g`` is
    how far the stage raised the process's peak resident memory (0 when it stayed below an
    earlier peak).
    """
    queries = _validate.modality_mapping(queries, "queries")
    for name, adata in queries.items():
        if "source_cell" in adata.obs.columns:
            raise ValueError(
                f"`queries[{name!r}]` already has an obs column 'source_cell', which bridge_pair "
                "writes (each pair's query cell name) and will not overwrite; rename or drop "
                "yours first, e.g. `adata.obs = adata.obs.rename(columns={'source_cell': "
                "'my_source_cell'})`."
            )
    result = pair_queries(
        model,
        queries,
        cutoff,
        method=method,
        min_confidence=min_confidence,
        allow_non_integer=allow_non_integer,
        progress=progress,
        adapt=adapt,
        bridge=bridge,
        **pair_kwargs,
    )
    with _stages.stage("output"):
        mdata = to_mudata(result, queries)
    mdata.uns["scpairing"]["stages"] = _stages.current().as_dict()
    return mdata


def to_mudata(result: QueryPairing, queries: Mapping[str, ad.AnnData]):
    """The paired MuData of :func:`bridge_pair` from a :class:`QueryPairing` and its queries."""
    import mudata as md

    names, index = result.modalities, result.index
    similarity, confidence = result.similarity, result.confidence
    pair_names = pd.Index([f"pair_{i}" for i in range(similarity.size)])
    mods = {}
    for name in names:
        sub = queries[name][index[name]].copy()
        sub.obs["source_cell"] = sub.obs_names.to_numpy()
        sub.obs_names = pair_names
        mods[name] = sub
    # Feature names unique across modalities (e.g. protein CD4 vs gene CD4): see _output.
    renamed_var = _output.unique_var_names(mods)
    # New mudata behaviour (the future default): don't pull modality obs columns into mdata.obs.
    # mudata draws from Python's global `random` while building; the caller's state is kept.
    state = random.getstate()
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(mods)
    random.setstate(state)
    for name in names:
        mdata.obs[f"{name}_cell"] = result.cells[name]
    mdata.obs["similarity"] = similarity
    mdata.obs["confidence"] = confidence
    mdata.uns["unpaired"] = {
        name: [str(cell) for cell in result.unpaired_cells[name]] for name in names
    }
    mdata.uns["scpairing"] = dict(result.provenance)
    if renamed_var:
        mdata.uns["scpairing"]["var_names"] = renamed_var
    return mdata


def _adapted(model: Any, queries: Mapping[str, ad.AnnData], bridge: Any) -> Any:
    """A copy of ``model`` adapted to ``queries`` (:meth:`ScPairing.adapt`); ``model`` is kept.

    The copy shares the bridge data the model refers to (it is read, never changed).
    """
    if not callable(getattr(model, "adapt", None)):
        raise TypeError(
            f"`adapt=True` needs a scpairing.ScPairing model; got {type(model).__name__}."
        )
    shared = {id(adata): adata for adata in getattr(model, "_bridge_data", {}).values()}
    adapted = copy.deepcopy(model, shared)
    return adapted.adapt(queries, bridge=bridge, progress=False)


def _embed(model: Any, adata: ad.AnnData, name: str, options: dict[str, Any]) -> np.ndarray:
    """``model.embed`` of one query, its errors naming the query."""
    try:
        embedded = model.embed(adata, modality=name, **options)
    except (KeyError, TypeError, ValueError) as error:
        message = error.args[0] if len(error.args) == 1 else str(error)
        try:
            named = type(error)(f"`queries[{name!r}]`: {message}")
        except Exception:  # an exception type with another signature: pass it on as is
            raise error from None
        raise named from error
    return _validate.check_unit_vectors(embedded, f"model.embed(queries[{name!r}])")


def _pair_confidence(
    z: Mapping[str, np.ndarray], index: Mapping[str, np.ndarray], validation: dict | None
) -> tuple[np.ndarray, str]:
    """Per-pair confidence (mean over modality pairs) and a note on how it was computed."""
    sims = {
        (a, b): edge_similarity(z[a], z[b], index[a], index[b])
        for a, b in itertools.combinations(list(z), 2)
    }
    calibrated = [_confidence.calibrated(validation or {}, a, b, s) for (a, b), s in sims.items()]
    if all(values is not None for values in calibrated):
        n_cells = validation["n_cells"]
        return np.mean(calibrated, axis=0), f"calibrated on {n_cells} held-out bridge cells"
    # Only without a calibration for every modality pair: the sampled model-free measure.
    model_free = [_confidence.random_pair_percentile(z[a], z[b], s) for (a, b), s in sims.items()]
    return np.mean(model_free, axis=0), "model-free: random-pair percentile (no calibration)"
