"""k-center greedy guarantees and the selection statistics, on generated points."""

import itertools

import numpy as np
import pytest

from djlite.select import budget_count, every_nth, k_center_greedy, random_subset
from djlite.select.stats import pairwise_distances_upper, pairwise_stats, selection_stats


def unit_points(n=400, d=16, seed=0, clusters=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    if clusters:
        centres = rng.normal(size=(clusters, d)) * 4
        X = (centres[rng.integers(clusters, size=n)] + 0.1 * X).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def pair_min(X, idx):
    return min(np.linalg.norm(X[a] - X[b]) for a, b in itertools.combinations(idx, 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_radii_non_increasing_and_every_pair_at_least_last_radius(seed):
    X = unit_points(seed=seed, clusters=7)
    result = k_center_greedy(X, 30)
    assert len(result.picked) == 30 and len(set(result.picked.tolist())) == 30
    assert np.isinf(result.radii[0])
    assert np.all(np.diff(result.radii[1:]) <= 1e-6)
    assert pair_min(X, result.picked) >= result.radii[-1] - 1e-5
    # coverage radius: every row within max(dmin) of a pick, and the next pick would have had that radius
    brute = max(min(np.linalg.norm(x - X[p]) for p in result.picked) for x in X)
    assert result.coverage_radius == pytest.approx(brute, abs=1e-5)


def test_min_distance_stop_holds():
    X = unit_points(n=500, clusters=5)
    result = k_center_greedy(X, 500, min_distance=0.5)
    assert result.stopped_by == "min_distance"
    assert 5 <= len(result.picked) < 500
    assert pair_min(X, result.picked) >= 0.5
    assert result.coverage_radius < 0.5  # stopping means every other row is closer than tau to a pick


def test_deterministic_and_first_pick_rules():
    X = unit_points()
    a, b = k_center_greedy(X, 25), k_center_greedy(X.copy(), 25)
    assert a.picked.tolist() == b.picked.tolist() and a.first_rule == "farthest_from_mean"
    mean = X.mean(axis=0)
    assert a.picked[0] == int(np.argmax(((X - mean) ** 2).sum(axis=1)))
    assert k_center_greedy(X, 3, first_pick="lowest_index").picked[0] == 0
    r1 = k_center_greedy(X, 5, first_pick="random", seed=7).picked
    assert r1.tolist() == k_center_greedy(X, 5, first_pick="random", seed=7).picked.tolist()


def test_ties_go_to_lowest_index():
    X = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], np.float32)
    result = k_center_greedy(X, 5, first_pick="lowest_index")
    assert result.picked.tolist() == [0, 1, 2, 3, 4]  # after 0, rows 1..4 are all at distance 1


def test_preselected_set_new_picks_far_from_it():
    X = unit_points(n=300, clusters=4)
    pre = [0, 1, 2]
    result = k_center_greedy(X, 10, preselected=pre)
    assert result.first_rule == "preselected"
    assert not set(result.picked.tolist()) & set(pre)
    d_pre = np.min(np.linalg.norm(X[result.picked][:, None] - X[pre][None], axis=2), axis=1)
    assert d_pre[0] == pytest.approx(result.radii[0], abs=1e-5)
    assert np.all(d_pre >= result.radii[-1] - 1e-5)
    external = k_center_greedy(X, 10, preselected_vectors=X[pre])
    assert external.picked.tolist() == result.picked.tolist()


def test_budget_as_count_or_fraction():
    assert budget_count(10, 0.25) == 3 and budget_count(10, 4) == 4 and budget_count(10, 40) == 10
    assert budget_count(10, 1.0) == 10 and budget_count(10, None) == 10
    with pytest.raises(ValueError, match="fraction"):
        budget_count(10, 1.5)
    assert len(k_center_greedy(unit_points(n=50), 0.1).picked) == 5


def test_quotas_and_eligibility():
    X = unit_points(n=200, clusters=3)
    groups = np.arange(200) % 4
    result = k_center_greedy(X, 12, quotas=[(groups, np.array([3, 3, 3, 3]))])
    assert np.bincount(groups[result.picked], minlength=4).tolist() == [3, 3, 3, 3]
    eligible = np.arange(200) >= 100
    assert np.all(k_center_greedy(X, 20, eligible=eligible).picked >= 100)


def test_weights_prefer_heavy_rows():
    X = unit_points(n=300)
    w = np.where(np.arange(300) < 30, 10.0, 1.0)
    picked = k_center_greedy(X, 20, weights=w).picked
    assert np.count_nonzero(picked < 30) > np.count_nonzero(k_center_greedy(X, 20).picked < 30)


def test_baselines():
    assert every_nth(100, 10).tolist() == list(range(0, 100, 10))
    r = random_subset(100, 10, seed=3)
    assert len(set(r.tolist())) == 10 and r.tolist() == random_subset(100, 10, seed=3).tolist()


def test_pairwise_stats_exact_and_sampled():
    X = unit_points(n=120)
    d = pairwise_distances_upper(X)
    brute = [np.linalg.norm(X[i] - X[j]) for i, j in itertools.combinations(range(120), 2)]
    assert np.allclose(np.sort(d), np.sort(brute), atol=1e-5)
    exact = pairwise_stats(X)
    assert not exact["approx"] and exact["pairs"] == 120 * 119 // 2
    assert exact["p10"] == pytest.approx(np.percentile(brute, 10), abs=1e-5)
    sampled = pairwise_stats(X, memory_bytes=100, sample_pairs=200_000)
    assert sampled["approx"] and sampled["mean"] == pytest.approx(exact["mean"], abs=0.01)
    assert sampled["min"] > 0  # never a point with itself


def test_coreset_beats_random_and_every_nth_on_clustered_points():
    X = unit_points(n=2000, d=32, clusters=40, seed=5)
    k = 40
    rows = {
        "coreset": selection_stats(X, k_center_greedy(X, k).picked),
        "random": selection_stats(X, random_subset(len(X), k, seed=0)),
        "every_nth": selection_stats(X, every_nth(len(X), k)),
    }
    for other in ("random", "every_nth"):
        assert rows["coreset"]["coverage_radius"] < rows[other]["coverage_radius"]
        assert rows["coreset"]["min"] > rows[other]["min"]
