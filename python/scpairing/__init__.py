"""scpairing: integrate single-cell multiomics data and generate artificial multiomics data."""

from . import datasets, io, metrics, pl, pp
from .model import ScPairing
from .pairing import Pairing, bridge_pair, pair

__version__ = "0.1.0"
__all__ = ["Pairing", "ScPairing", "bridge_pair", "datasets", "io", "metrics", "pair", "pl", "pp"]
