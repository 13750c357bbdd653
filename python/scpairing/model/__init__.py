"""The model stage: the user class, its file format, the torch module that owns its loss, the
loss terms and the training loop."""

from ._losses import LossWeights
from ._module import CLIPVAE
from ._scpairing import MIN_CELLS, ScPairing
from ._train import TrainConfig

__all__ = ["CLIPVAE", "MIN_CELLS", "LossWeights", "ScPairing", "TrainConfig"]
