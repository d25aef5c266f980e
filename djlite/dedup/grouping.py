"""Near-duplicate groups of samples: LSH candidates, verified with the full distance, joined by union-find."""

from dataclasses import dataclass

import numpy as np

from djlite.dedup.alignment import video_distance
from djlite.dedup.lsh import BandIndex, candidate_pairs
from djlite.video.signature import IDENTITY, VideoSignature

INF = float("inf")


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def sample_distance(a: list[VideoSignature], b: list[VideoSignature], transforms=(IDENTITY,), stop_below=0.0):
    """Two samples are as far apart as their least similar pair of videos, taken in order.

    Samples with different numbers of videos are never near-duplicates (as for the exact hash, the list of
    videos is the sample's content).
    """
    if not a or len(a) != len(b):
        return INF
    worst = 0.0
    for x, y in zip(a, b):
        worst = max(worst, video_distance(x, y, transforms, stop_below=stop_below).distance)
        if worst == INF:
            break
    return worst


def quality(sample: list[VideoSignature]) -> tuple[float, float, float]:
    """What keep="best" maximises, in order: pixels of picture, bit rate, duration (summed over the videos)."""
    return (
        sum(v.picture_pixels for v in sample),
        sum(v.bitrate for v in sample),
        sum(v.span for v in sample),
    )


def _spread(hashes: np.ndarray, limit: int) -> np.ndarray:
    if len(hashes) <= limit:
        return hashes
    return hashes[np.linspace(0, len(hashes) - 1, limit).round().astype(int)]


@dataclass
class Grouping:
    representative: list[int]  # per sample: the row kept for its group (itself when it is kept)
    distance: list[float]  # per sample: distance to its representative (0 for a representative)
    candidates: int  # candidate pairs the index proposed
    verified: int  # pairs whose full distance was computed

    @property
    def kept(self) -> list[int]:
        return [i for i, rep in enumerate(self.representative) if rep == i]


def group_near_duplicates(
    samples: list[list[VideoSignature]],
    threshold: float,
    transforms=(IDENTITY,),
    keep: str = "first",
    index: BandIndex | None = None,
    index_frames: int = 16,
) -> Grouping:
    """Group samples whose distance is <= threshold, directly or through a chain of such pairs.

    keep="first": the earliest sample of a group is kept; keep="longest": the one whose videos last longest
    (earliest on a tie), so that a full video is kept rather than a clip cut from it; keep="best": see
    `quality`.
    """
    n = len(samples)
    usable = [bool(s) and all(not v.empty for v in s) for s in samples]
    empty = np.zeros(0, dtype=np.uint64)
    indexed = [np.concatenate([_spread(v.hashes, index_frames) for v in s]) if ok else empty
               for s, ok in zip(samples, usable)]  # fmt: skip
    queried = [np.concatenate([v.hashes for v in s]) if ok else empty for s, ok in zip(samples, usable)]
    pairs = sorted(candidate_pairs(indexed, queried, transforms, index))

    groups = UnionFind(n)
    verified = 0
    for i, j in pairs:
        if groups.find(i) == groups.find(j):
            continue  # already joined through other pairs: the answer cannot change
        verified += 1
        if sample_distance(samples[i], samples[j], transforms, stop_below=threshold) <= threshold:
            groups.union(i, j)

    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(groups.find(i), []).append(i)
    representative, distance = list(range(n)), [0.0] * n
    for group in members.values():
        if len(group) == 1:
            continue
        if keep == "longest":
            rep = max(group, key=lambda i: (sum(v.span for v in samples[i]), -i))
        elif keep == "best":
            rep = max(group, key=lambda i: (*quality(samples[i]), -i))
        else:
            rep = group[0]
        for i in group:
            representative[i] = rep
            if i != rep:
                distance[i] = sample_distance(samples[rep], samples[i], transforms)
    return Grouping(representative, distance, candidates=len(pairs), verified=verified)
