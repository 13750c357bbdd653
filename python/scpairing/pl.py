"""Plots for judging an integration and a generated dataset, written as PNG files.

Figures are drawn on matplotlib ``Figure`` objects and saved straight to file, so no display is
needed and pyplot's backend and figure list are left alone (an inline notebook keeps its plots).
Every function returns the path of the file it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA

from ._validate import check_matrix_2d

__all__ = ["embedding", "similarity_histogram", "correlation_distributions"]


def _project_2d(z: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """UMAP when ``umap-learn`` is installed, otherwise the first two principal components."""
    try:
        import umap
    except ImportError:
        return PCA(n_components=2, random_state=seed).fit_transform(z), "PC"
    import warnings

    reducer = umap.UMAP(
        n_components=2, metric="cosine", n_neighbors=min(15, max(2, len(z) - 1)), random_state=seed
    )
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state"
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        return reducer.fit_transform(z), "UMAP"


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`path` must end in .png; got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _scatter_by(ax: Axes, xy: np.ndarray, groups: np.ndarray, title: str) -> None:
    categories = pd.unique(groups)
    cmap = matplotlib.colormaps["tab20" if len(categories) > 10 else "tab10"]
    order = np.random.default_rng(0).permutation(xy.shape[0])  # no group painted over the others
    colour_of = {c: cmap(i % cmap.N) for i, c in enumerate(categories)}
    size = float(np.clip(3000 / max(xy.shape[0], 1), 1.5, 12))  # fewer cells, larger dots
    ax.scatter(
        xy[order, 0],
        xy[order, 1],
        c=[colour_of[g] for g in groups[order]],
        s=size,
        linewidths=0,
        alpha=0.8,
    )
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colour_of[c], label=str(c))
        for c in categories
    ]
    if len(categories) <= 4:  # e.g. the modalities: inside, where it fits
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.8)
    else:
        ax.legend(
            handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
        )
    ax.set_title(title)
    ax.tick_params(labelsize=8)


def embedding(
    embeddings: Mapping[str, np.ndarray],
    labels: Mapping[str, object] | None = None,
    *,
    path: str | Path,
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Scatter plot of the shared space, coloured by modality and (optionally) by label.

    Parameters
    ----------
    embeddings
        ``{modality: (n_cells, d) embedding}``; all must share ``d``.
    labels
        Optional ``{modality: per-cell labels}`` with the same keys, for a second panel.
    path
        Output ``.png`` file.
    seed
        Seed of the 2-D projection (UMAP if ``umap-learn`` is installed, else PCA).
    title
        Optional figure title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise TypeError("`embeddings` must be a non-empty dict {modality: array}.")
    arrays = {name: check_matrix_2d(z, f"embeddings[{name!r}]") for name, z in embeddings.items()}
    dims = {z.shape[1] for z in arrays.values()}
    if len(dims) != 1:
        raise ValueError(f"`embeddings` must all have the same dimension; got {sorted(dims)}.")
    if labels is not None:
        if set(labels) != set(arrays):
            raise ValueError(f"`labels` must have the keys of `embeddings` ({sorted(arrays)}).")
        for name, z in arrays.items():
            if len(labels[name]) != z.shape[0]:
                raise ValueError(
                    f"`labels[{name!r}]` has {len(labels[name])} entries; expected {z.shape[0]}."
                )
    xy, axis_name = _project_2d(np.concatenate(list(arrays.values())), seed)
    modality = np.concatenate(
        [np.full(z.shape[0], name, dtype=object) for name, z in arrays.items()]
    )
    n_panels = 1 if labels is None else 2
    fig = Figure(figsize=(5.5 * n_panels, 5), layout="constrained")  # legends do not overlap
    axes = fig.subplots(1, n_panels, squeeze=False)
    _scatter_by(axes[0, 0], xy, modality, "modality")
    if labels is not None:
        label_values = np.concatenate([np.asarray(labels[name], dtype=object) for name in arrays])
        _scatter_by(axes[0, 1], xy, label_values, "label")
    for ax in axes[0]:
        ax.set_xlabel(f"{axis_name} 1")
        ax.set_ylabel(f"{axis_name} 2")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def similarity_histogram(
    similarity: np.ndarray | Mapping[str, np.ndarray],
    cutoff: float | None = None,
    *,
    path: str | Path,
    bins: int = 50,
    title: str | None = None,
) -> Path:
    """Histogram of pair similarities with the cutoff marked.

    Parameters
    ----------
    similarity
        Cosine similarity of each pair (e.g. ``Pairing.similarity``), or ``{name: array}`` to
        overlay several sets (e.g. matched pairs and true partners).
    cutoff
        Similarity threshold to draw as a vertical line.
    path
        Output ``.png`` file.
    bins
        Number of histogram bins over the common range.
    title
        Optional title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    sets = dict(similarity) if isinstance(similarity, Mapping) else {"pairs": similarity}
    values = {}
    for name, array in sets.items():
        values[name] = np.asarray(array, dtype=np.float64).ravel()
        if values[name].size == 0 or not np.isfinite(values[name]).all():
            raise ValueError(f"`similarity` ({name}) must be a non-empty array of finite numbers.")
    low = min(v.min() for v in values.values())
    high = max(v.max() for v in values.values())
    edges = np.linspace(low, high, bins + 1) if high > low else bins
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for name, v in values.items():
        ax.hist(v, bins=edges, histtype="stepfilled", alpha=0.5, label=f"{name} (n = {v.size})")
    if cutoff is not None:
        ax.axvline(cutoff, color="black", linestyle="--", label=f"cutoff {cutoff:g}")
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("pairs")
    ax.set_title(title or "pair similarities")
    return _save(fig, path)


