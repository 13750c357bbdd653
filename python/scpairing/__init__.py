"""scpairing: integrate single-cell multiomics data and generate artificial multiomics data."""

from . import datasets, evaluation, io, metrics, pl, pp
from .bridge import QueryPairing, bridge_pair, pair_queries
from .model import ScPairing
from .pairing import Pairing, pair, pair_three

__version__ = "0.1.0"
__all__ = [
    "Pairing",
    "QueryPairing",
    "ScPairing",
    "bridge_pair",
    "pair_queries",
    "datasets",
    "evaluation",
    "io",
    "metrics",
    "pair",
    "pair_three",
    "pl",
    "pp",
]
