"""scpairing._stages: the per-stage record a run keeps, and when it is open."""

import numpy as np

from scpairing import _stages


def test_stage_without_an_open_record_records_nothing():
    with _stages.stage("alone"):
        pass
    assert _stages.current() is None
    _stages.add_seconds("alone", 1.0)  # no record open: nothing to add to, no error
    assert list(_stages.progress([1, 2], "x")) == [1, 2]


def test_recorded_calls_share_one_record_and_stages_accumulate():
    @_stages.recorded
    def inner(*, progress=False):
        with _stages.stage("b"):
            _ = np.ones(2_000_000)  # 16 MB: raises the peak a little
        return _stages.current()

    @_stages.recorded
    def outer(*, progress=False):
        with _stages.stage("a"):
            pass
        first = inner(progress=progress)
        with _stages.stage("a"):
            pass
        _stages.add_seconds("c", 2.5)
        return first, _stages.current()

    first, record = outer(progress=True)
    assert first is record and record.progress  # the inner call reused the outer record
    stages = record.as_dict()
    assert list(stages) == ["a", "b", "c"]
    assert stages["c"]["seconds"] == 2.5 and np.isnan(stages["c"]["peak_rss_growth_gb"])
    assert all(stages[name]["peak_rss_growth_gb"] >= 0 for name in ("a", "b"))
    assert _stages.current() is None  # closed after the outer call
    stages["a"]["seconds"] = -1.0  # as_dict is a copy
    assert record.as_dict()["a"]["seconds"] >= 0


def test_stages_add_sums_seconds_and_keeps_the_largest_growth():
    record = _stages.Stages()
    record.add("x", 1.0, 0.5)
    record.add("x", 2.0, 0.25)
    record.add("y", 1.0, np.nan)
    assert record.as_dict()["x"] == {"seconds": 3.0, "peak_rss_growth_gb": 0.5}
    assert np.isnan(record.as_dict()["y"]["peak_rss_growth_gb"])


def test_peak_rss_is_known_here():
    assert _stages.peak_rss_gb() > 0
