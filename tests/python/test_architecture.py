"""The package's stages import only downwards (docs/architecture.md): no cycle, no upward import."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "scpairing"

# Each unit is a top-level module or subpackage of scpairing; a unit may import only units on
# lower floors (function-level imports included).
FLOORS = [
    {"_validate", "_device", "_counts", "_peaks", "_compat", "_stages"},
    {"_confidence", "_output", "pp", "metrics", "datasets", "pl"},
    {"model", "pairing"},
    {"bridge"},
    {"evaluation", "io"},
    {"cli", "__init__", "train", "report"},
    {"__main__"},
]
FLOOR_OF = {unit: level for level, units in enumerate(FLOORS) for unit in units}


def _unit(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_units(path: Path) -> set[str]:
    """Units of scpairing that the file at ``path`` imports (relative or absolute)."""
    package_parts = path.relative_to(PACKAGE).parent.parts
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if target else [[alias.name] for alias in node.names]
            elif node.module and node.module.split(".")[0] == "scpairing":
                names = [node.module.split(".")[1:]] or []
            else:
                continue
            for parts in names:
                if parts:
                    units.add(parts[0])
                else:
                    units.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "scpairing" and len(parts) > 1:
                    units.add(parts[1])
    return units


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        graph.setdefault(unit, set()).update(_imported_units(path) - {unit})
    return graph


def test_every_unit_has_a_floor():
    assert set(_graph()) <= set(FLOOR_OF), sorted(set(_graph()) - set(FLOOR_OF))


@pytest.mark.parametrize("unit", sorted(FLOOR_OF))
def test_imports_go_down_only(unit):
    graph = _graph()
    upward = sorted(u for u in graph.get(unit, ()) if FLOOR_OF.get(u, -1) >= FLOOR_OF[unit])
    assert not upward, f"{unit} (floor {FLOOR_OF[unit]}) imports {upward}"


def test_the_check_sees_imports():
    graph = _graph()
    assert {"pairing", "_confidence", "_validate"} <= graph["bridge"]
    assert {"bridge", "model", "pairing"} <= graph["evaluation"]  # function-level imports
    assert {"_validate", "pp", "_device"} <= graph["model"]


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("scpairing.train", "TrainConfig", "scpairing.model"),
        ("scpairing.train", "LossWeights", "scpairing.model"),
        ("scpairing.report", "evaluate_held_out", "scpairing.evaluation"),
        ("scpairing.report", "format_table", "scpairing.evaluation"),
        ("scpairing.report", "headline", "scpairing.evaluation"),
        ("scpairing.report", "missing_reasons", "scpairing.evaluation"),
        ("scpairing.metrics", "impute_knn", "scpairing.evaluation"),
        ("scpairing.datasets", "bridge_query_split", "scpairing.evaluation"),
    ],
)
def test_old_import_paths_still_work_for_one_release(old, name, new):
    import importlib

    with pytest.warns(FutureWarning, match=f"moved to `{new}.{name}`"):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)


def test_unknown_names_of_an_old_module_are_attribute_errors():
    import scpairing.train

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        scpairing.train.nothing  # noqa: B018
