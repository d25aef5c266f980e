"""k-center greedy (farthest-first traversal), the coreset selection Lightly names, as an open specification.

Inputs: X (n x d), a budget (count, or a fraction f -> ceil(f * n)), an optional preselected set S0 whose
members new picks must be far from, an optional `min_distance` tau and a first-pick rule. Each step picks
j = argmax dmin (ties -> lowest index), records `cover_radius_at_pick = dmin[j]`, then lowers
dmin = min(dmin, ||X - x_j||). Without weights or quotas the picked radii are non-increasing, so every pair of
picks is at least the last radius apart, and stopping once dmin[j] < tau keeps every pair >= tau apart.

Memory: X itself plus O(n) (dmin, squared norms, one row of distances per step); distances are computed with
||a - b||^2 = |a|^2 + |b|^2 - 2 a.b in float32, one matrix-vector product per pick (O(n d)), so the whole
selection costs O(n k d). Lightly's combinations are optional: `weights` multiply dmin in the argmax (the
"overall score" of a weighted objective), `eligible` excludes rows (thresholds), and `quotas` cap how many
picks each group may take (balance over a label, per-video budgets).
"""

import math
from dataclasses import dataclass, field

import numpy as np

FIRST_PICK_RULES = ("farthest_from_mean", "lowest_index", "random")


@dataclass
class KCenterResult:
    picked: np.ndarray
    """Row indices of the new picks, in pick order (S0 not included)."""
    radii: np.ndarray
    """`cover_radius_at_pick` of each pick: its distance to the nearest earlier pick or S0 member (inf for a first
    pick made without S0)."""
    dmin: np.ndarray
    """Every row's distance to the nearest selected row (picks and S0) at the end."""
    first_rule: str
    """How the first pick was made: the rule's name, or "preselected" when S0 decided it."""
    stopped_by: str
    """"budget", "min_distance", "exhausted" (no eligible row left) or "empty"."""
    info: dict = field(default_factory=dict)

    @property
    def coverage_radius(self) -> float:
        """max over all rows of the distance to the nearest selected row: what k-center minimises."""
        return float(self.dmin.max()) if len(self.dmin) else 0.0


def budget_count(n: int, budget: int | float | None) -> int:
    """A budget as a count: an int is a count, a float in (0, 1] a fraction of n (ceil), None = all n."""
    if budget is None:
        return n
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget < 0:
        raise ValueError(f"budget must be a count >= 0 or a fraction in (0, 1], got {budget!r}")
    if isinstance(budget, float):
        if not 0 < budget <= 1:
            raise ValueError(f"a fractional budget must be in (0, 1] (give a count as an int), got {budget}")
        return min(n, math.ceil(budget * n))
    return min(n, int(budget))


def squared_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def distances_to(X: np.ndarray, norms: np.ndarray, y: np.ndarray, y_norm: float, out: np.ndarray) -> np.ndarray:
    """||X - y|| for every row of X, into `out` (float32, n): one matrix-vector product."""
    np.matmul(X, y, out=out)
    out *= -2.0
    out += norms
    out += y_norm
    np.maximum(out, 0.0, out=out)
    np.sqrt(out, out=out)
    return out


