"""The held-out evaluation in one place: split a paired dataset into a bridge and a query
(:func:`bridge_query_split`), train on the bridge, judge the integration and the pairing on
cells the model never saw, and compare generated pairs with imputation (:func:`impute_knn`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors

from . import metrics, pl
from ._counts import binarise
from ._output import write_h5mu
from ._validate import check_anndata, check_finite, check_labels, is_integer
from .metrics import _KNN_ALGORITHM, _unit_rows

__all__ = [
    "bridge_query_split",
    "evaluate_held_out",
    "format_table",
    "headline",
    "impute_knn",
    "missing_reasons",
]

# Rows of the headline table: (result key path, column title).
_HEADLINE = (
    (("foscttm",), "FOSCTTM"),
    (("recovery", "top1"), "top-1"),
    (("recovery", "top10"), "top-10"),
    (("knn", "rna_to_atac"), "kNN RNA->ATAC"),
    (("knn", "atac_to_rna"), "kNN ATAC->RNA"),
    (("lisi", "ilisi_modality"), "iLISI modality"),
    (("lisi", "clisi_label"), "cLISI label"),
    (("pairing_same", "label_match"), "pair label (same)"),
    (("pairing_same", "exact_partner"), "pair exact (same)"),
    (("pairing_disjoint", "label_match"), "pair label (disjoint)"),
    (("correlation", "paired_vs_real", "ks"), "KS paired-real"),
    (("correlation", "imputed_vs_real", "ks"), "KS imputed-real"),
    (("train_seconds",), "train s"),
)


def bridge_query_split(
    n_cells: int,
    labels: np.ndarray | pd.Series | None = None,
    *,
    bridge_fraction: float = 0.3,
    seed: int = 0,
    what: str = "labels",
) -> tuple[np.ndarray, np.ndarray]:
    """Split cell indices into a paired bridge and a held-out query, stratified by ``labels``.

    This is the held-out protocol of the benchmarks and the demo: the model sees only the
    bridge; the query's modalities are embedded separately and judged against their known pairing.

    Parameters
    ----------
    n_cells
        Number of cells.
    labels
        Optional per-cell labels to stratify on (e.g. ``rna.obs["cell_type"]``).
    bridge_fraction
        Fraction of cells in the bridge, in (0, 1).
    seed
        Random seed.
    what
        How warnings name the labels (e.g. ``"obs['cell_type']"``). Classes of a single cell
        are pooled for stratification, with a ``UserWarning`` naming them; a split too small
        for one cell of every class on each side is random, with a ``UserWarning``.

    Returns
    -------
    bridge_idx, query_idx
        Sorted integer indices.
    """
    if not 0 < bridge_fraction < 1:
        raise ValueError(f"`bridge_fraction` must be in (0, 1); got {bridge_fraction}.")
    if labels is not None and len(labels) != n_cells:
        raise ValueError(f"`labels` has {len(labels)} entries but `n_cells` is {n_cells}.")
    strata = None if labels is None else _strata(np.asarray(labels), bridge_fraction, what)
    bridge_idx, query_idx = train_test_split(
        np.arange(n_cells), train_size=bridge_fraction, random_state=seed, stratify=strata
    )
    return np.sort(bridge_idx), np.sort(query_idx)


def _strata(labels: np.ndarray, bridge_fraction: float, what: str) -> np.ndarray | None:
    """Labels to stratify on: classes of a single cell (which cannot be split in proportion)
    are pooled, with a ``UserWarning`` naming them; None (a random split, with a warning) when
    the split is too small to hold one cell of every class on each side."""
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    strata = inverse.astype(np.int64)
    rare = counts < 2
    n_bridge = int(np.floor(bridge_fraction * labels.size))
    if not rare.any() and min(n_bridge, labels.size - n_bridge) >= values.size:
        return labels  # as given: the split sklearn makes of them is unchanged
    if rare.any():
        shown = [repr(str(v)) for v in values[rare]]
        names = ", ".join(shown[:10]) + (f", ... ({len(shown)} in all)" if len(shown) > 10 else "")
        kind = "class has" if len(shown) == 1 else "classes have"
        warnings.warn(
            f"{what}: {len(shown)} {kind} a single cell ({names}), which cannot be split in "
            "proportion; they are pooled for the stratified split.",
            UserWarning,
            stacklevel=4,
        )
        strata[rare[inverse]] = -1
        if rare.sum() == 1:  # a pool of one: put it with the largest class
            strata[strata == -1] = int(np.argmax(counts))
    n_strata = np.unique(strata).size
    if min(n_bridge, labels.size - n_bridge) < n_strata:
        warnings.warn(
            f"{what}: a split of {labels.size} cells into {n_bridge} + {labels.size - n_bridge} "
            f"cannot hold one cell of each of {n_strata} classes on both sides; the split is "
            "random, not stratified.",
            UserWarning,
            stacklevel=4,
        )
        return None
    return strata


def impute_knn(
    z_source: np.ndarray,
    z_reference: np.ndarray,
    reference_values: np.ndarray | sp.spmatrix,
    k: int = 15,
) -> np.ndarray | sp.csr_matrix:
    """Impute values for source cells as the mean over their ``k`` nearest reference cells.

    The baseline that pairing is compared with: e.g. ATAC of query RNA cells from the bridge's
    ATAC, neighbours found in the shared (unit-vector) space.

    Parameters
    ----------
    z_source
        ``(n_source, d)`` embedding of the cells to impute.
    z_reference
        ``(n_reference, d)`` embedding of the cells whose values are known.
    reference_values
        ``(n_reference, n_features)`` values (sparse stays sparse).
    k
        Number of neighbours, at most ``n_reference``.

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        ``(n_source, n_features)`` imputed values, sparse when ``reference_values`` is sparse.
    """
    z_source = _unit_rows(z_source, "z_source")
    z_reference = _unit_rows(z_reference, "z_reference")
    if z_source.shape[1] != z_reference.shape[1]:
        raise ValueError(
            f"`z_source` and `z_reference` must have the same dimension; got "
            f"{z_source.shape[1]} and {z_reference.shape[1]}."
        )
    if not (sp.issparse(reference_values) or isinstance(reference_values, np.ndarray)):
        raise TypeError("`reference_values` must be a numpy array or a scipy sparse matrix.")
    if reference_values.ndim != 2 or reference_values.shape[0] != z_reference.shape[0]:
        raise ValueError(
            f"`reference_values` must have one row per reference cell ({z_reference.shape[0]}); "
            f"got shape {reference_values.shape}."
        )
    check_finite(reference_values, "reference_values")
    n_ref = z_reference.shape[0]
    if not is_integer(k) or not 1 <= k <= n_ref:
        raise ValueError(f"`k` must be an integer in [1, {n_ref}] (reference size); got {k!r}.")
    neighbours = (
        NearestNeighbors(n_neighbors=int(k), algorithm=_KNN_ALGORITHM)
        .fit(z_reference)
        .kneighbors(z_source, return_distance=False)
    )
    n_source = z_source.shape[0]
    weights = sp.csr_matrix(
        (np.full(n_source * k, 1.0 / k), neighbours.ravel(), np.arange(0, n_source * k + 1, k)),
        shape=(n_source, n_ref),
    )
    if sp.issparse(reference_values):
        return sp.csr_matrix(weights @ sp.csr_matrix(reference_values, dtype=np.float64))
    return weights @ np.asarray(reference_values, dtype=np.float64)


def _integration_metrics(
    z_rna: np.ndarray, z_atac: np.ndarray, labels: np.ndarray, knn_k: int
) -> dict[str, Any]:
    recovery = metrics.partner_recovery(z_rna, z_atac, k=(1, 10))
    both = np.concatenate([z_rna, z_atac])
    modality = np.repeat(["rna", "atac"], [len(z_rna), len(z_atac)])
    return {
        "foscttm": metrics.foscttm(z_rna, z_atac),
        "recovery": {"top1": recovery[1], "top10": recovery[10]},
        "knn": {
            "rna_to_atac": metrics.knn_accuracy(z_rna, labels, z_atac, labels, k=knn_k),
            "atac_to_rna": metrics.knn_accuracy(z_atac, labels, z_rna, labels, k=knn_k),
        },
        "lisi": {
            "ilisi_modality": float(metrics.lisi(both, modality).mean()),
            "clisi_label": float(metrics.lisi(both, np.concatenate([labels, labels])).mean()),
        },
    }


def _correlations(
    rna_a: ad.AnnData,
    atac_a: ad.AnnData,
    atac_b: ad.AnnData,
    pairing: Any,
    imputed_atac: sp.csr_matrix,
    links: sp.spmatrix,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gene-peak correlations of the same RNA cells with real, matched and imputed ATAC."""
    real, real_summary = metrics.gene_peak_correlation(rna_a, atac_a, links)
    paired, paired_summary = metrics.gene_peak_correlation(
        rna_a[pairing.index1], atac_b[pairing.index2], links
    )
    # Same peak names as the real ATAC so that per-link correlations line up.
    imputed_ad = ad.AnnData(imputed_atac, obs=rna_a.obs[[]], var=atac_a.var[[]])
    imputed, imputed_summary = metrics.gene_peak_correlation(
        rna_a, imputed_ad, links, binarize_atac=False
    )
    summary = {
        "real": real_summary,
        "paired": paired_summary,
        "imputed": imputed_summary,
        "paired_vs_real": metrics.compare_correlations(real, paired),
        "imputed_vs_real": metrics.compare_correlations(real, imputed),
    }
    return summary, {"real": real, "paired": paired, "imputed": imputed}


