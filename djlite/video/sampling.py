"""Frame plans: which frames of a video an op wants, independent of how they are decoded.

A plan is a small frozen (hashable) description: `uniform(3)`, `fps(1)`, `keyframes()`, `all_frames()`,
`strided(12, include_second=True)`. The reader turns it into a *selector* for one video and offers that
selector every frame it decodes, in presentation order, as a `FrameStamp` (index, time, keyframe flag and
the time of the next frame, None for the last one). Because a selector sees one frame of look-ahead, "the
last frame" and "the last frame of a segment" are local decisions and nothing is ever decided backwards.
The same selectors also run over a demuxed frame table (timestamps only, nothing decoded) when the reader
plans seeks, so seeking and a sequential pass pick exactly the same frames.

`segment`: apply the plan to each `segment`-second window [k*S, (k+1)*S) of the stream on its own, as
Data-Juicer's "by seconds" variants do. Unlike Data-Juicer, the final partial segment is kept and frames
come from the original stream, not from re-encoded cuts.

Times are seconds from the stream's first frame. Comparisons allow EPSILON (1 us) so that a grid or target
time computed in floating point still lands on a frame stamped exactly at it.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from djlite.video.probe import VideoInfo

EPSILON = 1e-6


class FrameStamp(NamedTuple):
    index: int  # 0-based presentation-order index in the stream
    time: float  # seconds from the stream's first frame
    key: bool  # a keyframe (decodable on its own)
    next_time: float | None  # time of the following frame; None when this is the last frame


class Selector(Protocol):
    def select(self, stamp: FrameStamp) -> bool: ...

    @property
    def done(self) -> bool: ...


def total_frames(info: VideoInfo) -> int:
    """Frame count from the header, else estimated from duration x fps (at least 1)."""
    if info.frame_count:
        return info.frame_count
    return max(1, round(info.stream_duration * info.fps)) if info.fps > 0 else 1


class FramePlan:
    """Base of the plans. Subclasses are frozen dataclasses with a `segment` field."""

    segment: float | None
    # True when the plan wants keyframes only, so the reader may skip decoding every other frame.
    keyframes_only = False

    def _check_segment(self):
        if self.segment is not None and not self.segment > 0:
            raise ValueError(f"segment must be > 0 seconds, got {self.segment}")

    def selector(self, info: VideoInfo) -> Selector:
        if self.segment is None:
            return self._window(info, 0.0, info.stream_duration)
        return _SegmentedSelector(self, info)

    def _window(self, info: VideoInfo, start: float, span: float) -> Selector:
        """A selector for the frames of [start, start + span), fed only those frames."""
        raise NotImplementedError

    def segments(self, info: VideoInfo) -> int:
        if self.segment is None:
            return 1
        return max(1, math.ceil(info.stream_duration / self.segment - EPSILON))

    def estimate(self, info: VideoInfo) -> float:
        """Roughly how many frames the plan selects; the reader uses it to choose between seeking and a pass."""
        raise NotImplementedError


@dataclass(frozen=True)
class UniformPlan(FramePlan):
    n: int
    segment: float | None = None

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"uniform: n must be a positive integer, got {self.n!r}")
        self._check_segment()

    def _window(self, info, start, span):
        n = self.n
        if self.segment is None and info.frame_count:
            # Data-Juicer caps the count at the stream's frame count before spacing the targets.
            n = min(n, info.frame_count)
        if n == 1:
            targets = [start + span / 2]
        else:
            targets = [start + i * span / (n - 1) for i in range(n)]
        return _TargetSelector(targets)

    def estimate(self, info):
        return self.n * self.segments(info)


@dataclass(frozen=True)
class TimesPlan(FramePlan):
    """The first frame at or after each of `times` (seconds, ascending): frames chosen by an earlier pass (diverse
    frame picks) or known in advance (the frame at each cut of a split, which clip verification compares)."""

    times: tuple[float, ...]
    segment: float | None = None

    def _window(self, info, start, span):
        return _TargetSelector([t for t in self.times if start - EPSILON <= t < start + span + EPSILON])

    def estimate(self, info):
        return len(self.times)


@dataclass(frozen=True)
class FpsPlan(FramePlan):
    rate: float
    segment: float | None = None

    def __post_init__(self):
        if not self.rate > 0:
            raise ValueError(f"fps: rate must be > 0 frames per second, got {self.rate!r}")
        self._check_segment()

    def _window(self, info, start, span):
        return _GridSelector(start, 1.0 / self.rate)

    def estimate(self, info):
        return self.rate * info.stream_duration + self.segments(info)


@dataclass(frozen=True)
class KeyframesPlan(FramePlan):
    segment: float | None = None

    def __post_init__(self):
        self._check_segment()

    @property
    def keyframes_only(self) -> bool:
        # Per segment the first frame is taken too (see _KeyframeSelector), which needs a full decode.
        return self.segment is None

    def _window(self, info, start, span):
        return _KeyframeSelector(with_first=self.segment is not None)

    def estimate(self, info):
        # Unknown before the index is read; typical encoders place a keyframe every 2 to 10 seconds.
        return info.stream_duration / 2 + self.segments(info)


@dataclass(frozen=True)
class AllFramesPlan(FramePlan):
    segment: float | None = None

    def __post_init__(self):
        self._check_segment()

    def _window(self, info, start, span):
        return _AllSelector()

    def estimate(self, info):
        return total_frames(info)


@dataclass(frozen=True)
class StridedPlan(FramePlan):
    step: int
    include_second: bool = False
    segment: float | None = None

    def __post_init__(self):
        if not isinstance(self.step, int) or self.step < 1:
            raise ValueError(f"strided: step must be a positive integer, got {self.step!r}")
        self._check_segment()

    def _window(self, info, start, span):
        return _StridedSelector(start, self.step, info.fps, self.include_second)

    def estimate(self, info):
        return total_frames(info) / self.step + 2 * self.segments(info)


def uniform(n: int, segment: float | None = None) -> UniformPlan:
    """Data-Juicer's uniform sampling: targets t_i = i*D/(n-1) (n == 1: D/2) over the stream duration D.

    Each target takes the first frame at or after it that no earlier target took; a target the stream ends
    before (always the last one, t = D) resolves to the last frame. The count is capped at the header's
    frame count, as in Data-Juicer; a frame is delivered once even where Data-Juicer would repeat it.
    """
    return UniformPlan(n, segment)


def fps(rate: float, segment: float | None = None) -> FpsPlan:
    """A presentation-time grid at `rate` frames/s: for each grid time k/rate the first frame at or after it.

    Times come from timestamps, not frame counts, so the grid holds on variable-frame-rate files. Grid
    times that fall between the same two frames select one frame (at most the video's own frame rate).
    """
    return FpsPlan(float(rate), segment)


def keyframes(segment: float | None = None) -> KeyframesPlan:
    """Every keyframe; without `segment` the reader decodes the keyframes alone.

    With `segment`, the first frame of each segment is added to its keyframes: Data-Juicer re-encodes each
    segment before listing keyframes, which makes the segment's first frame a keyframe. This reproduces its
    counts (test_all_keyframes_sampling: 4 / 5 / 13 with 5 s segments, plus djlite's kept tail segment).
    """
    return KeyframesPlan(segment)


def all_frames(segment: float | None = None) -> AllFramesPlan:
    """Every decodable frame."""
    return AllFramesPlan(segment)


def strided(step: int, include_second: bool = False, segment: float | None = None) -> StridedPlan:
    """Frames 0, step, 2*step, ... by frame number; with include_second also frame 1.

    This is Data-Juicer's motion-filter schedule (frames 0, 1, step, 2*step, ... read through OpenCV).
    Frame numbers are derived from timestamps the way OpenCV derives them (number = round(time * fps)),
    so frame k*step is the first frame at or after (k*step - 1/2) / fps: exact on constant-rate files,
    and on variable-rate files the frame OpenCV's seek returns. With no known fps the count of frames
    is used instead.
    """
    return StridedPlan(step, include_second, segment)


class _TargetSelector:
    """Each target takes the first frame at or after it that an earlier target did not take.

    Targets are times in seconds, or decoded-frame indices with `by_index` (video2tfrecord's even spread).
    """

    def __init__(self, targets: list, by_index: bool = False):
        self.targets = targets
        self.by_index = by_index
        self.next = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.targets)

    def _reached(self, stamp: FrameStamp) -> bool:
        if self.by_index:
            return stamp.index >= self.targets[self.next]
        return stamp.time + EPSILON >= self.targets[self.next]

    def select(self, stamp: FrameStamp) -> bool:
        if self.done:
            return False
        if self._reached(stamp):
            self.next += 1
            return True
        if stamp.next_time is None:
            # The stream (or segment) ends before the remaining targets: they resolve to its last frame.
            self.next = len(self.targets)
            return True
        return False


class _GridSelector:
    """First frame at or after each time start + k*interval, k >= 0."""

    def __init__(self, start: float, interval: float, first_k: int = 0):
        self.start = start
        self.interval = interval
        self.k = first_k
        self.done = False

    def due(self, time: float) -> bool:
        return time + EPSILON >= self.start + self.k * self.interval

    def consume(self, time: float) -> None:
        # Computed from k, not accumulated, so rounding does not drift over a long video.
        self.k = max(self.k, math.floor((time + EPSILON - self.start) / self.interval) + 1)

    def select(self, stamp: FrameStamp) -> bool:
        if not self.due(stamp.time):
            return False
        self.consume(stamp.time)
        return True


class _StridedSelector:
    def __init__(self, start: float, step: int, fps: float, include_second: bool):
        self.step = step
        self.include_second = include_second
        self.seen = 0
        self.done = False
        # Frame number k*step begins half a frame before its nominal time (OpenCV rounds time * fps).
        self.grid = _GridSelector(start - 0.5 / fps, step / fps, first_k=1) if fps > 0 else None

    def select(self, stamp: FrameStamp) -> bool:
        position = self.seen
        self.seen += 1
        if self.grid is None:
            return position % self.step == 0 or (self.include_second and position == 1)
        take = position == 0 or (self.include_second and position == 1) or self.grid.due(stamp.time)
        if take:
            self.grid.consume(stamp.time)
        return take


class _KeyframeSelector:
    def __init__(self, with_first: bool):
        self.with_first = with_first
        self.seen = 0
        self.done = False

    def select(self, stamp: FrameStamp) -> bool:
        first = self.seen == 0
        self.seen += 1
        return stamp.key or (self.with_first and first)


class _AllSelector:
    done = False

    def select(self, stamp: FrameStamp) -> bool:
        return True


class _SegmentedSelector:
    """Runs a fresh window selector per segment [k*S, (k+1)*S); the final partial segment is kept."""

    done = False

    def __init__(self, plan: FramePlan, info: VideoInfo):
        self.plan = plan
        self.info = info
        self.current_segment = None
        self.window = None

    def select(self, stamp: FrameStamp) -> bool:
        length = self.plan.segment
        k = math.floor((stamp.time + EPSILON) / length)
        if k != self.current_segment:
            start = k * length
            span = max(0.0, min(length, self.info.stream_duration - start))
            self.current_segment, self.window = k, self.plan._window(self.info, start, span)
        end = (k + 1) * length
        last_in_segment = stamp.next_time is None or stamp.next_time + EPSILON >= end
        return self.window.select(stamp._replace(next_time=None if last_in_segment else stamp.next_time))
