"""Candidate pairs by locality-sensitive hashing of frame hashes: no all-pairs comparison.

Each band is a fixed pseudo-random choice of `band_bits` of the 63 hash bits; a frame's key in a band is the
value of those bits. Two frames whose hashes differ in few bits often agree on all the bits of a band (6 bits
apart: 0.9^24 = 8% per 24-bit band), and two copies of a video share many frames, so they share many keys;
two unrelated frames agree on a band with probability about 2^-24. A pair becomes a candidate when it shares
at least `min_hits` distinct keys: a copy easily does (a 10-frame overlap over 16 bands offers 160 chances),
while chance collisions are rare and almost never come twice for the same pair.

Everything is vectorised over chunks of items: the index is a sorted key array with the item of each entry;
a chunk's lookup keys are sorted, matched with one searchsorted, and the hits counted per (item, candidate)
with one np.unique. A million videos with 16 indexed frames and 16 bands make 256 M index entries (about
3 GB). Buckets holding more than `max_bucket` items are skipped: they are frames that many unrelated videos
share (black with a logo, a common title card), where a collision says nothing.
"""

import numpy as np

from djlite.video.signature import HASH_BITS, IDENTITY, transform_hashes

CHUNK_FRAMES = 200_000  # frames looked up per vectorised step: bounds the memory of one step


def _unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and how often each occurs (a sort; np.unique's hashing is far slower here)."""
    if not len(values):
        return values, np.zeros(0, dtype=np.int64)
    values = np.sort(values)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.diff(np.append(starts, len(values)))


class BandIndex:
    def __init__(self, bands: int = 16, band_bits: int = 24, max_bucket: int = 200, min_hits: int = 2, seed=0):
        if not 8 <= band_bits <= 32:
            raise ValueError(f"band_bits must be between 8 and 32, got {band_bits}")
        if not 1 <= bands <= 64:
            raise ValueError(f"bands must be between 1 and 64, got {bands}")
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        rng = np.random.default_rng(seed)
        self.positions = [np.sort(rng.choice(HASH_BITS, band_bits, replace=False)) for _ in range(bands)]
        self.band_bits = band_bits
        self.max_bucket = max_bucket
        self.min_hits = min_hits
        self._keys = np.zeros(0, dtype=np.int64)
        self._items = np.zeros(0, dtype=np.int64)

    def keys(self, hashes: np.ndarray) -> np.ndarray:
        """frames x bands int64 keys: band number in the high bits, the band's bit values in the low ones."""
        out = np.zeros((len(hashes), len(self.positions)), dtype=np.int64)
        for band, positions in enumerate(self.positions):
            value = np.zeros(len(hashes), dtype=np.uint64)
            for k, p in enumerate(positions):
                value |= ((hashes >> np.uint64(p)) & np.uint64(1)) << np.uint64(k)
            out[:, band] = value.astype(np.int64) + (band << self.band_bits)
        return out

    def _distinct_keys(self, hashes: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, key) pairs with repeats removed: a static video's identical frames count once."""
        keys = self.keys(hashes)
        owners = np.repeat(owners, keys.shape[1])
        span = np.int64(1) << np.int64(self.band_bits + 6)  # keys < 64 bands << band_bits
        codes, _ = _unique_counts(owners * span + keys.ravel())
        keys = codes % span
        order = np.argsort(keys, kind="stable")  # sorted needles make the index lookups cache-friendly
        return codes[order] // span, keys[order]

    def build(self, indexed: list[np.ndarray]) -> None:
        """Index item i under the band keys of indexed[i] (its frame hashes)."""
        owners, keys = [], []
        for hashes, ids in _chunks(indexed):
            o, k = self._distinct_keys(hashes, ids)
            owners.append(o)
            keys.append(k)
        keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        owners = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self._keys, self._items = keys[order], owners[order]

    def hits(self, keys: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, item) for every index entry sharing a key with (owner, key); oversized buckets skipped."""
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        sizes = hi - lo
        keep = (sizes > 0) & (sizes <= self.max_bucket)
        lo, sizes, owners = lo[keep], sizes[keep], owners[keep]
        if not len(sizes):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # Concatenated ranges [lo, lo + size) without a Python loop.
        offsets = np.repeat(lo - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
        return np.repeat(owners, sizes), self._items[offsets + np.arange(sizes.sum())]


def _chunks(hash_lists: list[np.ndarray], transform=IDENTITY):
    """(hashes, owner of each hash) over consecutive items, about CHUNK_FRAMES frames at a time."""
    batch, owners, size = [], [], 0
    for i, hashes in enumerate(hash_lists):
        if len(hashes) == 0:
            continue
        batch.append(transform_hashes(hashes, transform))
        owners.append(np.full(len(hashes), i, dtype=np.int64))
        size += len(hashes)
        if size >= CHUNK_FRAMES:
            yield np.concatenate(batch), np.concatenate(owners)
            batch, owners, size = [], [], 0
    if batch:
        yield np.concatenate(batch), np.concatenate(owners)


def candidate_pairs(
    indexed: list[np.ndarray], queried: list[np.ndarray], transforms=(IDENTITY,), index: BandIndex | None = None
) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j, where the frames of item i, under some transform, share enough keys with item j.

    `indexed[i]` are the hashes item i is filed under (a subset keeps the index small); `queried[i]` are the
    hashes it looks up (all of its frames, so a short clip of a long video still finds it). Transforms are
    applied on the lookup side only: the index holds each frame once. Hits are counted per transform, since
    a rotated copy matches under one orientation.
    """
    index = index or BandIndex()
    index.build(indexed)
    n = max(len(queried), 1)
    pairs: set[tuple[int, int]] = set()
    for transform in transforms:
        for hashes, ids in _chunks(queried, transform):
            owners, keys = index._distinct_keys(hashes, ids)
            query, found = index.hits(keys, owners)
            codes, counts = _unique_counts(query * n + found)
            codes = codes[counts >= index.min_hits]
            a, b = codes // n, codes % n
            different = a != b
            pairs.update(zip(np.minimum(a, b)[different].tolist(), np.maximum(a, b)[different].tolist()))
    return pairs
