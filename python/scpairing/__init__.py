"""scpairing: integrate single-cell multiomics data and generate artificial multiomics data."""

from . import datasets, io, metrics, pl, pp
from .bridge import QueryPairing, bridge_pair, pair_queries
from .model import ScPairing
from .pairing import Pairing, pair

__version__ = "0.1.0"
__all__ = [
    "Pairing",
    "QueryPairing",
    "ScPairing",
    "bridge_pair",
    "pair_queries",
    "datasets",
    "io",
    "metrics",
    "pair",
    "pl",
    "pp",
]
