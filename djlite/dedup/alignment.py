"""Distance between two video signatures: the shorter one slid along the longer one.

For each rotation (and mirror, if asked) of the shorter video, candidate time offsets are voted by its
frames' best matches in the longer one. At each candidate offset every sampled frame of the shorter video is
compared with the frames of the longer one at the same aligned time (within half a grid step), and scores the
fraction of its 63 hash bits that differ from the closest of them. A frame that lands outside the longer
video, or where the longer one has only blank frames, scores MISS (0.5, what unrelated frames score). The
distance is the mean score over the shorter video's frames at the best offset and rotation.

So 0 means every frame of the shorter video is in the longer one, in order and at the same pace; a trimmed,
re-encoded, resized or rotated copy stays near 0; unrelated videos score about 0.5; a clip that overlaps the
other for only half its length scores at least 0.25 however alike the overlap is.
"""

from dataclasses import dataclass

import numpy as np

from djlite.video.signature import HASH_BITS, IDENTITY, VideoSignature, hamming, transform_hashes

MISS = 0.5
OFFSETS_TRIED = 3
# Frame times come from the streams' timestamps; variable frame rates and rounding move them a little.
TIME_SLACK = 0.02


@dataclass(frozen=True)
class Match:
    distance: float
    offset: float = 0.0  # seconds: time in the longer video = time in the shorter one + offset
    transform: tuple = IDENTITY  # applied to the shorter video's frames


NO_MATCH = Match(float("inf"))


def _candidate_offsets(scores: np.ndarray, gaps: np.ndarray, window: float) -> list[float]:
    """The offsets most query frames agree on, from each frame's best match, best-voted first."""
    rows = np.arange(scores.shape[0])
    best = scores.argmin(axis=1)
    offsets, quality = gaps[rows, best], scores[rows, best]
    bins = np.round(offsets / window).astype(np.int64)
    unique, votes = np.unique(bins, return_counts=True)
    chosen = []
    for b in unique[np.argsort(-votes, kind="stable")][:OFFSETS_TRIED]:
        members = np.flatnonzero(bins == b)
        chosen.append(float(offsets[members[np.argmin(quality[members])]]))
    return chosen


def _distance_at(scores, gaps, offset, window, query_times, target_span) -> float:
    near = np.abs(gaps - offset) <= window
    per_frame = np.where(near, scores, np.inf).min(axis=1)
    aligned = query_times + offset
    inside = (aligned >= -window) & (aligned <= target_span + window)
    per_frame = np.where(inside & np.isfinite(per_frame), per_frame, MISS)
    return float(per_frame.mean())


def video_distance(a: VideoSignature, b: VideoSignature, transforms=(IDENTITY,), stop_below: float = 0.0) -> Match:
    """The distance between two videos (see the module docstring); symmetric; inf when either is blank."""
    if a.empty or b.empty:
        return NO_MATCH
    query, target = (a, b) if (a.span, len(a.hashes)) <= (b.span, len(b.hashes)) else (b, a)
    window = 0.5 * max(query.step, target.step) + TIME_SLACK
    gaps = target.times[None, :].astype(np.float64) - query.times[:, None]
    best = NO_MATCH
    for transform in transforms:
        hashes = transform_hashes(query.hashes, transform)
        scores = hamming(hashes[:, None], target.hashes[None, :]).astype(np.float32) / HASH_BITS
        # Copies usually start (or end) together, and for a static shot every offset looks alike: try those too.
        offsets = _candidate_offsets(scores, gaps, window) + [0.0, target.span - query.span]
        for offset in dict.fromkeys(offsets):
            distance = _distance_at(scores, gaps, offset, window, query.times, target.span)
            if distance < best.distance:
                best = Match(distance, offset, transform)
        if best.distance <= stop_below:
            break
    return best
