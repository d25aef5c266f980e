"""Decode a video once and serve every frame consumer of a sample from that one pass.

`read_frames(info, consumers)` opens the file, turns each consumer's plan into a selector and decodes with
the cheapest of three strategies:

- "sequential": demux and decode every packet from the start, offering each frame to the selectors with one
  frame of look-ahead. Used for dense plans (the motion filter's 2 fps) and for containers whose timestamps
  cannot be trusted for seeking (AVI, FLV, Ogg, MPEG-PS/TS, MXF...).
- "keyframes": when every plan wants keyframes only, send the decoder the keyframe packets alone.
- "seek": for sparse plans (uniform(3) on a long video) in MP4/MOV/Matroska/WebM. A demux-only pass lists
  every frame's timestamp and keyframe flag (nothing is decoded); the selectors run over that table, so the
  wanted frames are known exactly; then the reader seeks to the keyframe before each group of wanted frames
  and decodes forward, or keeps decoding forward where that is cheaper. The first frame of the file is
  always decoded first: some decoders learn stream quirks from it (x264's version SEI decides a 4:4:4
  workaround; imageio__cockatoo.mp4 comes out garbled when decoding starts at a later keyframe). Every
  seek is verified: the first frame must be a clean keyframe at or before the wanted frame; otherwise the
  read restarts as a sequential pass that skips the frames already delivered.

Errors: a file with no decodable frame is a VideoError. A packet the decoder rejects is skipped, as ffmpeg
does (decord__corrupted.mp4: 49 of 50 frames, corrupt_middle: 212 of 241), and counted in the report. A
demuxer error (truncated or cut files) ends the pass with the frames decoded so far: a truncated upload is
still scored on what it holds, and `ReadReport.ended_by` says why the pass stopped early.

Frames are streamed: the reader holds at most the frame being decided and the one after it, whatever the
video's length. Pixels are converted only for frames a consumer takes, and only to the formats it asks for.
"""

import bisect
from dataclasses import dataclass

import av
import cv2
import numpy as np

from djlite.errors import VideoError
from djlite.video.probe import VideoInfo, first_video_stream, open_container, probe_video
from djlite.video.sampling import FramePlan, FrameStamp, total_frames

# Containers whose packets carry real presentation timestamps and a keyframe index that seeking can use.
SEEKABLE_FORMATS = ("mov", "mp4", "matroska", "webm")
# Containers without presentation timestamps: frame times come from the frame count and the frame rate.
COUNTED_CLOCK_FORMATS = ("avi",)
# A plan is sparse enough to consider seeking when it wants fewer than 1 frame in this many.
SPARSE_RATIO = 8
# Seeking must save at least this share of the frames a sequential pass decodes.
MIN_SEEK_SAVING = 0.25
# What one seek costs, in decoded frames (demuxer repositioning, decoder flush and refill).
SEEK_COST_FRAMES = 4


class FrameConsumer:
    """Receives the frames of `plan` in presentation order, then gives a result. Ops subclass it.

    Any object with `plan`, `feed(frame)` and `result()` works as a consumer.
    """

    def __init__(self, plan: FramePlan):
        self.plan = plan

    def feed(self, frame: "DecodedFrame") -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError


class DecodedFrame:
    """One decoded frame served to consumers; pixel conversions are made on demand and cached.

    `frame` is the av.VideoFrame as coded; rgb(), bgr() and gray() are in display orientation (the stream's
    rotation metadata applied, as players and OpenCV show it). rgb() and bgr() are each swscale's own
    conversion of the frame, never derived from the other: for 10-bit sources the rgb24 and bgr24 paths differ
    (by up to 91 levels on torchcodec__h265_10bits.mp4), so deriving one from whichever an op asked for first
    made a frame's pixels depend on op order and on the stats cache (np 1 and np 2 wrote different JPEGs).
    """

    __slots__ = ("index", "time", "key", "frame", "rotation", "_rgb", "_bgr", "_gray", "__weakref__")

    def __init__(self, index: int, time: float, frame: av.VideoFrame, rotation: int = 0, key: bool = False):
        self.index = index
        self.time = time
        self.key = key
        self.frame = frame
        self.rotation = rotation
        self._rgb = self._bgr = self._gray = None

    def _display(self, image: np.ndarray) -> np.ndarray:
        # rotation is the display matrix's counter-clockwise angle (-90: show the picture turned clockwise).
        turns = (self.rotation // 90) % 4
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def rgb(self) -> np.ndarray:
        """HxWx3 uint8 RGB."""
        if self._rgb is None:
            self._rgb = self._display(self.frame.to_ndarray(format="rgb24"))
        return self._rgb

    def bgr(self) -> np.ndarray:
        """HxWx3 uint8 BGR, pixel-identical to what cv2.VideoCapture returns (same swscale conversion)."""
        if self._bgr is None:
            self._bgr = self._display(self.frame.to_ndarray(format="bgr24"))
        return self._bgr

    def gray(self) -> np.ndarray:
        """HxW uint8, cv2.cvtColor(BGR2GRAY) of bgr(): the grey picture OpenCV-based code sees."""
        if self._gray is None:
            self._gray = cv2.cvtColor(self.bgr(), cv2.COLOR_BGR2GRAY)
        return self._gray

    def __repr__(self):
        return f"DecodedFrame(index={self.index}, time={self.time:.4f}, key={self.key})"


@dataclass
class ReadReport:
    """What one read did; tests and benchmarks assert on it."""

    path: str
    strategy: str = ""
    frames_decoded: int = 0  # frames the decoder produced (including ones no consumer wanted)
    frames_delivered: int = 0  # distinct frames handed to at least one consumer
    packets: int = 0  # packets sent to the decoder
    bad_packets: int = 0  # packets the decoder rejected (skipped)
    seeks: int = 0
    fell_back: bool = False  # a seek could not be trusted; the read finished as a sequential pass
    ended_by: str | None = None  # why the pass stopped before the end of the stream, if it did
    threaded: bool = True  # decoded with frame and slice threads (see read_frames' `threads`)
    first_error: str | None = None
    table_frames: int | None = None  # frames listed by the demux-only pass, when one was made


@dataclass
class _FrameTable:
    """Every frame's timestamp and keyframe flag, from a demux-only pass: presentation order."""

    pts: list[int]
    key: list[bool]
    times: list[float]

    def __post_init__(self):
        self.index_of = {p: i for i, p in enumerate(self.pts)}

    def stamps(self):
        n = len(self.pts)
        for i in range(n):
            yield FrameStamp(i, self.times[i], self.key[i], self.times[i + 1] if i + 1 < n else None)


def _format_family(info: VideoInfo) -> set[str]:
    return set(info.container.split(","))


def seekable_container(format_name: str) -> bool:
    """True for containers (a demuxer's comma-separated names) whose timestamps and keyframe index a seek can
    trust (SEEKABLE_FORMATS). Not MXF, for one: after any seek its demuxer stamps every packet a frame late."""
    return bool(set(format_name.split(",")) & set(SEEKABLE_FORMATS))


def is_seekable(info: VideoInfo) -> bool:
    return seekable_container(info.container)


def uses_counted_clock(info: VideoInfo) -> bool:
    """True for containers without presentation timestamps (COUNTED_CLOCK_FORMATS): frame times are counted."""
    return info.fps > 0 and bool(_format_family(info) & set(COUNTED_CLOCK_FORMATS))


class FrameClock:
    """Presentation times for a sequential pass: strictly increasing seconds from the first frame (from `origin`,
    a pts, when the caller sets it: a pass that starts after a seek)."""

    def __init__(self, info: VideoInfo, counted: bool):
        self.time_base = info.time_base
        self.fps = info.fps
        self.counted = counted
        self.origin = None
        self.previous = None

    def time(self, frame: av.VideoFrame, index: int) -> float:
        if self.counted:
            return index / self.fps
        stamp = frame.pts if frame.pts is not None else frame.dts
        if stamp is None:
            t = None
        else:
            if self.origin is None:
                self.origin = stamp
            t = float((stamp - self.origin) * self.time_base)
        if self.previous is not None and (t is None or t <= self.previous):
            # Missing or repeated timestamps (broken muxers): keep the order the decoder gave.
            t = self.previous + (1.0 / self.fps if self.fps > 0 else 1e-3)
        self.previous = t if t is not None else 0.0
        return self.previous


class _Reader:
    def __init__(self, info: VideoInfo, consumers: list, strategy: str, threads: bool = True):
        self.info = info
        self.consumers = consumers
        self.strategy = strategy
        self.threads = threads
        self.report = ReadReport(path=info.path, threaded=threads)
        self.last_delivered = -1

    # -------------------------------------------------------------- decoding primitives

    def _open(self):
        container = open_container(self.info.path)
        stream = first_video_stream(container, self.info.path)
        if self.threads:
            stream.thread_type = "AUTO"
        return container, stream

    def _note_error(self, error: Exception) -> None:
        if self.report.first_error is None:
            self.report.first_error = f"{type(error).__name__}: {error}"

    def _frames(self, container, stream, keyframes_only: bool = False):
        """Decoded frames in presentation order; bad packets skipped, a demuxer error ends the stream."""
        codec = stream.codec_context
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or (keyframes_only and not packet.is_keyframe):
                    continue
                self.report.packets += 1
                try:
                    frames = codec.decode(packet)
                    if keyframes_only:
                        # Each keyframe is decoded on its own: drained, then the decoder reset. Fed only
                        # keyframes, an HEVC decoder otherwise reorders or drops them (scav__h265.mp4).
                        frames += codec.decode(None)
                        codec.flush_buffers()
                except av.FFmpegError as e:
                    self.report.bad_packets += 1
                    self._note_error(e)
                    continue
                for frame in frames:
                    self.report.frames_decoded += 1
                    yield frame
        except (av.FFmpegError, OSError) as e:
            self.report.ended_by = f"demuxer error after {self.report.packets} packets ({type(e).__name__}: {e})"
            self._note_error(e)
        try:
            frames = codec.decode(None)
        except av.FFmpegError as e:
            self._note_error(e)
            frames = []
        for frame in frames:
            self.report.frames_decoded += 1
            yield frame

    def _deliver(self, frame: av.VideoFrame, index: int, time: float, key: bool, takers: list) -> None:
        decoded = DecodedFrame(index, time, frame, self.info.rotation, key)
        self.report.frames_delivered += 1
        self.last_delivered = index
        for consumer in takers:
            consumer.feed(decoded)

    def _table(self, container, stream) -> _FrameTable | None:
        """Timestamps and keyframe flags of every packet, read without decoding; None if unusable."""
        entries = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    return None
                entries.append((stamp, bool(packet.is_keyframe)))
        except (av.FFmpegError, OSError):
            pass  # a truncated file: the table lists what the demuxer could read, like a sequential pass
        if not entries:
            return None
        entries.sort()
        pts = [e[0] for e in entries]
        if len(set(pts)) != len(pts):
            return None  # repeated timestamps: frames cannot be told apart by pts
        if uses_counted_clock(self.info):
            times = [i / self.info.fps for i in range(len(pts))]
        else:
            origin, time_base = pts[0], self.info.time_base
            times = [float((p - origin) * time_base) for p in pts]
        table = _FrameTable(pts=pts, key=[e[1] for e in entries], times=times)
        self.report.table_frames = len(pts)
        return table

    # -------------------------------------------------------------- strategies

    def run(self) -> ReadReport:
        strategy = self._choose()
        table = None
        if strategy in ("seek", "keyframes"):
            container, stream = self._open()
            with container:
                table = self._table(container, stream)
            if table is None or not any(table.key):
                # No usable index, or a demuxer that flags no keyframes: a plain pass decides from the frames.
                strategy, table = "sequential", None
        if strategy == "seek" and table is not None and self._truncated(table):
            strategy, table = "sequential", None
        if table is not None:
            wanted = self._wanted(table)
            if strategy == "seek":
                opening_end, runs, cost = self._plan_runs(table, wanted)
                cheaper = runs and cost <= (1 - MIN_SEEK_SAVING) * (wanted["last"] + 1)
                if self.strategy == "auto" and not cheaper:
                    strategy = "sequential"
        self.report.strategy = strategy
        container, stream = self._open()
        with container:
            if strategy == "sequential":
                self._read_sequential(container, stream)
            elif strategy == "keyframes":
                self._read_keyframes(container, stream, table, wanted)
            else:
                self._read_seeking(container, stream, table, wanted, opening_end, runs)
        if self.report.frames_decoded == 0:
            reason = f" ({self.report.first_error})" if self.report.first_error else ""
            raise VideoError(f"no decodable video frame in the {self.info.codec} stream{reason}: {self.info.path}")
        return self.report

    def _truncated(self, table: _FrameTable) -> bool:
        """The header counts more frames than the file holds: its last frames may not decode, and "the last
        frame" is the last one that does, which only a sequential pass can tell."""
        return bool(self.info.frame_count) and len(table.pts) < self.info.frame_count - 1

    def _choose(self) -> str:
        if self.strategy != "auto":
            return self.strategy
        plans = [c.plan for c in self.consumers]
        if all(p.keyframes_only for p in plans):
            return "keyframes"
        wanted = sum(p.estimate(self.info) for p in plans)
        if is_seekable(self.info) and wanted * SPARSE_RATIO < total_frames(self.info):
            return "seek"
        return "sequential"

    def _read_sequential(self, container, stream, table: _FrameTable | None = None, wanted=None) -> None:
        """Decode from the start. With a table (a seek fell back), deliver its wanted frames not yet delivered."""
        selectors = [c.plan.selector(self.info) for c in self.consumers]
        clock = FrameClock(self.info, uses_counted_clock(self.info))
        pending = None
        index = 0
        for frame in self._frames(container, stream):
            if table is not None:
                self._deliver_from_table(frame, table, wanted)
                if self.last_delivered >= wanted["last"]:
                    return
                continue
            time = clock.time(frame, index)
            if pending is not None:
                self._offer(pending, time, selectors)
                if all(s.done for s in selectors):
                    return
            pending = (frame, index, time)
            index += 1
        if pending is not None:
            self._offer(pending, None, selectors)

    def _offer(self, pending, next_time, selectors) -> None:
        frame, index, time = pending
        stamp = FrameStamp(index, time, bool(frame.key_frame), next_time)
        takers = [c for c, s in zip(self.consumers, selectors) if not s.done and s.select(stamp)]
        if takers:
            self._deliver(frame, index, time, stamp.key, takers)

    def _wanted(self, table: _FrameTable) -> dict:
        """{index: consumers wanting it} from each plan's selector run over the table; "last": max index."""
        wanted: dict = {}
        for consumer in self.consumers:
            selector = consumer.plan.selector(self.info)
            for stamp in table.stamps():
                if selector.done:
                    break
                if selector.select(stamp):
                    wanted.setdefault(stamp.index, []).append(consumer)
        indices = sorted(wanted)
        return {"by_index": wanted, "sorted": indices, "last": indices[-1] if indices else -1}

    def _deliver_from_table(self, frame: av.VideoFrame, table: _FrameTable, wanted: dict) -> None:
        index = table.index_of.get(frame.pts)
        if index is None or index <= self.last_delivered:
            return
        takers = wanted["by_index"].get(index)
        if takers:
            self._deliver(frame, index, table.times[index], table.key[index], takers)

    def _read_keyframes(self, container, stream, table: _FrameTable, wanted: dict) -> None:
        # Only keyframe packets reach the decoder; it never sees (or spends time on) the frames between.
        for frame in self._frames(container, stream, keyframes_only=True):
            self._deliver_from_table(frame, table, wanted)

    def _plan_runs(self, table: _FrameTable, wanted: dict) -> tuple[int, list[tuple[int, int]], int]:
        """(last index of the opening run, [(keyframe to seek to, last index of its run)], frames to decode).

        Greedy: a wanted frame starts a new run at its keyframe when that keyframe lies more than a seek's
        cost ahead of the decoder's position; otherwise the current run decodes on up to it.
        """
        keys = [i for i, k in enumerate(table.key) if k]
        opening_end = 0  # the first frame is always decoded (see the module docstring)
        runs: list[list[int]] = []
        position, cost = 0, 1
        for w in wanted["sorted"]:
            k = keys[bisect.bisect_right(keys, w) - 1] if keys and keys[0] <= w else 0
            if k > position + SEEK_COST_FRAMES:
                runs.append([k, w])
                cost += SEEK_COST_FRAMES + w - k + 1
            else:
                if runs:
                    runs[-1][1] = w
                else:
                    opening_end = w
                cost += max(0, w - position)
            position = max(position, w)
        return opening_end, [(k, w) for k, w in runs], cost

    def _read_seeking(self, container, stream, table: _FrameTable, wanted: dict, opening_end: int, runs) -> None:
        for frame in self._frames(container, stream):
            index = table.index_of.get(frame.pts)
            if index is None:
                return self._fall_back(table, wanted)
            self._deliver_from_table(frame, table, wanted)
            if index >= opening_end:
                break
        for start, end in runs:
            if self.last_delivered >= wanted["last"]:
                return
            try:
                # By pts: MP4 and Matroska both search their index by presentation time (dts lands a GOP early).
                container.seek(table.pts[start], stream=stream, backward=True, any_frame=False)
            except (av.FFmpegError, OSError) as e:
                self._note_error(e)
                return self._fall_back(table, wanted)
            self.report.seeks += 1
            landed = False
            for frame in self._frames(container, stream):
                index = table.index_of.get(frame.pts)
                if index is None or (not landed and index > start):
                    return self._fall_back(table, wanted)  # unknown frame, or the seek overshot
                if index < start:
                    continue  # landed on an earlier keyframe, or leading frames of an open GOP
                if frame.is_corrupt or (not landed and not frame.key_frame):
                    return self._fall_back(table, wanted)  # decoding from here is not clean
                landed = True
                self._deliver_from_table(frame, table, wanted)
                if index >= end:
                    break
            if not landed:
                return self._fall_back(table, wanted)  # the seek gave no frame of its run

    def _fall_back(self, table: _FrameTable, wanted: dict) -> None:
        self.report.fell_back = True
        container, stream = self._open()
        with container:
            self._read_sequential(container, stream, table, wanted)


def read_frames(info: VideoInfo, consumers: list, strategy: str = "auto", threads: bool = True) -> ReadReport:
    """Decode `info.path` once and feed every consumer the frames of its plan, in presentation order.

    strategy: "auto" (cost-based), or force "sequential", "seek" or "keyframes" (tests and benchmarks).
    threads: decode with FFmpeg's frame and slice threads. On a valid stream the pixels are the same either
    way; where the decoder rejects packets (corrupt data), what it conceals depends on the number of threads,
    hence on the machine: `bad/derived__corrupt_middle_64KiB.mp4` gives different frames with 1, 2, 3 or 4
    threads. A caller that needs the same answer everywhere decodes such a file again without threads
    (VideoContext does).
    Raises VideoError when the file has no decodable frame.
    """
    if strategy not in ("auto", "sequential", "seek", "keyframes"):
        raise ValueError(f"unknown read strategy {strategy!r}")
    if strategy == "keyframes" and not all(c.plan.keyframes_only for c in consumers):
        raise ValueError("the keyframes strategy serves only keyframes() plans")
    if not consumers:
        return ReadReport(path=info.path, strategy="none")
    return _Reader(info, list(consumers), strategy, threads).run()


class CollectFrames(FrameConsumer):
    """Keeps every frame it is fed (tests and tools; an op should keep only what it needs)."""

    def __init__(self, plan: FramePlan):
        super().__init__(plan)
        self.frames: list[DecodedFrame] = []

    def feed(self, frame: DecodedFrame) -> None:
        self.frames.append(frame)

    def result(self) -> list[DecodedFrame]:
        return self.frames


def decode_plan(path: str, plan: FramePlan, strategy: str = "auto") -> list[DecodedFrame]:
    """The frames of `plan` in one video (convenience for tests and tools)."""
    collector = CollectFrames(plan)
    read_frames(probe_video(path), [collector], strategy=strategy)
    return collector.result()
