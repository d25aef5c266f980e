"""k-center greedy scale: seconds for n vectors of dimension d and k picks, and how it grows.

    PYTHONPATH=. python tools/bench_select.py                  # 100,000 x 256, k = 1,000, plus growth in n and k
    PYTHONPATH=. python tools/bench_select.py --n 20000 --k 200

Also reports the floor measured in the same run: k matrix-vector products X @ x (one per pick, what the
algorithm cannot avoid in float32), so the ratio says how close to that floor the implementation is.
Random unit vectors (seeded); the time does not depend on the data, only on n, k and d.
"""

import argparse
import time

import numpy as np

from djlite.select import k_center_greedy


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def floor(X: np.ndarray, k: int) -> float:
    out = np.empty(len(X), np.float32)
    return timed(lambda: [np.matmul(X, X[i % len(X)], out=out) for i in range(k)])


def row(n: int, d: int, k: int) -> dict:
    X = unit(n, d)
    seconds = timed(lambda: k_center_greedy(X, k))
    base = floor(X, k)
    return {"n": n, "d": d, "k": k, "seconds": seconds, "matvec_floor": base, "ratio": seconds / base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--k", type=int, default=1_000)
    parser.add_argument("--no-growth", action="store_true")
    args = parser.parse_args()
    rows = [row(args.n, args.d, args.k)]
    if not args.no_growth:
        rows += [row(args.n // 4, args.d, args.k), row(args.n // 2, args.d, args.k)]
        rows += [row(args.n, args.d, args.k // 4), row(args.n, args.d // 2, args.k)]
    print("| n | d | k | seconds | k matvecs (floor) | ratio |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['d']} | {r['k']} | {r['seconds']:.2f} | {r['matvec_floor']:.2f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
