"""Seurat ``.rds`` files from Python: :func:`read_seurat` and :func:`write_seurat`.

R runs inside this process through rpy2; sparse counts cross with anndata2ri's ``scipy2ri``
converter (dgCMatrix <-> scipy CSC, no dense copy), tables with rpy2's pandas converter. The
Seurat layout is built by the scPairing R package's own code (``R/io.R``), the code
``PairCells()`` builds its result with, so a paired object written from Python has the layout of
one made in R. Nothing here imports rpy2 until one of these functions is called.

Install with ``pip install "scpairing[r]"`` (rpy2, anndata2ri); R needs SeuratObject and the
scPairing R package (``R CMD INSTALL`` of an scpairing checkout, or ``make setup-r``, which
installs it into the checkout's ``.Rlib``; that library is found without setting ``R_LIBS``).

One caution: reticulate must not start Python inside the R that rpy2 embeds (the scPairing R
functions that train or pair do); reticulate's finalizers then crash the process at exit. Run
``RunScPairing()``/``PairCells()`` in a separate R process, or use the Python API here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["read_seurat", "write_seurat"]

# Assay name (lower case) -> modality, and modality -> the assay name written.
_MODALITY_OF_ASSAY = {
    "rna": "rna",
    "peaks": "atac",
    "atac": "atac",
    "chromatin": "atac",
    "adt": "protein",
    "protein": "protein",
}
_ASSAY_OF_MODALITY = {"rna": "RNA", "atac": "peaks", "protein": "ADT"}
# Seurat reduction -> varm key of its feature loadings (scanpy's and muon's names).
_LOADINGS_KEY = {"pca": "PCs", "lsi": "LSI"}
# Misc() entries of PairCells() output <-> MuData.uns keys of bridge_pair() output.
_MISC_OF_UNS = {"unpaired": "scPairing_unpaired", "scpairing": "scPairing_pairing"}
_UNS_OF_MISC = {v: k for k, v in _MISC_OF_UNS.items()}
_INSTALL_HINT = 'pip install "scpairing[r]"'

_STATE: dict[str, Any] = {}


# --------------------------------------------------------------------------------------------
# R session
# --------------------------------------------------------------------------------------------


def _checkout_rlib() -> Path | None:
    """The ``.Rlib`` that ``make setup-r`` fills in a checkout holding this package, if any."""
    candidate = Path(__file__).resolve().parents[2] / ".Rlib"
    return candidate if (candidate / "scPairing").is_dir() else None


def _r() -> dict[str, Any]:
    """Start R through rpy2 once; return the converter and the R functions used here."""
    if _STATE:
        return _STATE
    try:
        import rpy2  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"scpairing.io needs rpy2 and anndata2ri (R from Python): {_INSTALL_HINT}."
        ) from err
    try:
        from anndata2ri import scipy2ri
    except ImportError as err:
        raise ImportError(
            f"scpairing.io needs anndata2ri for sparse matrices: {_INSTALL_HINT}."
        ) from err
    if not os.environ.get("R_HOME") and shutil.which("R") is None:
        raise RuntimeError(
            "scpairing.io: R was not found (no `R` on PATH and R_HOME unset). Install R >= 4.2 "
            "with Seurat (Debian: `apt-get install r-base-core r-cran-seurat "
            "r-cran-seuratobject`) or set R_HOME to the R installation."
        )
    try:
        import rpy2.robjects as ro
        from rpy2.robjects import numpy2ri, pandas2ri
    except Exception as err:  # rpy2 raises several kinds when R cannot be embedded
        raise RuntimeError(
            f"scpairing.io: rpy2 could not start R ({type(err).__name__}: {err}). Check that R "
            "is installed and R_HOME points at it; rpy2 3.5.x works with R 4.2."
        ) from err
    with _default(ro):
        rlib = _checkout_rlib()
        if rlib is not None:
            ro.r(".libPaths")(ro.StrVector([str(rlib), *ro.r(".libPaths()")]))
        available = ro.r("function(p) vapply(p, requireNamespace, logical(1), quietly = TRUE)")(
            ro.StrVector(["Matrix", "SeuratObject", "scPairing"])
        )
        needed = ["Matrix", "SeuratObject", "scPairing"]
        missing = [p for p, ok in zip(needed, available, strict=True) if not ok]
    if "Matrix" in missing or "SeuratObject" in missing:
        raise RuntimeError(
            f"scpairing.io: the R package(s) {', '.join(missing)} are not installed in R "
            f"(library paths: {list(ro.r('.libPaths()'))}). Install them: Debian "
            "`apt-get install r-cran-seuratobject r-cran-matrix` (or `make setup-r` in the "
            'checkout), elsewhere install.packages(c("Matrix", "SeuratObject")).'
        )
    if "scPairing" in missing:
        raise RuntimeError(
            "scpairing.io: the scPairing R package is not installed in R (library paths: "
            f"{list(ro.r('.libPaths()'))}). Install it from an scpairing checkout with "
            "`R CMD INSTALL .` (or `make setup-r`, then set R_LIBS=<checkout>/.Rlib)."
        )
    # pandas2ri last: scipy2ri carries numpy2ri's rules, which would turn factors into codes.
    converter = ro.default_converter + numpy2ri.converter + scipy2ri.converter
    converter += pandas2ri.converter
    fn = {
        name: ro.r(f"scPairing:::{name}")
        for name in (".seurat_parts", ".build_seurat", ".model_record")
    }
    fn["readRDS"] = ro.r("readRDS")
    fn["saveRDS"] = ro.r("saveRDS")
    fn["StandardizePeakNames"] = ro.r("scPairing::StandardizePeakNames")
    fn["dimnames"] = ro.r("function(x, rows, cols) { dimnames(x) <- list(rows, cols); x }")
    _STATE.update(ro=ro, converter=converter, fn=fn)
    return _STATE


class _default:
    """``with _default(ro):`` runs R calls with rpy2's default (no-op) conversion."""

    def __init__(self, ro):
        from rpy2.robjects.conversion import localconverter

        self._cm = localconverter(ro.default_converter)

    def __enter__(self):
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _py(x: Any) -> Any:
    """An R object as numpy / scipy / pandas (the anndata2ri + pandas + numpy converter)."""
    from rpy2.robjects.conversion import localconverter

    state = _r()
    with localconverter(state["converter"]) as cv:
        return cv.rpy2py(x)


