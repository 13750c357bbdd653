"""The pairing stage: one-to-one maximum-weight matching of embedded cells (:func:`pair`,
:func:`pair_three`), the auction solver and the cluster index it searches."""

from ._pair import METHODS, Pairing, pair, pair_three

__all__ = ["METHODS", "Pairing", "pair", "pair_three"]