def evaluate_held_out(
    rna: ad.AnnData,
    atac: ad.AnnData,
    *,
    label_key: str = "cell_type",
    bridge_fraction: float = 0.3,
    seed: int = 0,
    cutoff: float = 0.8,
    links: sp.spmatrix | np.ndarray | None = None,
    out_dir: str | Path | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    knn_k: int = 15,
    progress: bool = False,
) -> dict[str, Any]:
    """Train on a paired bridge and evaluate on the held-out, separately embedded query.

    The cells are split (stratified by ``label_key``) into a bridge, on which
    :class:`scpairing.ScPairing` is trained, and a query whose RNA and ATAC are embedded
    separately. On the query: FOSCTTM, top-1/top-10 partner recovery, kNN label transfer both
    ways, iLISI of modality and cLISI of label; pairing of the same query cells (label match and
    exact-partner rate) and of disjoint halves (RNA of half A with ATAC of half B: label match).
    With ``links``, the gene-peak correlations of half A's RNA with its real ATAC, with the ATAC
    matched from half B, and with ATAC imputed by kNN from the bridge are compared.

    Parameters
    ----------
    rna, atac
        Paired raw counts of the same cells in the same order.
    label_key
        ``obs`` column of ``rna`` with cell labels.
    bridge_fraction
        Fraction of cells in the bridge.
    seed
        Seed of the split, the model and the halves.
    cutoff
        Similarity cutoff of the pairing.
    links
        Genes x peaks links for the correlation comparison; ``None`` skips it.
    out_dir
        If given: write ``report.md``, ``metrics.json``, PNG plots, ``model.pt`` and the
        generated dataset ``paired.h5mu`` (half A's RNA paired with half B's ATAC).
    train_kwargs
        Keyword arguments of :meth:`ScPairing.train` (e.g. ``max_epochs``).
    model_kwargs
        Extra keyword arguments of :class:`ScPairing` (e.g. ``latent_dim``).
    knn_k
        Neighbours for kNN label transfer and imputation.
    progress
        Show the training progress bar.

    Returns
    -------
    dict
        Nested results (see :func:`headline` for the main numbers); ``files`` lists what was
        written.
    """
    from .bridge import bridge_pair
    from .model import ScPairing
    from .pairing import pair

    labels, label_names = _check_paired(rna, atac, label_key)

    # Split on the label names, so that warnings about rare classes name them.
    where = f"obs[{label_key!r}]"
    bridge, query = bridge_query_split(
        rna.n_obs, label_names[labels], bridge_fraction=bridge_fraction, seed=seed, what=where
    )
    rna_b, atac_b = rna[bridge].copy(), atac[bridge].copy()
    rna_q, atac_q = rna[query].copy(), atac[query].copy()
    labels_q = labels[query]

    model = ScPairing({"rna": rna_b, "atac": atac_b}, seed=seed, **dict(model_kwargs or {}))
    start = time.perf_counter()
    model.train(progress=progress, **dict(train_kwargs or {}))
    train_seconds = time.perf_counter() - start

    z_rna = model.embed(rna_q, modality="rna")
    z_atac = model.embed(atac_q, modality="atac")
    result: dict[str, Any] = {
        "n_bridge": int(bridge.size),
        "n_query": int(query.size),
        "seed": seed,
        "cutoff": cutoff,
        "knn_k": knn_k,
        "train_seconds": train_seconds,
        "epochs": len(model.history),
        **_integration_metrics(z_rna, z_atac, labels_q, knn_k),
    }

    same = pair(z_rna, z_atac, cutoff=cutoff)
    result["pairing_same"] = metrics.pairing_accuracy(
        same, labels_q, labels_q, true_partner=np.arange(query.size)
    )
    half_a, half_b = bridge_query_split(
        query.size, label_names[labels_q], bridge_fraction=0.5, seed=seed, what=f"{where} (query)"
    )
    disjoint = pair(z_rna[half_a], z_atac[half_b], cutoff=cutoff)
    result["pairing_disjoint"] = metrics.pairing_accuracy(
        disjoint, labels_q[half_a], labels_q[half_b]
    )

    result["confidence"] = _confidence_summary(model, disjoint, labels_q[half_a], labels_q[half_b])

    tables: dict[str, Any] = {}
    if links is not None:
        imputed = impute_knn(
            z_rna[half_a],
            model.embed(atac_b, modality="atac"),
            binarise(atac_b.X, np.float32),
            k=knn_k,
        )
        result["correlation"], tables = _correlations(
            rna_q[half_a], atac_q[half_a], atac_q[half_b], disjoint, imputed, links
        )

    if out_dir is not None:
        paired = bridge_pair(model, {"rna": rna_q[half_a], "atac": atac_q[half_b]}, cutoff=cutoff)
        result["paired_file"] = _paired_summary(paired, half_a.size, half_b.size)
        texts = label_names[labels_q]
        _write_outputs(Path(out_dir), result, model, paired, z_rna, z_atac, texts, same, tables)
    return result


