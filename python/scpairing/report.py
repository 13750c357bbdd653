"""Old home of the held-out evaluation (now :mod:`scpairing.evaluation`); kept for one release."""

from ._compat import moved

__getattr__ = moved(
    "scpairing.report",
    {
        name: "scpairing.evaluation"
        for name in (
            "evaluate_held_out",
            "format_table",
            "headline",
            "missing_reasons",
        )
    },
)
