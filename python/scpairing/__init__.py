"""scpairing: integrate single-cell multiomics data and generate artificial multiomics data."""

from . import datasets, metrics, pl, pp
from .model import ScPairing

__version__ = "0.1.0"
__all__ = ["ScPairing", "datasets", "metrics", "pl", "pp"]