def _frame(x: Any) -> pd.DataFrame:
    """An R data.frame as pandas, with R's NA as None (NaN in integer columns)."""
    import rpy2.rinterface as ri

    frame = _py(x)
    na = (ri.NA_Logical, ri.NA_Character, ri.NA_Integer, ri.NA_Real)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == np.int32 and (values == np.iinfo(np.int32).min).any():
            frame[column] = values.where(values != np.iinfo(np.int32).min).astype(float)
        elif values.dtype == object:
            frame[column] = values.map(lambda v: None if any(v is n for n in na) else v)
    return frame


def _rpy(x: Any) -> Any:
    from rpy2.robjects.conversion import localconverter

    state = _r()
    with localconverter(state["converter"]) as cv:
        return cv.py2rpy(x)


def _get(rlist: Any, name: str) -> Any:
    """Element ``name`` of an R list, or None when absent or NULL."""
    import rpy2.rinterface as ri

    names = rlist.names
    if names is ri.NULL or name not in list(names):
        return None
    value = rlist.rx2(name)
    return None if value is ri.NULL else value


def _names(rlist: Any) -> list[str]:
    import rpy2.rinterface as ri

    names = rlist.names
    return [] if names is ri.NULL else [str(n) for n in names]


def _strings(x: Any) -> list[str]:
    return [] if x is None else [str(v) for v in x]


def _check_path(path: str | os.PathLike, argname: str, *, exists: bool) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`{argname}` must be a file path; got {type(path).__name__}.")
    path = Path(path)
    if exists and not path.is_file():
        raise FileNotFoundError(f"`{argname}`: no such file: '{path}'.")
    if not exists:
        if path.is_dir():
            raise IsADirectoryError(f"`{argname}` is a directory ('{path}'); give a file name.")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"`{argname}`: the directory '{path.parent}' does not exist.")
    return path


# --------------------------------------------------------------------------------------------
# misc <-> uns
# --------------------------------------------------------------------------------------------


