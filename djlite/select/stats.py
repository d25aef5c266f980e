"""Statistics of a selection, as Lightly's table and what it lacks (seed-systems.md §5b).

For a set A of m vectors: all m(m-1)/2 pairwise L2 distances (diagonal excluded) -> count, mean, min, max,
10th and 90th percentiles (numpy's linear interpolation). Exact while the distances fit `memory_bytes`
(float32; 2 GiB by default, about 32k items), else `sample_pairs` random pairs (seeded) and `approx: true`.
Also: nearest-neighbour distance inside A (mean, min, p10), the coverage radius of A over the whole set (max
over all rows of the distance to the nearest member of A), and the number of pairs closer than `eps`.
"""

import numpy as np

from djlite.select.kcenter import squared_norms

DEFAULT_MEMORY_BYTES = 2 * 1024**3
DEFAULT_SAMPLE_PAIRS = 2_000_000
BLOCK_ELEMENTS = 1 << 23  # a distance block holds at most this many float64 (64 MiB)


def block_rows(columns: int) -> int:
    return max(1, min(4096, BLOCK_ELEMENTS // max(columns, 1)))


def _block(A: np.ndarray, norms: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Distances of rows start..stop of A to every row of A. A is float64 here: with float32 the expansion
    |a|^2 + |b|^2 - 2 a.b leaves ~1e-3 where the distance is 0, which would hide exact duplicates."""
    d = A[start:stop] @ A.T
    d *= -2.0
    d += norms[start:stop, None]
    d += norms[None, :]
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d, out=d)


def pairwise_distances_upper(A: np.ndarray) -> np.ndarray:
    """All m(m-1)/2 distances ||a_i - a_j||, i < j, float32, computed in row blocks."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    m = len(A)
    norms = squared_norms(A)
    out = np.empty(m * (m - 1) // 2, dtype=np.float32)
    at = 0
    step = block_rows(m)
    for start in range(0, m, step):
        block = _block(A, norms, start, min(m, start + step))
        for r, i in enumerate(range(start, min(m, start + step))):
            row = block[r, i + 1 :]
            out[at : at + len(row)] = row
            at += len(row)
    return out


def sampled_pair_distances(A: np.ndarray, pairs: int, seed: int) -> np.ndarray:
    A = np.asarray(A, dtype=np.float32)
    rng = np.random.default_rng(seed)
    i = rng.integers(len(A), size=pairs)
    j = rng.integers(len(A) - 1, size=pairs)
    j += j >= i  # uniform over ordered pairs with i != j
    out = np.empty(pairs, np.float32)
    for s in range(0, pairs, 1 << 18):
        diff = A[i[s : s + (1 << 18)]] - A[j[s : s + (1 << 18)]]
        out[s : s + len(diff)] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def pairwise_stats(
    A, memory_bytes: int = DEFAULT_MEMORY_BYTES, sample_pairs: int = DEFAULT_SAMPLE_PAIRS, seed: int = 0
) -> dict:
    """count, pairs, mean, min, max, p10, p90 of the pairwise L2 distances of A, and `approx`."""
    A = np.asarray(A, dtype=np.float32)
    m = len(A)
    total = m * (m - 1) // 2
    base = {"count": m, "pairs": total}
    if total == 0:
        return dict(base, mean=None, min=None, max=None, p10=None, p90=None, approx=False)
    approx = total * 4 > memory_bytes
    d = sampled_pair_distances(A, sample_pairs, seed) if approx else pairwise_distances_upper(A)
    p10, p90 = np.percentile(d, [10, 90])
    return dict(
        base,
        mean=float(d.mean(dtype=np.float64)),
        min=float(d.min()),
        max=float(d.max()),
        p10=float(p10),
        p90=float(p90),
        approx=bool(approx),
        sampled_pairs=int(sample_pairs) if approx else None,
    )


def nearest_neighbour_distances(A) -> np.ndarray:
    """Each member's distance to its nearest other member (exact, in row blocks: O(m^2 d) time, O(m) memory)."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    m = len(A)
    norms = squared_norms(A)
    out = np.empty(m, np.float64)
    step = block_rows(m)
    for start in range(0, m, step):
        block = _block(A, norms, start, min(m, start + step))
        block[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        out[start : start + len(block)] = block.min(axis=1)
    return out


def distance_to_set(X, A) -> np.ndarray:
    """For every row of X, the distance to the nearest row of A (in blocks of X)."""
    X = np.asarray(X)
    A = np.ascontiguousarray(A, dtype=np.float64)
    a_norms = squared_norms(A)
    out = np.empty(len(X), np.float64)
    step = block_rows(len(A))
    for start in range(0, len(X), step):
        x = X[start : start + step].astype(np.float64)
        d = x @ A.T
        d *= -2.0
        d += squared_norms(x)[:, None]
        d += a_norms[None, :]
        out[start : start + len(x)] = np.sqrt(np.maximum(d.min(axis=1), 0.0))
    return out


def selection_stats(X, selected, eps: float = 0.05, seed: int = 0, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> dict:
    """The report row of one selection (row indices of X): pairwise stats, NN stats, coverage radius, near pairs."""
    X = np.asarray(X, dtype=np.float32)
    selected = np.asarray(selected, dtype=np.int64)
    A = X[selected]
    row = pairwise_stats(A, memory_bytes=memory_bytes, seed=seed)
    if len(A) >= 2:
        nn = nearest_neighbour_distances(A)
        row.update(nn_mean=float(nn.mean()), nn_min=float(nn.min()), nn_p10=float(np.percentile(nn, 10)))
        # A pair closer than eps is counted once: members whose nearest neighbour is closer, halved for mutual pairs.
        row["near_duplicate_pairs"] = int(_pairs_below(A, eps))
    else:
        row.update(nn_mean=None, nn_min=None, nn_p10=None, near_duplicate_pairs=0)
    row["coverage_radius"] = float(distance_to_set(X, A).max()) if len(A) else None
    row["eps"] = eps
    return row


def _pairs_below(A: np.ndarray, eps: float) -> int:
    A = np.ascontiguousarray(A, dtype=np.float64)
    norms = squared_norms(A)
    count = 0
    step = block_rows(len(A))
    for start in range(0, len(A), step):
        block = _block(A, norms, start, min(len(A), start + step))
        for r, i in enumerate(range(start, min(len(A), start + step))):
            count += int(np.count_nonzero(block[r, i + 1 :] < eps))
    return count