def k_center_greedy(
    X,
    budget: int | float | None,
    *,
    min_distance: float | None = None,
    preselected=None,
    preselected_vectors=None,
    first_pick: str = "farthest_from_mean",
    seed: int = 0,
    weights=None,
    eligible=None,
    quotas: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> KCenterResult:
    """Farthest-first traversal over the rows of X (see the module docstring).

    budget: new picks (S0 not counted); `preselected`: row indices of S0 in X; `preselected_vectors`: S0 members
    that are not rows of X (an external datapool), m x d. `weights` (n, >= 0): picks maximise dmin * weight.
    `eligible` (n bools): rows that may be picked (all rows count for coverage). `quotas`: [(group id per row,
    int array of n_groups caps)]; a row whose group has reached its cap is not picked.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array of vectors, got shape {X.shape}")
    n = len(X)
    if first_pick not in FIRST_PICK_RULES:
        raise ValueError(f"first_pick must be one of {', '.join(FIRST_PICK_RULES)}, got {first_pick!r}")
    k = budget_count(n, budget)
    tau = -1.0 if min_distance is None else float(min_distance)
    norms = squared_norms(X)
    dmin = np.full(n, np.inf, dtype=np.float32)
    row = np.empty(n, dtype=np.float32)
    can_pick = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool).copy()
    pre = np.asarray(preselected if preselected is not None else [], dtype=np.int64)
    for s in pre:
        np.minimum(dmin, distances_to(X, norms, X[s], norms[s], row), out=dmin)
    can_pick[pre] = False
    if preselected_vectors is not None and len(preselected_vectors):
        P = np.ascontiguousarray(preselected_vectors, dtype=np.float32)
        for y in P:
            np.minimum(dmin, distances_to(X, norms, y, float(y @ y), row), out=dmin)
    have_pool = bool(np.isfinite(dmin).any())
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    if w is not None and (len(w) != n or not np.all(w >= 0)):
        raise ValueError("weights must be one value >= 0 per row")
    caps = [(np.asarray(g, np.int64), np.asarray(c, np.int64).copy()) for g, c in (quotas or [])]
    for groups, cap in caps:
        can_pick &= cap[groups] > 0

    picked: list[int] = []
    radii: list[float] = []
    first_rule = "preselected" if have_pool else first_pick
    stopped_by = "budget" if k > 0 else "empty"
    score = np.empty(n, dtype=np.float32)
    while len(picked) < k:
        if not can_pick.any():
            stopped_by = "exhausted"
            break
        if not picked and not have_pool:
            j = first_index(X, can_pick, first_pick, seed)
        else:
            if w is None:
                np.copyto(score, dmin)
            else:
                np.multiply(dmin, w, out=score)
            score[~can_pick] = -np.inf
            if tau >= 0:
                score[dmin < tau] = -np.inf
            j = int(np.argmax(score))  # first maximum: ties go to the lowest index
            if score[j] == -np.inf:
                stopped_by = "min_distance" if tau >= 0 else "exhausted"
                break
        picked.append(j)
        radii.append(float(dmin[j]))
        can_pick[j] = False
        for groups, cap in caps:
            cap[groups[j]] -= 1
            if cap[groups[j]] <= 0:
                can_pick[groups == groups[j]] = False
        np.minimum(dmin, distances_to(X, norms, X[j], norms[j], row), out=dmin)
    return KCenterResult(
        picked=np.asarray(picked, dtype=np.int64),
        radii=np.asarray(radii, dtype=np.float64),
        dmin=dmin.astype(np.float64),
        first_rule=first_rule,
        stopped_by=stopped_by,
        info={"budget": k, "min_distance": None if tau < 0 else tau, "seed": seed, "n": n},
    )


def first_index(X: np.ndarray, can_pick: np.ndarray, rule: str, seed: int) -> int:
    """The first centre when nothing is preselected; ties go to the lowest index."""
    candidates = np.flatnonzero(can_pick)
    if rule == "lowest_index":
        return int(candidates[0])
    if rule == "random":
        return int(candidates[np.random.default_rng(seed).integers(len(candidates))])
    # ||x - mean||^2 = |x|^2 - 2 x.mean + |mean|^2, without copying the candidate rows (O(n) memory).
    mean = (can_pick.astype(np.float32) @ X / len(candidates)).astype(np.float32)
    d = squared_norms(X) - 2.0 * (X @ mean)
    d[~can_pick] = -np.inf
    return int(np.argmax(d))


def random_subset(n: int, budget: int | float | None, seed: int = 0) -> np.ndarray:
    """Uniform sample without replacement, seeded (numpy PCG64): the random baseline, in draw order."""
    k = budget_count(n, budget)
    return np.random.default_rng(seed).permutation(n)[:k].astype(np.int64)


def every_nth(n: int, budget: int | float | None) -> np.ndarray:
    """k evenly spaced rows of n (the fixed-fps baseline on time-ordered frames): round(i * n / k), i < k."""
    k = budget_count(n, budget)
    if k == 0:
        return np.zeros(0, np.int64)
    return np.unique(np.floor(np.arange(k) * (n / k)).astype(np.int64))