def _misc_to_py(x: Any) -> tuple[bool, Any]:
    """(converted, value) of plain R data: vectors, named/unnamed lists, data frames."""
    import rpy2.rinterface as ri
    import rpy2.robjects as ro

    if x is ri.NULL:
        return True, None
    rclass = list(x.rclass) if hasattr(x, "rclass") else []
    if isinstance(x, ro.DataFrame) or "data.frame" in rclass:
        return True, _frame(x)
    if "factor" in rclass:
        return True, [str(v) for v in ro.r("as.character")(x)]
    if isinstance(x, ro.ListVector | ri.ListSexpVector) and rclass in (["list"], []):
        items = [_misc_to_py(v) for v in x]
        if not all(ok for ok, _ in items):
            return False, None
        names = _names(x)
        if names and all(names) and len(set(names)) == len(names):
            return True, {n: v for n, (_, v) in zip(names, items, strict=True)}
        return True, [v for _, v in items]
    if isinstance(x, ro.StrVector | ro.IntVector | ro.FloatVector | ro.BoolVector):
        if "matrix" in rclass or "array" in rclass:
            return True, np.array(_py(x), copy=True)
        values = [None if v is ri.NA_Character else v for v in x]
        if isinstance(x, ro.StrVector):
            values = [None if v is None else str(v) for v in values]
        names = _names(x)
        if names and all(names) and len(set(names)) == len(names):
            return True, dict(zip(names, values, strict=True))
        return True, values[0] if len(values) == 1 else values
    return False, None


def _uns_to_r(value: Any, where: str) -> Any:
    """Plain Python data as R; None for what has no R counterpart (with a warning)."""
    import rpy2.rinterface as ri
    import rpy2.robjects as ro

    if value is None:
        return ri.NULL
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            converted = _uns_to_r(item, f"{where}[{key!r}]")
            if converted is not None:
                out[str(key)] = converted
        return ro.ListVector(out) if out else ro.r("list()")
    if isinstance(value, pd.DataFrame):
        return _rpy(value)
    if isinstance(value, str | bool | int | float | np.generic):
        value = [value]
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype.kind in "biuf":
        return _rpy(np.asarray(value, dtype=float if value.dtype.kind == "f" else value.dtype))
    if isinstance(value, list | tuple | np.ndarray | pd.Index):
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if all(isinstance(v, str | np.str_) for v in values):
            return ro.StrVector([str(v) for v in values])
        if all(isinstance(v, bool | np.bool_) for v in values):
            return ro.BoolVector(values)
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
            if all(abs(int(v)) < 2**31 for v in values):
                return ro.IntVector([int(v) for v in values])
        if all(isinstance(v, int | float | np.integer | np.floating) for v in values):
            return ro.FloatVector([float(v) for v in values])
        items = [_uns_to_r(v, f"{where}[{i}]") for i, v in enumerate(values)]
        if all(item is not None for item in items):
            return ro.r("list")(*items)
    warnings.warn(
        f"write_seurat: {where} ({type(value).__name__}) has no R counterpart; not written.",
        stacklevel=3,
    )
    return None


# --------------------------------------------------------------------------------------------
# read
# --------------------------------------------------------------------------------------------


def read_seurat(path: str | os.PathLike, *, modalities: Mapping[str, str] | None = None) -> Any:
    """Read a Seurat object saved with ``saveRDS()`` into a MuData.

    Parameters
    ----------
    path
        An ``.rds`` file holding one Seurat object (SeuratObject 4; SeuratObject 5 layers are
        read through ``LayerData``).
    modalities
        ``{assay: modality}`` naming the MuData modality of each assay. By default ``RNA`` ->
        ``"rna"``, ``peaks``/``ATAC``/``chromatin`` -> ``"atac"``, ``ADT``/``protein`` ->
        ``"protein"`` (case-insensitive, first assay wins); other assays keep their name.

    Returns
    -------
    mudata.MuData
        One modality per assay with counts: ``X`` holds the counts (cells x features, float32
        CSR), ``layers["data"]`` the assay's ``data`` when it differs from the counts, ``var``
        the feature metadata. The Seurat metadata is ``mdata.obs`` and each modality's ``obs``
        (so ``ScPairing(..., batch_key=)`` sees it). Each reduction goes to the ``obsm`` of the
        modality of its assay as ``X_<name>`` (``mdata.obsm`` when its assay was not read) and
        its feature loadings to ``varm`` (``"PCs"`` for ``pca``, ``"LSI"`` for ``lsi``, else
        ``"X_<name>"``; features without loadings hold 0). ``uns`` holds ``Misc()``'s plain
        entries (``scPairing_unpaired`` -> ``"unpaired"``, ``scPairing_pairing`` ->
        ``"scpairing"``) and ``uns["seurat"]`` what :func:`write_seurat` needs to write the
        same object back (assay names, reduction keys, loaded features, standard deviations).

    Examples
    --------
    >>> bridge = scp.io.read_seurat("bridge.rds")  # doctest: +SKIP
    >>> model = scp.ScPairing(bridge, reductions={"rna": "X_pca"})  # doctest: +SKIP
    """
    import mudata as md

    path = _check_path(path, "path", exists=True)
    if modalities is not None and not isinstance(modalities, Mapping):
        raise TypeError("`modalities` must be None or a dict {assay: modality}.")
    ro = _r()["ro"]
    parts = _read_seurat_parts(path)
    meta = _frame(_get(parts, "meta"))
    cells = pd.Index([str(c) for c in meta.index])
    meta.index = cells
    assays = _get(parts, "assays")
    mod_of = _modality_of_assays(_names(assays), modalities)
    mods = {name: _read_assay(_get(assays, assay), meta, ro) for assay, name in mod_of.items()}
    reductions_record, global_obsm = _read_reductions(
        _get(parts, "reductions"), cells, mod_of, mods
    )
    uns, skipped = _read_misc(_get(parts, "misc"))

    state_random = __import__("random").getstate()
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(mods)
    __import__("random").setstate(state_random)
    mdata.obs = meta.copy()
    for key, value in global_obsm.items():
        mdata.obsm[key] = value
    mdata.uns.update(uns)
    mdata.uns["seurat"] = {
        "assays": {name: assay for assay, name in mod_of.items()},
        "default_assay": str(_get(parts, "default.assay")[0]),
        "reductions": reductions_record,
        "skipped_assays": _strings(_get(parts, "skipped")),
        "skipped_misc": skipped,
    }
    return mdata


