"""Metrics to judge an integration and a generated (paired) dataset.

Embedding metrics work on cells x latent arrays and never build an n x n dense matrix: the
cross-modal similarities are computed in row blocks. Gene-peak correlations work on sparse
count matrices without densifying them.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from ._compat import moved
from ._counts import binarise, log_normalise
from ._peaks import split_peak_names
from ._validate import check_counts, check_finite, check_matrix_2d, is_integer

__all__ = [
    "foscttm",
    "partner_recovery",
    "knn_accuracy",
    "lisi",
    "pairing_accuracy",
    "gene_peak_correlation",
    "compare_correlations",
]

# Float64 block of the cross-similarity matrix kept below ~64 MB unless the caller asks otherwise.
_BLOCK_ELEMENTS = 2**23
# Latent spaces are ~10-D and dense: blocked brute force beats sklearn's trees there (3x
# measured on 14k cells, 90 neighbours) and sklearn bounds its memory by `working_memory`.
_KNN_ALGORITHM = "brute"


def _unit_rows(z: np.ndarray, argname: str) -> np.ndarray:
    """Return ``z`` as float64 rows of unit norm (cosine geometry)."""
    z = check_matrix_2d(z, argname).astype(np.float64)
    if z.shape[0] == 0:
        raise ValueError(f"`{argname}` is empty; expected at least one cell.")
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(
            f"`{argname}` has {int((norms == 0).sum())} all-zero rows; cosine is undefined."
        )
    return z / norms


def _paired_unit_rows(z1: np.ndarray, z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z1 = _unit_rows(z1, "z1")
    z2 = _unit_rows(z2, "z2")
    if z1.shape != z2.shape:
        raise ValueError(
            f"`z1` and `z2` must have the same shape (row i of each is the same cell); "
            f"got {z1.shape} and {z2.shape}."
        )
    if z1.shape[0] < 2:
        raise ValueError("`z1` and `z2` need at least 2 cells.")
    return z1, z2


def _closer_counts(
    z1: np.ndarray, z2: np.ndarray, block_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """For each cell, count cells of the other modality strictly closer than its true partner.

    Returns ``(counts1, counts2)``: ``counts1[i]`` = #{j != i : cos(z1_i, z2_j) > cos(z1_i, z2_i)},
    ``counts2[j]`` = #{i != j : cos(z1_i, z2_j) > cos(z1_j, z2_j)}. Exact, one pass over row blocks.
    """
    n = z1.shape[0]
    if block_size is None:
        block_size = max(1, _BLOCK_ELEMENTS // n)
    elif not is_integer(block_size) or block_size < 1:
        raise ValueError(f"`block_size` must be a positive integer or None; got {block_size!r}.")
    true_sim = np.einsum("ij,ij->i", z1, z2)
    counts1 = np.zeros(n, dtype=np.int64)
    counts2 = np.zeros(n, dtype=np.int64)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        sim = z1[start:stop] @ z2.T
        rows = np.arange(stop - start)
        # The true partner itself never counts, whatever the rounding of the two dot products.
        sim[rows, rows + start] = -np.inf
        counts1[start:stop] = (sim > true_sim[start:stop, None]).sum(axis=1)
        counts2 += (sim > true_sim[None, :]).sum(axis=0)
    return counts1, counts2


def foscttm(z1: np.ndarray, z2: np.ndarray, *, block_size: int | None = None) -> float:
    """Fraction of samples closer than the true match (FOSCTTM), averaged over both directions.

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are the two modalities of the same cell. For each
    cell, the fraction of the other ``n - 1`` cells of the other modality that are closer (cosine
    distance) than its true partner; the mean over cells and both directions. 0 is perfect,
    about 0.5 is random.

    Parameters
    ----------
    z1, z2
        ``(n, d)`` embeddings of the same cells (rows need not be unit vectors).
    block_size
        Rows of the ``block_size x n`` similarity block held at once; ``None`` keeps it near 64 MB.

    Returns
    -------
    float
        The FOSCTTM, exact.
    """
    z1, z2 = _paired_unit_rows(z1, z2)
    counts1, counts2 = _closer_counts(z1, z2, block_size)
    n = z1.shape[0]
    return float((counts1.mean() + counts2.mean()) / (2 * (n - 1)))


def partner_recovery(
    z1: np.ndarray,
    z2: np.ndarray,
    k: int | Sequence[int] = (1, 10),
    *,
    block_size: int | None = None,
) -> dict[int, float]:
    """Fraction of cells whose true partner is among their ``k`` nearest cross-modal neighbours.

    Averaged over both directions (z1 -> z2 and z2 -> z1); cosine similarity; ties count in the
    cell's favour.

    Parameters
    ----------
    z1, z2
        ``(n, d)`` embeddings of the same cells.
    k
        One or several neighbourhood sizes (positive integers).
    block_size
        As in :func:`foscttm`.

    Returns
    -------
    dict
        ``{k: top-k recovery rate}``.
    """
    ks = [k] if isinstance(k, (int, np.integer)) else list(k)
    if not ks or any(not is_integer(v) or v < 1 for v in ks):
        raise ValueError(f"`k` must be a positive integer or a sequence of them; got {k!r}.")
    z1, z2 = _paired_unit_rows(z1, z2)
    counts1, counts2 = _closer_counts(z1, z2, block_size)
    return {int(v): float(((counts1 < v).mean() + (counts2 < v).mean()) / 2) for v in ks}


def _labels(labels: object, n: int, argname: str) -> np.ndarray:
    values = np.asarray(labels)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(
            f"`{argname}` must be 1-D with {n} entries (one per cell); got shape {values.shape}."
        )
    if pd.isna(values).any():
        raise ValueError(f"`{argname}` has {int(pd.isna(values).sum())} missing values.")
    return values


def knn_accuracy(
    z_ref: np.ndarray,
    labels_ref: object,
    z_query: np.ndarray,
    labels_query: object,
    k: int = 15,
) -> float:
    """Label-transfer accuracy: majority vote of the ``k`` nearest reference cells.

    Distances are Euclidean between unit-normalised rows (monotone in cosine distance).

    Parameters
    ----------
    z_ref, labels_ref
        Reference embedding ``(n_ref, d)`` and its labels.
    z_query, labels_query
        Query embedding ``(n_query, d)`` and its true labels.
    k
        Number of neighbours (at most ``n_ref``).

    Returns
    -------
    float
        Fraction of query cells whose predicted label equals the true one.
    """
    z_ref = _unit_rows(z_ref, "z_ref")
    z_query = _unit_rows(z_query, "z_query")
    if z_ref.shape[1] != z_query.shape[1]:
        raise ValueError(
            "`z_ref` and `z_query` must have the same dimension; "
            f"got {z_ref.shape[1]} and {z_query.shape[1]}."
        )
    if not is_integer(k) or not 1 <= k <= z_ref.shape[0]:
        raise ValueError(
            f"`k` must be an integer in [1, {z_ref.shape[0]}] (reference size); got {k!r}."
        )
    y_ref = _labels(labels_ref, z_ref.shape[0], "labels_ref")
    y_query = _labels(labels_query, z_query.shape[0], "labels_query")
    classifier = KNeighborsClassifier(n_neighbors=int(k), algorithm=_KNN_ALGORITHM).fit(
        z_ref, y_ref
    )
    return float((classifier.predict(z_query) == y_query).mean())


def _simpson_from_neighbours(
    distances: np.ndarray,
    neighbour_codes: np.ndarray,
    n_categories: int,
    perplexity: float,
    tol: float = 1e-5,
    n_tries: int = 50,
) -> np.ndarray:
    """Simpson's index of each cell's Gaussian-weighted neighbourhood, vectorised over cells.

    The bandwidth ``beta`` of ``exp(-beta * d)`` is found per cell by bisection so that the
    entropy of the weights equals ``log(perplexity)`` (Korsunsky et al. 2019).
    """
    n = distances.shape[0]
    # Shifting each row by its smallest distance leaves H and the normalised weights unchanged
    # but avoids underflow when beta grows large.
    shifted = distances - distances[:, :1]
    log_u = np.log(perplexity)
    beta = np.ones(n)
    beta_min = np.full(n, -np.inf)
    beta_max = np.full(n, np.inf)
    weights = np.empty_like(distances)
    active = np.ones(n, dtype=bool)
    for attempt in range(n_tries + 1):
        idx = np.flatnonzero(active)
        p = np.exp(-shifted[idx] * beta[idx, None])
        p_sum = p.sum(axis=1)
        entropy = np.log(p_sum) + beta[idx] * (shifted[idx] * p).sum(axis=1) / p_sum
        weights[idx] = p / p_sum[:, None]
        diff = entropy - log_u
        moving = np.abs(diff) >= tol
        if attempt == n_tries or not moving.any():
            break
        idx, diff = idx[moving], diff[moving]
        active[:] = False
        active[idx] = True
        up = diff > 0  # entropy too high: sharpen the kernel
        i_up, i_down = idx[up], idx[~up]
        beta_min[i_up] = beta[i_up]
        beta[i_up] = np.where(
            np.isfinite(beta_max[i_up]), (beta[i_up] + beta_max[i_up]) / 2, beta[i_up] * 2
        )
        beta_max[i_down] = beta[i_down]
        beta[i_down] = np.where(
            np.isfinite(beta_min[i_down]), (beta[i_down] + beta_min[i_down]) / 2, beta[i_down] / 2
        )
    flat = (np.arange(n)[:, None] * n_categories + neighbour_codes).ravel()
    mass = np.bincount(flat, weights=weights.ravel(), minlength=n * n_categories)
    return (mass.reshape(n, n_categories) ** 2).sum(axis=1)


def lisi(z: np.ndarray, labels: object, perplexity: float = 30) -> np.ndarray:
    """Local inverse Simpson's index (LISI) of ``labels`` around each cell (Korsunsky et al. 2019).

    Each cell's ``3 * perplexity`` nearest neighbours (Euclidean, the cell itself excluded) are
    weighted by a Gaussian kernel whose bandwidth gives the weights an entropy of
    ``log(perplexity)``; LISI is the inverse Simpson's index of the labels under those weights.
    It ranges from 1 (one label nearby) to the number of labels (perfectly mixed). Use modality
    labels for iLISI (higher is better mixed) and cell types for cLISI (1 is best).

    Parameters
    ----------
    z
        ``(n, d)`` embedding.
    labels
        One label per cell.
    perplexity
        Effective neighbourhood size; needs more than ``3 * perplexity`` cells.

    Returns
    -------
    np.ndarray
        ``(n,)`` LISI per cell.
    """
    z = check_matrix_2d(z, "z")
    if (
        isinstance(perplexity, bool)
        or not isinstance(perplexity, (int, float, np.number))
        or perplexity < 1
    ):
        raise ValueError(f"`perplexity` must be a number >= 1; got {perplexity!r}.")
    n_neighbours = int(3 * perplexity)
    if z.shape[0] <= n_neighbours:
        raise ValueError(
            f"`z` has {z.shape[0]} cells; LISI with perplexity {perplexity} needs more than "
            f"{n_neighbours}. Lower `perplexity`."
        )
    values = _labels(labels, z.shape[0], "labels")
    _, codes = np.unique(values, return_inverse=True)
    distances, indices = (
        NearestNeighbors(n_neighbors=n_neighbours, algorithm=_KNN_ALGORITHM).fit(z).kneighbors(z)
    )
    # Drop the first neighbour, the cell itself (as the published implementation does).
    simpson = _simpson_from_neighbours(
        distances[:, 1:].astype(np.float64),
        codes[indices[:, 1:]],
        int(codes.max()) + 1,
        float(perplexity),
    )
    return 1.0 / simpson


def pairing_accuracy(
    pairing: object,
    labels1: object,
    labels2: object,
    *,
    true_partner: np.ndarray | None = None,
) -> dict[str, float]:
    """How good a pairing is: label agreement of the pairs and, when known, exact partners.

    Parameters
    ----------
    pairing
        A :class:`scpairing.pairing.Pairing` (anything with integer arrays ``index1``,
        ``index2`` and, optionally, ``unpaired1``/``unpaired2``).
    labels1, labels2
        One label per cell of modality 1 and of modality 2.
    true_partner
        Optional ``(n1,)`` integer array: the index in modality 2 of each modality-1 cell's true
        partner, ``-1`` where it has none.

    Returns
    -------
    dict
        ``n_pairs``, ``paired_fraction1``, ``paired_fraction2``, ``label_match`` (fraction of
        pairs whose labels agree) and, with ``true_partner``, ``exact_partner`` (fraction of pairs
        that are the true partners).
    """
    for attr in ("index1", "index2"):
        if not hasattr(pairing, attr):
            raise TypeError(
                f"`pairing` must be a Pairing with `index1`/`index2`; it lacks {attr!r}."
            )
    index1 = np.asarray(pairing.index1, dtype=np.int64)
    index2 = np.asarray(pairing.index2, dtype=np.int64)
    if index1.shape != index2.shape or index1.ndim != 1:
        raise ValueError("`pairing.index1` and `pairing.index2` must be 1-D of equal length.")
    y1 = np.asarray(labels1)
    y2 = np.asarray(labels2)
    for name, idx, y in (("labels1", index1, y1), ("labels2", index2, y2)):
        if y.ndim != 1:
            raise ValueError(f"`{name}` must be 1-D; got shape {y.shape}.")
        if idx.size and (idx.min() < 0 or idx.max() >= y.shape[0]):
            raise ValueError(
                f"`{name}` has {y.shape[0]} entries but the pairing indexes beyond it."
            )
    n_pairs = index1.size
    out: dict[str, float] = {
        "n_pairs": n_pairs,
        "paired_fraction1": n_pairs / y1.shape[0],
        "paired_fraction2": n_pairs / y2.shape[0],
        "label_match": float((y1[index1] == y2[index2]).mean()) if n_pairs else float("nan"),
    }
    if true_partner is not None:
        truth = np.asarray(true_partner)
        if truth.shape != y1.shape or truth.dtype.kind not in "iu":
            raise ValueError(
                f"`true_partner` must be an integer array with one entry per modality-1 cell "
                f"({y1.shape[0]}); got shape {truth.shape}, dtype {truth.dtype}."
            )
        out["exact_partner"] = float((truth[index1] == index2).mean()) if n_pairs else float("nan")
    return out


# --- gene-peak correlations ----------------------------------------------------------------


def _matrix_and_names(
    data: object, argname: str
) -> tuple[np.ndarray | sp.csr_matrix, pd.Index | None]:
    if isinstance(data, ad.AnnData):
        return data.X, data.var_names
    if sp.issparse(data) or isinstance(data, np.ndarray):
        return data, None
    raise TypeError(f"`{argname}` must be an AnnData, a numpy array or a scipy sparse matrix.")


def _as_float(values: np.ndarray | sp.spmatrix) -> sp.csr_matrix | np.ndarray:
    if sp.issparse(values):
        return sp.csr_matrix(values, dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


def _column_moments(values: np.ndarray | sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    if sp.issparse(values):
        sums = np.asarray(values.sum(axis=0)).ravel()
        squares = np.asarray(values.multiply(values).sum(axis=0)).ravel()
    else:
        sums = values.sum(axis=0)
        squares = (values * values).sum(axis=0)
    return sums, squares


def _paired_column_products(
    x: np.ndarray | sp.csr_matrix,
    y: np.ndarray | sp.csr_matrix,
    cols_x: np.ndarray,
    cols_y: np.ndarray,
    chunk_elements: int = 2**24,
) -> np.ndarray:
    """``sum_c x[c, cols_x[l]] * y[c, cols_y[l]]`` for every link ``l``, in row chunks."""
    n_cells = x.shape[0]
    n_links = cols_x.size
    # Bound the gathered (chunk x n_links) block by its expected number of stored values.
    density = max(
        m.nnz / max(1, m.shape[0] * m.shape[1]) if sp.issparse(m) else 1.0 for m in (x, y)
    )
    rows_per_chunk = max(1, int(chunk_elements / max(1.0, n_links * density)))
    total = np.zeros(n_links)
    for start in range(0, n_cells, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_cells)
        gx = x[start:stop][:, cols_x]
        gy = y[start:stop][:, cols_y]
        if sp.issparse(gx):
            product = gx.multiply(gy)
        elif sp.issparse(gy):
            product = gy.multiply(gx)
        else:
            product = gx * gy
        total += np.asarray(product.sum(axis=0)).ravel()
    return total


def _parse_peaks(atac: object, names: pd.Index | None) -> pd.DataFrame:
    if isinstance(atac, ad.AnnData) and {"chrom", "start", "end"} <= set(atac.var.columns):
        var = atac.var
        return pd.DataFrame(
            {
                "chrom": var["chrom"].astype(str).to_numpy(),
                "start": var["start"].to_numpy(),
                "end": var["end"].to_numpy(),
            }
        )
    if names is None:
        raise ValueError(
            "`gene_coords` needs peak coordinates: pass `atac` as an AnnData with peak names."
        )
    parts = split_peak_names(names)
    if parts.isna().any().any():
        bad = names[parts.isna().any(axis=1).to_numpy()][0]
        raise ValueError(f"`atac` peak name {bad!r} is not of the form 'chrN:start-end'.")
    return parts.astype({"start": np.int64, "end": np.int64})


def _links_from_coords(
    gene_coords: pd.DataFrame, gene_names: pd.Index, peaks: pd.DataFrame, distance: int
) -> tuple[np.ndarray, np.ndarray]:
    """(gene index, peak index) of every peak overlapping ``tss +/- distance``."""
    if not isinstance(gene_coords, pd.DataFrame) or not {"chrom", "tss"} <= set(
        gene_coords.columns
    ):
        raise ValueError(
            "`gene_coords` must be a DataFrame indexed by gene name with columns 'chrom' and 'tss'."
        )
    if not is_integer(distance) or distance < 0:
        raise ValueError(
            f"`distance` must be a non-negative integer (base pairs); got {distance!r}."
        )
    coords = gene_coords.reindex(gene_names)
    genes, peak_hits = [], []
    for chrom, peak_rows in peaks.groupby("chrom", sort=False).indices.items():
        order = peak_rows[np.argsort(peaks["start"].to_numpy()[peak_rows])]
        starts = peaks["start"].to_numpy()[order]
        ends = peaks["end"].to_numpy()[order]
        # Peaks are short; a peak overlaps the window when start <= tss + d and end >= tss - d.
        max_len = int((ends - starts).max()) if order.size else 0
        on_chrom = np.flatnonzero((coords["chrom"].astype(str) == str(chrom)).to_numpy())
        for g in on_chrom:
            tss = int(coords["tss"].iloc[g])
            lo = np.searchsorted(starts, tss - distance - max_len, side="left")
            hi = np.searchsorted(starts, tss + distance, side="right")
            hits = order[lo:hi][ends[lo:hi] >= tss - distance]
            genes.append(np.full(hits.size, g))
            peak_hits.append(hits)
    if not genes:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(genes).astype(np.int64), np.concatenate(peak_hits).astype(np.int64)


def gene_peak_correlation(
    rna: ad.AnnData | np.ndarray | sp.spmatrix,
    atac: ad.AnnData | np.ndarray | sp.spmatrix,
    links: np.ndarray | sp.spmatrix | None = None,
    *,
    gene_coords: pd.DataFrame | None = None,
    distance: int = 100_000,
    normalize_rna: bool = True,
    binarize_atac: bool = True,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Pearson correlation across cells of gene expression and linked peak accessibility.

    Row ``c`` of ``rna`` and row ``c`` of ``atac`` are one (real or generated) cell. Expression is
    log-normalised (counts per 10,000, ``log1p``) and accessibility binarised; both stay sparse.

    Parameters
    ----------
    rna
        Cells x genes counts (AnnData or matrix).
    atac
        Cells x peaks counts (AnnData or matrix); or imputed values with ``binarize_atac=False``.
    links
        Genes x peaks matrix; every non-zero entry is one gene-peak link.
    gene_coords
        Instead of ``links``: a DataFrame indexed by gene name with columns ``chrom`` and ``tss``;
        links are the peaks overlapping ``tss +/- distance``. Peak coordinates come from
        ``atac.var`` (``chrom``, ``start``, ``end``) or ``chrN:start-end`` peak names.
    distance
        Window half-width in base pairs for ``gene_coords``.
    normalize_rna
        Log-normalise ``rna`` (set ``False`` when it is already normalised).
    binarize_atac
        Binarise ``atac`` (set ``False`` for continuous values such as imputed accessibility).

    Returns
    -------
    table
        One row per link: ``gene``, ``peak`` (names, or indices for plain matrices) and ``r``
        (NaN when the gene or the peak is constant across cells).
    summary
        ``mean``, ``sd`` and ``n`` of the finite correlations, and ``n_constant`` (NaN links).
    """
    x, gene_names = _matrix_and_names(rna, "rna")
    y, peak_names = _matrix_and_names(atac, "atac")
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError("`rna` and `atac` must be 2-D (cells x features).")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"`rna` has {x.shape[0]} cells but `atac` has {y.shape[0]}; "
            "row c of each must be the same cell."
        )
    if x.shape[0] < 3:
        raise ValueError("Correlations need at least 3 cells.")
    if normalize_rna:
        check_counts(x, "rna")
    else:
        check_finite(x, "rna")
    check_finite(y, "atac")
    if (links is None) == (gene_coords is None):
        raise ValueError("Give exactly one of `links` (genes x peaks) or `gene_coords`.")
    if links is not None:
        if not (sp.issparse(links) or isinstance(links, np.ndarray)):
            raise TypeError("`links` must be a genes x peaks numpy array or scipy sparse matrix.")
        if links.shape != (x.shape[1], y.shape[1]):
            raise ValueError(
                f"`links` must be genes x peaks = {(x.shape[1], y.shape[1])}; got {links.shape}."
            )
        coo = sp.coo_matrix(links)
        keep = coo.data != 0
        gene_idx, peak_idx = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
    else:
        if gene_names is None:
            raise ValueError("`gene_coords` needs gene names: pass `rna` as an AnnData.")
        peaks = _parse_peaks(atac, peak_names)
        gene_idx, peak_idx = _links_from_coords(gene_coords, gene_names, peaks, distance)
    if gene_idx.size == 0:
        raise ValueError("No gene-peak links to correlate (empty `links` or no peak near any TSS).")

    x = log_normalise(x) if normalize_rna else _as_float(x)
    y = binarise(y) if binarize_atac else _as_float(y)
    n = x.shape[0]
    sum_x, sq_x = _column_moments(x)
    sum_y, sq_y = _column_moments(y)
    cross = _paired_column_products(x, y, gene_idx, peak_idx)
    cov = n * cross - sum_x[gene_idx] * sum_y[peak_idx]
    var_x = n * sq_x[gene_idx] - sum_x[gene_idx] ** 2
    var_y = n * sq_y[peak_idx] - sum_y[peak_idx] ** 2
    denom = np.sqrt(np.clip(var_x, 0, None) * np.clip(var_y, 0, None))
    # Relative threshold: a variance that is rounding noise means a constant column.
    constant = (var_x <= 1e-12 * np.maximum(1.0, sum_x[gene_idx] ** 2)) | (
        var_y <= 1e-12 * np.maximum(1.0, sum_y[peak_idx] ** 2)
    )
    r = np.full(gene_idx.size, np.nan)
    r[~constant] = np.clip(cov[~constant] / denom[~constant], -1.0, 1.0)
    table = pd.DataFrame(
        {
            "gene": gene_names[gene_idx] if gene_names is not None else gene_idx,
            "peak": peak_names[peak_idx] if peak_names is not None else peak_idx,
            "r": r,
        }
    )
    return table, _summary(r)


