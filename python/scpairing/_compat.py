"""Old import paths kept for one release (0.2) after the 0.2 layout moved them."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping


def moved(old_module: str, new_homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` serving names that moved, with a ``FutureWarning``.

    Parameters
    ----------
    old_module
        Dotted name of the module the names used to live in.
    new_homes
        ``{name: dotted name of the module it lives in now}``; imported on first use, so an old
        module may point at a module above it without an import cycle.
    """

    def __getattr__(name: str) -> object:
        if name not in new_homes:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        home = new_homes[name]
        warnings.warn(
            f"`{old_module}.{name}` moved to `{home}.{name}`; the old name will be removed in "
            "scpairing 0.3.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)

    return __getattr__