def _read_seurat_parts(path: Path) -> Any:
    """The plain parts (R list) of the Seurat object saved at ``path``."""
    state = _r()
    ro, fn = state["ro"], state["fn"]
    with _default(ro):
        try:
            obj = fn["readRDS"](str(path))
        except Exception as err:
            raise ValueError(f"`path`: R could not read '{path}' ({err}).") from err
        if "Seurat" not in list(obj.rclass):
            raise TypeError(
                f"`path`: '{path}' holds an R object of class {'/'.join(obj.rclass)}, "
                "not a Seurat object."
            )
        return fn[".seurat_parts"](obj)


def _modality_of_assays(
    assays: Sequence[str], modalities: Mapping[str, str] | None
) -> dict[str, str]:
    """``{assay: modality}``: as given, else by the default names (see :func:`read_seurat`)."""
    mod_of: dict[str, str] = {}
    for assay in assays:
        if modalities is not None and assay in modalities:
            name = str(modalities[assay])
        else:
            name = _MODALITY_OF_ASSAY.get(assay.lower(), assay)
            if name in mod_of.values():
                name = assay
        if name in mod_of.values():
            raise ValueError(f"`modalities`: two assays map to the modality {name!r}.")
        mod_of[assay] = name
    return mod_of


def _read_assay(parts: Any, meta: pd.DataFrame, ro: Any) -> ad.AnnData:
    """One assay's counts (``X``), ``data`` (layer) and feature table (``var``)."""
    counts = _get(parts, "counts")
    features = [str(f) for f in ro.r("rownames")(counts)]
    x = sp.csr_matrix(_py(counts).T, dtype=np.float32)
    table = _get(parts, "features")
    var = _frame(table) if table is not None else pd.DataFrame()
    if len(var) != len(features):
        var = pd.DataFrame(index=features)
    var.index = pd.Index(features)
    adata = ad.AnnData(X=x, obs=meta.copy(), var=var)
    data = _get(parts, "data")
    if data is not None:
        adata.layers["data"] = sp.csr_matrix(_py(data).T, dtype=np.float32)
    return adata