def _summary(r: np.ndarray) -> dict[str, float]:
    finite = r[np.isfinite(r)]
    return {
        "mean": float(finite.mean()) if finite.size else float("nan"),
        "sd": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        "n": float(finite.size),
        "n_constant": float(r.size - finite.size),
    }


def _correlation_values(values: object, argname: str) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        if "r" not in values:
            raise KeyError(
                f"`{argname}` DataFrame has no 'r' column (use gene_peak_correlation output)."
            )
        values = values["r"]
    r = np.asarray(values, dtype=np.float64).ravel()
    r = r[np.isfinite(r)]
    if r.size < 2:
        raise ValueError(f"`{argname}` holds fewer than 2 finite correlations.")
    return r


def compare_correlations(real: object, generated: object) -> dict[str, float]:
    """Compare a generated gene-peak correlation distribution with the real one.

    Parameters
    ----------
    real, generated
        Tables from :func:`gene_peak_correlation` or arrays of correlations (NaN ignored).

    Returns
    -------
    dict
        ``ks`` and ``ks_pvalue`` (two-sample Kolmogorov-Smirnov), ``mean_diff`` and ``sd_diff``
        (generated minus real) and, when both are tables over the same links, ``link_r``: the
        Pearson correlation of the per-link correlations.
    """
    r_real = _correlation_values(real, "real")
    r_gen = _correlation_values(generated, "generated")
    ks = stats.ks_2samp(r_real, r_gen)
    out = {
        "ks": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "mean_diff": float(r_gen.mean() - r_real.mean()),
        "sd_diff": float(r_gen.std(ddof=1) - r_real.std(ddof=1)),
    }
    if (
        isinstance(real, pd.DataFrame)
        and isinstance(generated, pd.DataFrame)
        and len(real) == len(generated)
        and (real["gene"].to_numpy() == generated["gene"].to_numpy()).all()
        and (real["peak"].to_numpy() == generated["peak"].to_numpy()).all()
    ):
        both = np.isfinite(real["r"].to_numpy()) & np.isfinite(generated["r"].to_numpy())
        if both.sum() > 2:
            out["link_r"] = float(
                np.corrcoef(real["r"].to_numpy()[both], generated["r"].to_numpy()[both])[0, 1]
            )
    return out


__getattr__ = moved("scpairing.metrics", {"impute_knn": "scpairing.evaluation"})
