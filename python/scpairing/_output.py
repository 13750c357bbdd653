"""Paired MuData outputs: unique feature names across modalities, and quiet mudata I/O."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# Modalities whose names are kept first when feature names collide.
_PRIORITY = ("rna", "atac", "protein", "other")


def unique_var_names(mods: Mapping[str, Any]) -> dict[str, str]:
    """Make feature names unique across the modalities of a paired output, in place.

    A MuData's global ``var_names`` are its modalities' names side by side, so a protein
    ``CD4`` next to the gene ``CD4`` is ambiguous (mudata warns "var_names are not unique").
    Every modality whose names overlap those of a modality before it (in the order rna, atac,
    protein, other) gets *all* its names prefixed with ``"<modality>:"`` (mudata's own convention,
    e.g. ``protein:CD4``), its original names kept in ``var["source_name"]``. RNA names are never
    changed, and a modality without overlap keeps its names.

    Returns
    -------
    dict
        ``{modality: note}`` for each renamed modality (for ``uns["scpairing"]``).
    """
    order = sorted(mods, key=lambda m: _PRIORITY.index(m) if m in _PRIORITY else len(_PRIORITY))
    seen: set[str] = set()
    renamed: dict[str, str] = {}
    for name in order:
        adata = mods[name]
        names = adata.var_names.astype(str)
        overlap = seen.intersection(names)
        if overlap:
            example = sorted(overlap)[0]
            adata.var["source_name"] = names.to_numpy()
            adata.var_names = [f"{name}:{v}" for v in names]
            renamed[name] = (
                f"{len(overlap)} of its names are also names of another modality (e.g. "
                f"{example!r}), so all are prefixed '{name}:'; originals in var['source_name']"
            )
            names = adata.var_names
        seen.update(names)
    return renamed


@contextlib.contextmanager
def quiet_mudata() -> Iterator[None]:
    """mudata's future behaviour (``pull_on_update=False``) and no FutureWarning about it, for
    this block only: no global option or warning filter is changed."""
    import mudata

    with mudata.set_options(pull_on_update=False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mudata(\.|$)")
        yield


def write_h5mu(mdata: Any, path: str | Path) -> None:
    """Write a MuData without mudata's FutureWarnings."""
    with quiet_mudata():
        mdata.write(path)


def read_h5mu(path: str | Path) -> Any:
    """Read a MuData (as written by scpairing) without mudata's FutureWarnings."""
    import mudata

    with quiet_mudata():
        return mudata.read_h5mu(path)
