"""scpairing: integrate single-cell multiomics data and generate artificial multiomics data."""

from . import datasets

__version__ = "0.1.0"
__all__ = ["datasets"]
