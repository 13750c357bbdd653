"""The matcher on degenerate input: identical and duplicated cells, ties at the cutoff, d = 1.

Every case is checked against scipy's exact assignment on the same float64 similarities.
"""

import warnings

import numpy as np
import pytest

from scpairing.pairing import pair
from test_pairing import _unit, check_partition, clustered


def _identical(rng, n, m, d):
    v = _unit(rng.normal(size=(1, d)))
    return np.repeat(v, n, 0), np.repeat(v, m, 0)


def _few_points(rng, n, m, d):
    points = _unit(rng.normal(size=(int(rng.integers(1, 6)), d)))
    return points[rng.integers(0, len(points), n)], points[rng.integers(0, len(points), m)]


def _duplicated(rng, n, m, d):
    base = _unit(rng.normal(size=(n // 3 + 1, d)))
    z2 = _unit(base[rng.integers(0, len(base), m)] + 0.3 * rng.normal(size=(m, d)))
    return base[rng.integers(0, len(base), n)], z2


def _near_identical(rng, n, m, d):
    v = _unit(rng.normal(size=(1, d)))
    return _unit(v + 1e-6 * rng.normal(size=(n, d))), _unit(v + 1e-6 * rng.normal(size=(m, d)))


def _shared_ranking(rng, n, m, d):
    # Every row ranks the columns the same way (and vice versa): s_ij ~ 1 + a_i * b_j.
    v = _unit(rng.normal(size=(1, d)))[0]
    e = _unit(rng.normal(size=(2, d)))
    return (
        _unit(v + 1e-3 * rng.normal(size=(n, 1)) * e[0]),
        _unit(v + 1e-3 * rng.normal(size=(m, 1)) * e[1]),
    )


def _one_dimensional(rng, n, m, d):
    return (
        np.sign(rng.normal(size=(n, 1))).astype(np.float32),
        np.sign(rng.normal(size=(m, 1))).astype(np.float32),
    )


def _at_the_cutoff(rng, n, m, d):
    # Angles that are multiples of 60 degrees: many similarities lie exactly at 0.5.
    a1 = rng.choice([0, np.pi / 3, 2 * np.pi / 3, np.pi], size=n)
    a2 = rng.choice([0, np.pi / 3, 2 * np.pi / 3], size=m)
    return (
        np.stack([np.cos(a1), np.sin(a1)], 1).astype(np.float32),
        np.stack([np.cos(a2), np.sin(a2)], 1).astype(np.float32),
    )


GENERATORS = [
    _identical,
    _few_points,
    _duplicated,
    _near_identical,
    _shared_ranking,
    _one_dimensional,
    _at_the_cutoff,
]


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.__name__.strip("_"))
@pytest.mark.parametrize("seed", range(5))
def test_sparse_is_exact_on_degenerate_input(generator, seed):
    rng = np.random.default_rng(seed)
    n, m, d = int(rng.integers(40, 400)), int(rng.integers(40, 400)), int(rng.integers(2, 12))
    z1, z2 = generator(rng, n, m, d)
    cutoff = 0.5 if generator is _at_the_cutoff else float(rng.choice([0.0, 0.5, 0.8, 0.99]))
    exact = pair(z1, z2, cutoff, method="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "stopped before converging", no k-means warning
        sparse = pair(z1, z2, cutoff, method="sparse", block_size=int(rng.choice([2, 10, 100])))
    check_partition(sparse, n, m)
    assert (sparse.similarity >= cutoff).all()
    assert sparse.diagnostics["converged"] == 1.0
    assert sparse.objective == pytest.approx(exact.objective, rel=1e-5, abs=1e-4)
    assert sparse.objective <= sparse.diagnostics["dual_bound"] + 1e-6


@pytest.mark.parametrize("method", ["sparse", "auto"])
def test_thousands_of_identical_cells_are_all_paired(method):
    # The reported failure: 3000 identical cells on each side gave 220 pairs.
    v = _unit(np.random.default_rng(0).normal(size=(1, 10)))
    z = np.repeat(v, 3000, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = pair(z, z.copy(), cutoff=0.5, method=method)
    assert result.method == "sparse"
    assert result.n_pairs == 3000
    assert result.diagnostics["gap"] <= 1e-5


def test_duplicated_and_empty_cells_among_clustered_ones_match_exactly():
    rng = np.random.default_rng(3)
    z1, z2, _, _ = clustered(2500, 2200, seed=3)
    z1[rng.choice(2500, 500, replace=False)] = z1[rng.choice(2500, 500)]  # 20% duplicates
    z2[:400] = z1[0]  # 400 cells at one point (e.g. empty cells)
    exact = pair(z1, z2, 0.8, method="exact")
    sparse = pair(z1, z2, 0.8, method="sparse")
    assert sparse.objective == pytest.approx(exact.objective, rel=1e-5)
    assert abs(sparse.n_pairs - exact.n_pairs) <= 0.001 * exact.n_pairs + 1


def test_result_does_not_depend_on_cell_order():
    rng = np.random.default_rng(1)
    z1, z2 = _few_points(rng, 300, 250, 4)
    first = pair(z1, z2, 0.5, method="sparse")
    perm = rng.permutation(300)
    shuffled = pair(z1[perm], z2, 0.5, method="sparse")
    assert shuffled.objective == pytest.approx(first.objective, rel=1e-9)
    assert shuffled.n_pairs == first.n_pairs


def test_auto_resolves_exactly_when_the_sparse_path_cannot_finish():
    z1, z2, _, _ = clustered(2100, 2100, seed=1)
    exact = pair(z1, z2, 0.8, method="exact")
    with pytest.warns(RuntimeWarning, match="before the matching converged"):
        capped = pair(z1, z2, 0.8, method="sparse", repair_rounds=0)
    assert capped.objective < exact.objective - 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = pair(z1, z2, 0.8, method="auto", repair_rounds=0)
    assert auto.diagnostics["exact_fallbacks"] == 1
    assert auto.diagnostics["converged"] == 1.0
    assert auto.objective == pytest.approx(exact.objective, rel=1e-9)
    check_partition(auto, 2100, 2100)


def test_group_labels_are_compared_by_value():
    z1, z2, l1, l2 = clustered(300, 280, seed=2)
    as_int = pair(z1, z2, 0.5, groups1=l1 % 3, groups2=l2 % 3)
    as_float = pair(z1, z2, 0.5, groups1=l1 % 3, groups2=(l2 % 3).astype(float))
    assert as_int.n_pairs > 0
    np.testing.assert_array_equal(as_int.index1, as_float.index1)
    np.testing.assert_array_equal(as_int.index2, as_float.index2)
    np.testing.assert_array_equal((l1 % 3)[as_int.index1], (l2 % 3)[as_int.index2])


@pytest.mark.parametrize("missing", [None, np.nan])
def test_missing_group_labels_are_an_error(missing):
    z1, z2, l1, l2 = clustered(30, 30, seed=2)
    labels = l1.astype(object)
    labels[3] = missing
    with pytest.raises(ValueError, match="`groups1` has 1 missing labels"):
        pair(z1, z2, groups1=labels, groups2=l2)


def test_all_zero_rows_are_named():
    z1, z2, _, _ = clustered(30, 30)
    z2[[1, 4]] = 0.0
    with pytest.raises(ValueError, match="`z2` has 2 all-zero rows"):
        pair(z1, z2)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"cutoff": "0.8"}, TypeError, "cutoff"),
        ({"cutoff": 1.5}, ValueError, "cutoff"),
        ({"method": 3}, TypeError, "method"),
        ({"method": "hungarian"}, ValueError, "method"),
        ({"k": 2.5}, TypeError, "k"),
        ({"k": 0}, ValueError, "k"),
        ({"k": True}, TypeError, "k"),
        ({"block_size": 1}, ValueError, "block_size"),
        ({"repair_rounds": -1}, ValueError, "repair_rounds"),
        ({"repair_rounds": "many"}, TypeError, "repair_rounds"),
        ({"probe": "all"}, TypeError, "probe"),
        ({"probe": 0}, ValueError, "probe"),
        ({"time_budget": "1s"}, TypeError, "time_budget"),
        ({"time_budget": -1}, ValueError, "time_budget"),
        ({"tolerance": 1.0}, ValueError, "tolerance"),
        ({"tolerance": None}, TypeError, "tolerance"),
        ({"seed": -1}, (TypeError, ValueError), "seed"),
        ({"seed": 2.0}, TypeError, "seed"),
        ({"progress": "yes"}, TypeError, "progress"),
        ({"groups1": "abc", "groups2": "abc"}, TypeError, "groups1"),
        ({"groups1": np.zeros(3), "groups2": np.zeros(20)}, ValueError, "groups1"),
        ({"groups1": np.zeros(20)}, ValueError, "groups1"),
    ],
)
def test_bad_pair_arguments_name_the_argument(kwargs, error, name):
    z1, z2, _, _ = clustered(20, 20)
    with pytest.raises(error, match=f"`{name}`"):
        pair(z1, z2, **kwargs)
