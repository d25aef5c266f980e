"""Diverse frames within a video: candidates at a rate, embedded as they are decoded, K picked by farthest-first.

`DiverseCandidates` is a frame consumer: it takes the frames of an `fps(candidate_fps)` grid, embeds them in
batches (model-free thumbnail + histogram backend by default) and keeps only the vectors and timestamps, so
a long video costs memory for its vectors alone (384 float32 per candidate: 5 fps x 1 hour = 13 MB). Its
result is the pick: `DiverseFramePick` with the chosen timestamps in time order, their pick rank and cover
radius. `TimesPlan` (djlite.video.sampling) then names exactly those frames for a second, sparse decode (the
reader seeks to them): `picked_jpegs`.
"""

from dataclasses import dataclass

import numpy as np

from djlite.select.kcenter import k_center_greedy
from djlite.video.jpeg import JpegFrames
from djlite.video.reader import DecodedFrame, FrameConsumer, read_frames
from djlite.video.sampling import TimesPlan, fps


@dataclass
class DiverseFramePick:
    times: list[float]
    """Timestamps of the picked frames, ascending."""
    ranks: list[int]
    """Pick order of each (0 = first pick)."""
    cover_radii: list[float | None]
    """Distance of each pick to the earlier picks when it was picked (None for the first)."""
    candidates: int


class DiverseCandidates(FrameConsumer):
    def __init__(self, backend, candidate_fps: float, k: int, min_distance: float | None, batch: int = 64):
        super().__init__(fps(candidate_fps))
        self.backend = backend
        self.k = k
        self.min_distance = min_distance
        self.batch = batch
        self.pending: list[np.ndarray] = []
        self.vectors: list[np.ndarray] = []
        self.times: list[float] = []

    def feed(self, frame: DecodedFrame) -> None:
        self.pending.append(self.backend.prepare(frame.rgb()))
        self.times.append(frame.time)
        if len(self.pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.vectors.append(np.asarray(self.backend.embed(np.stack(self.pending)), np.float32))
            self.pending = []

    def result(self) -> DiverseFramePick:
        self._flush()
        if not self.times:
            return DiverseFramePick([], [], [], 0)
        X = np.concatenate(self.vectors)
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1)
        # lowest_index: the first candidate (the opening frame) starts the traversal, a rule a user can predict.
        result = k_center_greedy(X, self.k, min_distance=self.min_distance, first_pick="lowest_index")
        order = np.argsort(result.picked, kind="stable")  # candidates are in time order
        picked = result.picked[order]
        return DiverseFramePick(
            times=[float(self.times[i]) for i in picked],
            ranks=[int(r) for r in order],
            cover_radii=[None if not np.isfinite(result.radii[r]) else float(result.radii[r]) for r in order],
            candidates=len(X),
        )


def picked_jpegs(info, times: list[float], quality: int) -> list[bytes]:
    """JPEGs of the frames at `times` (a pick's), from a second decode of the video `info` probed that seeks to
    them."""
    consumer = JpegFrames(TimesPlan(tuple(times)), quality)
    read_frames(info, [consumer])
    return consumer.result()