def _axis_range(values: list[np.ndarray]) -> tuple[float, float, int]:
    """Axis limits spanning the central 99% of all values, padded by 5% (a few extreme values
    would otherwise squash the distributions into a sliver), and how many values fall outside."""
    pooled = np.concatenate(values)
    low, high = np.quantile(pooled, [0.005, 0.995])
    if not high > low:
        low, high = pooled.min(), pooled.max()
    pad = 0.05 * (high - low) if high > low else 0.05
    low, high = float(low - pad), float(high + pad)
    return low, high, int(np.count_nonzero((pooled < low) | (pooled > high)))


def correlation_distributions(
    correlations: Mapping[str, object],
    *,
    path: str | Path,
    bins: int = 60,
    title: str | None = None,
) -> Path:
    """Overlaid gene-peak correlation distributions, e.g. real vs paired vs imputed.

    Parameters
    ----------
    correlations
        ``{name: table from metrics.gene_peak_correlation or array of r}``; NaN is ignored.
    path
        Output ``.png`` file.
    bins
        Number of bins over the common range.
    title
        Optional title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if not isinstance(correlations, Mapping) or not correlations:
        raise TypeError("`correlations` must be a non-empty dict {name: correlations}.")
    series = {}
    for name, values in correlations.items():
        if isinstance(values, pd.DataFrame):
            values = values["r"]
        r = np.asarray(values, dtype=np.float64).ravel()
        series[name] = r[np.isfinite(r)]
        if series[name].size == 0:
            raise ValueError(f"`correlations[{name!r}]` has no finite values.")
    low, high, outside = _axis_range(list(series.values()))
    n_values = sum(r.size for r in series.values())
    edges = np.linspace(low, high, bins + 1)
    fig = Figure(figsize=(11, 4))
    ax_hist, ax_cdf = fig.subplots(1, 2)
    for name, r in series.items():
        label = f"{name} (mean {r.mean():.3f}, sd {r.std():.3f})"
        ax_hist.hist(r, bins=edges, histtype="step", density=True, linewidth=1.5, label=label)
        ax_cdf.plot(np.sort(r), np.arange(1, r.size + 1) / r.size, label=name)
    ax_hist.set_xlabel("gene-peak Pearson r")
    ax_hist.set_ylabel("density")
    ax_hist.legend(frameon=False, fontsize=8)
    ax_cdf.set_xlabel("gene-peak Pearson r")
    ax_cdf.set_ylabel("cumulative fraction")
    ax_cdf.legend(frameon=False, fontsize=8)
    for ax in (ax_hist, ax_cdf):
        ax.set_xlim(low, high)
        ax.axvline(0.0, color="grey", linewidth=0.5)
    note = f" ({outside} of {n_values} values outside the axis)" if outside else ""
    fig.suptitle((title or "gene-peak correlations") + note)
    return _save(fig, path)