def _read_reductions(
    reductions: Any, cells: pd.Index, mod_of: Mapping[str, str], mods: Mapping[str, ad.AnnData]
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Each reduction into its assay's modality (``obsm``, loadings in ``varm``), or into the
    returned global ``obsm``; and the record :func:`write_seurat` needs to write it back."""
    ro = _r()["ro"]
    records: dict[str, dict[str, Any]] = {}
    global_obsm: dict[str, np.ndarray] = {}
    for red in _names(reductions):
        parts = _get(reductions, red)
        emb_r = _get(parts, "embeddings")
        embeddings = np.array(_py(emb_r), dtype=np.float64)
        emb_cells = [str(c) for c in ro.r("rownames")(emb_r)]
        if emb_cells != list(cells):
            order = pd.Index(emb_cells).get_indexer(cells)
            if (order < 0).any():
                warnings.warn(
                    f"read_seurat: reduction {red!r} lacks some cells; not read.", stacklevel=3
                )
                continue
            embeddings = embeddings[order]
        assay = str(_get(parts, "assay")[0]) if _get(parts, "assay") is not None else ""
        record: dict[str, Any] = {"key": str(_get(parts, "key")[0]), "assay": assay}
        stdev = _get(parts, "stdev")
        if stdev is not None:
            # Copies: np.asarray() of an R vector is a view into memory R may free.
            record["stdev"] = np.array(list(stdev), dtype=np.float64)
        key = f"X_{red}"
        if assay in mod_of:
            adata = mods[mod_of[assay]]
            adata.obsm[key] = embeddings
            loadings = _get(parts, "loadings")
            if loadings is not None:
                record.update(_read_loadings(adata, loadings, _LOADINGS_KEY.get(red, key), ro))
            record["modality"] = mod_of[assay]
        else:
            global_obsm[key] = embeddings
        records[red] = record
    return records, global_obsm


def _read_loadings(adata: ad.AnnData, loadings: Any, varm_key: str, ro: Any) -> dict[str, Any]:
    """Feature loadings into ``adata.varm[varm_key]`` (0 for features without); the record."""
    loaded = [str(f) for f in ro.r("rownames")(loadings)]
    index = adata.var_names.get_indexer(loaded)
    keep = index >= 0
    values = np.asarray(_py(loadings), dtype=np.float64)
    full = np.zeros((adata.n_vars, values.shape[1]))
    full[index[keep]] = values[keep]
    adata.varm[varm_key] = full
    return {
        "varm": varm_key,
        "loaded_features": [f for f, k in zip(loaded, keep, strict=True) if k],
    }


def _read_misc(misc: Any) -> tuple[dict[str, Any], list[str]]:
    """``Misc()``'s plain entries by their ``uns`` names, and the names of those skipped."""
    uns: dict[str, Any] = {}
    skipped: list[str] = []
    for key in _names(misc) if misc is not None else []:
        ok, value = _misc_to_py(misc.rx2(key))
        if ok and value is not None:
            uns[_UNS_OF_MISC.get(key, key)] = value
        else:
            skipped.append(key)
    return uns, skipped


# --------------------------------------------------------------------------------------------
# write
# --------------------------------------------------------------------------------------------


def _counts_matrix(adata: ad.AnnData) -> sp.csc_matrix:
    x = adata.layers["counts"] if "counts" in adata.layers else adata.X
    if x is None:
        raise ValueError("has no counts (X is None and there is no layers['counts']).")
    x = sp.csr_matrix(x) if not sp.issparse(x) else x.tocsr()
    return sp.csc_matrix(x.T, dtype=np.float64)


def _meta(mdata: Any) -> pd.DataFrame:
    """mdata.obs, then each modality's own obs columns prefixed ``<modality>_`` (PairCells)."""
    meta = mdata.obs.copy()
    for name, adata in mdata.mod.items():
        for column in adata.obs.columns:
            if column == "source_cell":  # bridge_pair's copy of obs[f"{name}_cell"]
                continue
            values = adata.obs[column]
            if column in meta.columns and values.astype(str).equals(meta[column].astype(str)):
                continue
            meta[f"{name}_{column}"] = values.to_numpy()
    for column in meta.columns:
        series = meta[column]
        if series.dtype == object and not all(isinstance(v, str) for v in series if v is not None):
            meta[column] = series.map(lambda v: None if v is None else str(v))
        elif isinstance(series.dtype, pd.CategoricalDtype):
            meta[column] = series.cat.rename_categories([str(c) for c in series.cat.categories])
    meta.index = mdata.obs_names.astype(str)
    return meta


def _model_record(model: Any, assays: Mapping[str, str]) -> Any:
    """The scPairingModel R keeps in ``Misc(object, "scPairing")``, built without reticulate."""
    import rpy2.rinterface as ri
    import rpy2.robjects as ro

    from . import __version__
    from .model import ScPairing

    if not isinstance(model, ScPairing):
        raise TypeError(f"`model` must be an ScPairing model or None; got {type(model).__name__}.")
    fn = _r()["fn"]
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model.pt")
        data = (Path(tmp) / "model.pt").read_bytes()
    modalities = list(model.modalities)
    reductions = model.reductions
    spec = pd.DataFrame(
        {
            "name": modalities,
            "modality": modalities,
            "assay": [assays.get(m, m) for m in modalities],
            "reduction": [
                reductions[m][2:]
                if isinstance(reductions[m], str) and reductions[m][:2] == "X_"
                else (reductions[m] if isinstance(reductions[m], str) else None)
                for m in modalities
            ],
            "input.dims": np.asarray([model.input_dims[m] for m in modalities], dtype=np.int32),
        }
    )
    spec_r = _rpy(spec)
    spec_r = ro.r(
        "function(s) { s$reduction <- as.character(s$reduction); "
        "s$reduction[s$reduction %in% c('None', '')] <- NA; rownames(s) <- NULL; s }"
    )(spec_r)
    reproducibility = _uns_to_r(dict(getattr(model, "reproducibility", {}) or {}), "model")
    with _default(ro):
        return fn[".model_record"](
            ro.vectors.ByteVector(data),
            spec_r,
            ri.NULL if model.batch_key is None else ro.StrVector([model.batch_key]),
            ro.IntVector([int(model.latent_dim)]),
            ro.StrVector([str(model.name)]),
            ro.StrVector([__version__]),
            reproducibility,
        )


def write_seurat(
    mdata: Any,
    path: str | os.PathLike,
    *,
    model: Any = None,
    project: str = "scPairing",
    idents: str | None = None,
) -> Path:
    """Write a MuData as a Seurat object (``saveRDS``), in the layout ``PairCells()`` writes.

    Parameters
    ----------
    mdata
        A MuData whose modalities hold the same cells in the same order: the output of
        :func:`scpairing.bridge_pair` or of :func:`read_seurat`.
    path
        The ``.rds`` file to write.
    model
        The :class:`scpairing.ScPairing` model that paired the cells, optional. It is stored in
        ``Misc(object, "scPairing")`` as ``PairCells()`` stores it (so
        ``GetScPairingModel(object)`` works in R), and each modality's embedding becomes the
        reduction ``scpairing.<modality>`` unless the MuData already carries
        ``obsm["X_scpairing.<modality>"]``.
    project
        The Seurat project name; also every cell's ``orig.ident``.
    idents
        A column of the written metadata (``mdata.obs`` or a modality's prefixed column,
        e.g. ``"rna_cell_type"``) to set as the cells' identities (``Idents()``), as
        ``PairCells()`` sets them from the RNA query's; by default the project name.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    Assays: ``rna`` -> ``RNA``, ``atac`` -> ``peaks`` (peaks renamed ``chr-start-end``, a
    Signac ``ChromatinAssay`` when Signac is installed), ``protein`` -> ``ADT``, other
    modalities keep their name (names recorded by :func:`read_seurat` take precedence). The
    counts are ``layers["counts"]`` when present, else ``X``; ``layers["data"]`` becomes the
    assay's ``data``. Metadata: ``mdata.obs`` (``rna_cell``, ``atac_cell``, ``similarity``,
    ``confidence`` of a pairing), then each modality's other ``obs`` columns prefixed
    ``<modality>_`` as ``PairCells()`` writes the queries' metadata. ``obsm`` entries become
    reductions (``X_pca`` -> ``pca``) with their ``varm`` loadings; ``uns["unpaired"]`` ->
    ``Misc(object, "scPairing_unpaired")``, ``uns["scpairing"]`` ->
    ``Misc(object, "scPairing_pairing")``, other plain ``uns`` entries by name.
    """
    import rpy2.rinterface as ri

    _check_seurat_cells(mdata)
    path = _check_path(path, "path", exists=False)
    if not isinstance(project, str) or not project:
        raise TypeError("`project` must be a non-empty string.")
    meta_frame = _meta(mdata)
    if idents is not None and not isinstance(idents, str):
        raise TypeError(f"`idents` must be a metadata column name or None; got {idents!r}.")
    if idents is not None and idents not in meta_frame.columns:
        raise KeyError(
            f"`idents`: {idents!r} is not a metadata column; columns: {list(meta_frame.columns)}."
        )
    state = _r()
    ro, fn = state["ro"], state["fn"]
    record = dict(mdata.uns.get("seurat", {}) or {})
    assay_of = {
        name: str(dict(record.get("assays", {})).get(name, _ASSAY_OF_MODALITY.get(name, name)))
        for name in mdata.mod
    }
    # The default assay comes first: the recorded one, else RNA, else the first modality.
    order = list(mdata.mod)
    default = str(record.get("default_assay", "RNA"))
    first = [m for m in order if assay_of[m] == default][:1] or order[:1]
    order = first + [m for m in order if m not in first]
    counts, data, features, peaks = _assay_matrices(mdata, order, assay_of)
    writer = _ReductionWriter(dict(record.get("reductions", {}) or {}), assay_of, order, counts)
    for name in order:
        for key in mdata[name].obsm:
            writer.add(name, key, mdata[name].obsm[key], mdata[name])
    for key in mdata.obsm:
        if key not in mdata.mod:
            writer.add(None, key, mdata.obsm[key], None)
    if model is not None:
        writer.add_embeddings(model, mdata)
    misc = _misc_entries(mdata)
    if model is not None:
        misc["scPairing"] = _model_record(model, assay_of)

    idents_r = ri.NULL if idents is None else ro.StrVector(meta_frame[idents].astype(str).tolist())
    meta = _rpy(meta_frame)
    reductions = writer.reductions
    with _default(ro):
        obj = fn[".build_seurat"](
            counts=ro.ListVector(counts),
            meta=meta,
            reductions=ro.ListVector(reductions) if reductions else ro.r("list()"),
            misc=ro.ListVector(misc) if misc else ro.r("list()"),
            peaks=ro.StrVector(peaks),
            data=ro.ListVector(data) if data else ro.r("list()"),
            features=ro.ListVector(features) if features else ro.r("list()"),
            project=project,
            idents=idents_r,
        )
        fn["saveRDS"](obj, str(path))
    return path


def _check_seurat_cells(mdata: Any) -> None:
    """``mdata`` is a MuData whose modalities hold its unique cells in the same order."""
    import mudata as md

    if not isinstance(mdata, md.MuData):
        raise TypeError(f"`mdata` must be a MuData; got {type(mdata).__name__}.")
    if not mdata.mod:
        raise ValueError("`mdata` has no modalities.")
    cells = mdata.obs_names
    if not cells.is_unique:
        raise ValueError("`mdata` has duplicate cell names; Seurat needs unique cell names.")
    for name, adata in mdata.mod.items():
        if adata.n_obs != len(cells) or not (adata.obs_names == cells).all():
            raise ValueError(
                f"`mdata[{name!r}]` does not hold the MuData's cells in the same order; a Seurat "
                "object keeps every assay on the same cells."
            )


def _assay_matrices(
    mdata: Any, order: Sequence[str], assay_of: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    """Per assay (R objects): counts and data matrices with dimnames, the feature tables; and
    the names of the peak assays."""
    state = _r()
    ro, fn = state["ro"], state["fn"]
    cell_names = ro.StrVector([str(c) for c in mdata.obs_names])
    counts, data, features, peaks = {}, {}, {}, []
    for name in order:
        adata, assay = mdata[name], assay_of[name]
        try:
            x = _counts_matrix(adata)
        except ValueError as err:
            raise ValueError(f"`mdata[{name!r}]` {err}") from err
        feature_names = ro.StrVector([str(f) for f in adata.var_names])
        if name == "atac":
            with _default(ro):
                feature_names = fn["StandardizePeakNames"](feature_names)
            peaks.append(assay)
        with _default(ro):
            counts[assay] = fn["dimnames"](_rpy(x), feature_names, cell_names)
        if "data" in adata.layers:
            y = adata.layers["data"]
            y = sp.csc_matrix((sp.csr_matrix(y) if not sp.issparse(y) else y).T, dtype=np.float64)
            with _default(ro):
                data[assay] = fn["dimnames"](_rpy(y), feature_names, cell_names)
        if adata.var.shape[1]:
            table = adata.var.copy()
            table.index = [str(f) for f in feature_names]
            try:
                features[assay] = _rpy(table)
            except Exception as err:  # a column pandas2ri cannot convert
                warnings.warn(
                    f"write_seurat: mdata[{name!r}].var not written ({err}).", stacklevel=3
                )
    return counts, data, features, peaks


class _ReductionWriter:
    """Collects the R parts of each reduction ``write_seurat`` writes, by reduction name.

    ``record`` is ``uns["seurat"]["reductions"]`` of :func:`read_seurat` (names, keys,
    standard deviations and loaded features to write back as they were read).
    """

    def __init__(
        self,
        record: Mapping[str, Mapping[str, Any]],
        assay_of: Mapping[str, str],
        order: Sequence[str],
        counts: Mapping[str, Any],
    ) -> None:
        self.record = record
        self.by_key = {(r.get("modality"), f"X_{red}"): red for red, r in record.items()}
        self.assay_of, self.order, self.counts = assay_of, order, counts
        self.reductions: dict[str, Any] = {}

    def add(self, name: str | None, key: str, embeddings: Any, adata: ad.AnnData | None) -> None:
        """An ``obsm`` entry of modality ``name`` (None: of the MuData) as a reduction; entries
        that are not numeric matrices are skipped."""
        ro = _r()["ro"]
        if isinstance(embeddings, pd.DataFrame):
            embeddings = embeddings.to_numpy()
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.dtype.kind not in "biuf" or not embeddings.shape[1]:
            return
        red = self.by_key.get((name, key)) or (key[2:] if key.startswith("X_") else key)
        if red in self.reductions:
            red = f"{red}.{name}"
        info = dict(self.record.get(red, {}))
        assay = (
            self.assay_of.get(name)
            if name is not None
            else info.get("assay") or self.assay_of[self.order[0]]
        )
        parts: dict[str, Any] = {
            "embeddings": _rpy(np.ascontiguousarray(embeddings, dtype=np.float64)),
            "assay": ro.StrVector([assay]),
        }
        if "key" in info:
            parts["key"] = ro.StrVector([str(info["key"])])
        if info.get("stdev") is not None and len(np.atleast_1d(info["stdev"])):
            # A list, not an array: rpy2 may keep pointing at a temporary array's buffer.
            parts["stdev"] = ro.FloatVector([float(v) for v in np.atleast_1d(info["stdev"])])
        varm_key = info.get("varm", _LOADINGS_KEY.get(red, key))
        if adata is not None and varm_key in adata.varm:
            loadings = self._loadings(adata, adata.varm[varm_key], embeddings.shape[1], name, info)
            if loadings is not None:
                parts["loadings"] = loadings
                if "key" not in parts:
                    parts["key"] = ro.StrVector([_dimreduc_key(red)])
        with _default(ro):
            self.reductions[red] = ro.ListVector(parts)

    def _loadings(
        self, adata: ad.AnnData, values: Any, width: int, name: str | None, info: Mapping
    ) -> Any:
        """The loadings of the features loaded (all, unless recorded) as an R matrix, or None
        when they do not fit the embeddings' width."""
        import rpy2.rinterface as ri

        state = _r()
        ro, fn = state["ro"], state["fn"]
        loadings = np.asarray(values, dtype=np.float64)
        if loadings.ndim != 2 or loadings.shape[1] != width:
            return None
        names = adata.var_names
        if name == "atac":
            names = pd.Index(list(self.counts[self.assay_of[name]].rownames))
        rows = np.arange(adata.n_vars)
        if "loaded_features" in info:
            rows = adata.var_names.get_indexer(list(info["loaded_features"]))
            rows = rows[rows >= 0]
        with _default(ro):
            return fn["dimnames"](
                _rpy(np.ascontiguousarray(loadings[rows])),
                ro.StrVector([str(n) for n in names[rows]]),
                ri.NULL,
            )

    def add_embeddings(self, model: Any, mdata: Any) -> None:
        """``scpairing.<modality>``: the model's embedding of each modality not already there."""
        ro = _r()["ro"]
        for name in model.modalities:
            red = f"scpairing.{name}"
            if name in mdata.mod and red not in self.reductions:
                z = model.embed(mdata[name], modality=name)
                with _default(ro):
                    self.reductions[red] = ro.ListVector(
                        {
                            "embeddings": _rpy(np.asarray(z, dtype=np.float64)),
                            "assay": ro.StrVector([self.assay_of[name]]),
                        }
                    )


def _misc_entries(mdata: Any) -> dict[str, Any]:
    """The plain ``uns`` entries as R values, by their ``Misc()`` names."""
    misc: dict[str, Any] = {}
    for key, value in mdata.uns.items():
        if key == "seurat":
            continue
        converted = _uns_to_r(value, f"uns[{key!r}]")
        if converted is not None:
            misc[_MISC_OF_UNS.get(key, key)] = converted
    return misc


def _dimreduc_key(name: str) -> str:
    """The key R's ``.dimreduc()`` gives a reduction ``name``."""
    return "".join(ch for ch in name if ch.isascii() and ch.isalnum()) + "_"
