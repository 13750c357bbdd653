"""Old home of :class:`~scpairing.model.TrainConfig` and :class:`~scpairing.model.LossWeights`
(now in :mod:`scpairing.model`); kept for one release."""

from ._compat import moved

__getattr__ = moved(
    "scpairing.train", {"TrainConfig": "scpairing.model", "LossWeights": "scpairing.model"}
)