def _check_paired(
    rna: ad.AnnData, atac: ad.AnnData, label_key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Label codes of paired ``rna`` / ``atac`` and the label names the codes index."""
    check_anndata(rna, "rna")
    check_anndata(atac, "atac")
    if rna.n_obs != atac.n_obs or not (rna.obs_names == atac.obs_names).all():
        raise ValueError(
            "`rna` and `atac` must hold the same cells in the same order (paired data)."
        )
    labels = check_labels(rna, label_key, "label_key")
    label_names = np.asarray(rna.obs[label_key].astype("category").cat.categories, dtype=str)
    return labels, label_names


def _write_outputs(
    out: Path,
    result: dict[str, Any],
    model: Any,
    paired: Any,
    z_rna: np.ndarray,
    z_atac: np.ndarray,
    labels: np.ndarray,
    same: Any,
    tables: Mapping[str, Any],
) -> None:
    """Plots, the paired dataset, the model, ``metrics.json`` and ``report.md`` in ``out``;
    ``result["files"]`` lists them."""
    out.mkdir(parents=True, exist_ok=True)
    cutoff, seed = result["cutoff"], result["seed"]
    files = {
        "embedding": pl.embedding(
            {"rna": z_rna, "atac": z_atac},
            {"rna": labels, "atac": labels},
            path=out / "embedding.png",
            seed=seed,
            title="held-out query in the shared space",
        ),
        "similarity": pl.similarity_histogram(
            {
                "matched pairs": same.similarity,
                "true partners": np.einsum("ij,ij->i", z_rna, z_atac),
            },
            cutoff,
            path=out / "pair_similarity.png",
            title="query pairing (same cells)",
        ),
    }
    if tables:
        files["correlation"] = pl.correlation_distributions(
            tables, path=out / "gene_peak_correlation.png"
        )
    files["paired"] = out / "paired.h5mu"
    write_h5mu(paired, files["paired"])  # mudata's future default, no FutureWarning
    files["model"] = out / "model.pt"
    model.save(files["model"])
    files["metrics"] = out / "metrics.json"
    files["report"] = out / "report.md"
    result["files"] = {name: str(path) for name, path in files.items()}
    files["metrics"].write_text(json.dumps(result, indent=2, default=float))
    files["report"].write_text(_markdown(result))


def _confidence_summary(
    model: Any, pairing: Any, labels1: np.ndarray, labels2: np.ndarray, n_bins: int = 5
) -> dict[str, Any]:
    """Validation AUC / FOSCTTM, the pairs' confidence quantiles and the share of pairs that
    agree on the label in each confidence bin (equal-count bins, lowest first)."""
    validation = getattr(model, "validation", None) or {}
    out: dict[str, Any] = {
        "validation_auc": float(validation.get("auc", np.nan)),
        "validation_foscttm": float(validation.get("foscttm", np.nan)),
        "quantiles": {},
        "bins": [],
    }
    if pairing.n_pairs == 0:
        return out
    confidence = model.pair_confidence(pairing.similarity, "rna", "atac", pairing.confidence)
    agree = labels1[pairing.index1] == labels2[pairing.index2]
    out["quantiles"] = {
        f"q{int(q * 100)}": float(np.quantile(confidence, q)) for q in (0.1, 0.5, 0.9)
    }
    order = np.argsort(confidence, kind="stable")
    for part in np.array_split(order, min(n_bins, order.size)):
        out["bins"].append(
            {
                "low": float(confidence[part].min()),
                "high": float(confidence[part].max()),
                "n": int(part.size),
                "label_match": float(agree[part].mean()),
            }
        )
    return out


def _lookup(result: Mapping[str, Any], keys: Sequence[str]) -> float:
    value: Any = result
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return float("nan")
        value = value[key]
    return float(value)


def _paired_summary(paired: Any, n_rna: int, n_atac: int) -> dict[str, Any]:
    """What ``paired.h5mu`` holds: which cells, which pairing, how many pairs and leftovers."""
    info = paired.uns["scpairing"]
    return {
        "cells": "RNA of query half A paired with ATAC of query half B (disjoint cells)",
        "n_rna": int(n_rna),
        "n_atac": int(n_atac),
        "n_pairs": int(paired.n_obs),
        "unpaired": {m: len(v) for m, v in paired.uns["unpaired"].items()},
        "cutoff": float(info["cutoff"]),
        "method": str(info["method"]),
        "model": str(info["model"]),
    }


def missing_reasons(result: Mapping[str, Any]) -> dict[str, str]:
    """``{headline title: why it is missing}`` for every :func:`headline` number that is NaN."""
    reasons = {}
    for keys, title in _HEADLINE:
        if np.isfinite(_lookup(result, keys)):
            continue
        section = result.get(keys[0])
        if keys[0] == "correlation" and section is None:
            reasons[title] = "not computed: no gene-peak links given (--links, `links=`)"
        elif keys[0].startswith("pairing") and isinstance(section, Mapping):
            if not section.get("n_pairs"):
                reasons[title] = f"no pair reached the similarity cutoff {result.get('cutoff')}"
            else:
                reasons[title] = "not computed for this pairing"
        elif section is None:
            reasons[title] = "not computed in this run"
        else:
            reasons[title] = "undefined for these cells (NaN)"
    return reasons


def headline(result: Mapping[str, Any]) -> dict[str, float]:
    """The main numbers of an :func:`evaluate_held_out` result, as ``{title: value}``."""
    return {title: _lookup(result, keys) for keys, title in _HEADLINE}


def format_table(columns: Mapping[str, Mapping[str, float]]) -> str:
    """A plain-text table with one column per run (e.g. seed) and one row per metric.

    Parameters
    ----------
    columns
        ``{run name: {metric: value}}``; metrics are taken from the first run.
    """
    if not columns:
        return ""
    metrics_ = list(next(iter(columns.values())))
    label_width = max(len(m) for m in metrics_)
    widths = [max(9, len(name)) for name in columns]
    header = " " * label_width + "".join(
        f"  {n:>{w}}" for n, w in zip(columns, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for metric in metrics_:
        cells = "".join(
            f"  {values.get(metric, float('nan')):>{w}.3f}"
            for values, w in zip(columns.values(), widths, strict=True)
        )
        lines.append(metric.ljust(label_width) + cells)
    return "\n".join(lines)


def _markdown(result: Mapping[str, Any]) -> str:
    lines = [
        "# scpairing held-out evaluation",
        "",
        f"Bridge: {result['n_bridge']} paired cells (model trained on these only, "
        f"{result['epochs']} epochs, {result['train_seconds']:.1f} s). "
        f"Query: {result['n_query']} cells, RNA and ATAC embedded separately. "
        f"Seed {result['seed']}, pairing cutoff {result['cutoff']}.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    reasons = missing_reasons(result)
    lines += [
        f"| {title} | {value:.3f} |"
        for title, value in headline(result).items()
        if title not in reasons
    ]
    if reasons:
        lines += ["", "Not reported:"]
        lines += [f"- {title}: {why}." for title, why in reasons.items()]
    lines += [
        "",
        "FOSCTTM: fraction of query cells closer than the true partner (0 best, 0.5 random). "
        "Top-k: true partner among the k nearest cells of the other modality. kNN: label "
        "transfer accuracy between modalities. iLISI of modality: 1 separated, 2 mixed. "
        "cLISI of label: 1 pure. 'same': RNA and ATAC of the same query cells are paired; "
        "'disjoint': RNA of half A is paired with ATAC of half B (a generated dataset).",
    ]
    if result.get("confidence", {}).get("bins"):
        conf = result["confidence"]
        q = conf["quantiles"]
        lines += [
            "",
            "## Confidence of the generated pairs (half A's RNA with half B's ATAC)",
            "",
            f"Validation on the bridge's held-out cells: AUC {conf['validation_auc']:.3f} "
            f"(0.5: partners indistinguishable from random cells), FOSCTTM "
            f"{conf['validation_foscttm']:.3f}. Pair confidence 10% / 50% / 90% quantiles: "
            f"{q['q10']:.2f} / {q['q50']:.2f} / {q['q90']:.2f}.",
            "",
            "| confidence bin | pairs | label match |",
            "|---|---|---|",
        ]
        lines += [
            f"| {b['low']:.2f}-{b['high']:.2f} | {b['n']} | {b['label_match']:.3f} |"
            for b in conf["bins"]
        ]
        lines += [
            "",
            "Confidence in [0, 1]: 0 when random cells are as often this similar as true "
            "partners, 0.5 when true partners are 3 times as likely, 1 when only they are.",
        ]
    if "correlation" in result:
        corr = result["correlation"]
        lines += ["", "## Gene-peak correlations (half A's RNA cells)", ""]
        lines += ["| ATAC source | mean r | sd r | links | KS vs real | mean diff | sd diff |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for name in ("real", "paired", "imputed"):
            s = corr[name]
            cmp = corr.get(f"{name}_vs_real", {})
            lines.append(
                f"| {name} | {s['mean']:.4f} | {s['sd']:.4f} | {int(s['n'])} | "
                f"{cmp.get('ks', 0.0):.3f} | {cmp.get('mean_diff', 0.0):+.4f} | "
                f"{cmp.get('sd_diff', 0.0):+.4f} |"
            )
        lines += [
            "",
            "real: the cells' own ATAC; paired: ATAC of the matched half-B cell; imputed: mean "
            f"binarised ATAC of the {result['knn_k']} nearest bridge cells in the shared space.",
        ]
    if "paired_file" in result:
        p = result["paired_file"]
        unpaired = ", ".join(f"{n} {m}" for m, n in p["unpaired"].items())
        lines += [
            "",
            "## The generated dataset `paired.h5mu`",
            "",
            f"{p['cells']}: {p['n_rna']} RNA and {p['n_atac']} ATAC cells, paired one-to-one by "
            f"{p['model']} with similarity cutoff {p['cutoff']} (method `{p['method']}`): "
            f"**{p['n_pairs']} pairs**; left unpaired: {unpaired} cells (listed in "
            "`uns['unpaired']`). Per pair, `obs` has the source cells (`rna_cell`, `atac_cell`), "
            "`similarity` and `confidence`. The 'pair label (disjoint)' row above judges this "
            "pairing.",
        ]
    if "files" in result:
        lines += ["", "## Files", ""]
        lines += [f"- {name}: `{Path(path).name}`" for name, path in result["files"].items()]
    return "\n".join(lines) + "\n"
