"""Frames for the records, taken from the recipe's own decode and spooled to disk until the export writes them.

`ExportFrames` is a mapper the executor appends right after the last op that reads frames (see
`djlite.core.plan.with_export_frames`), so it joins that op's stage: the stage's VideoContext feeds its
`FrameSpooler` from the same single decode as the filters, and no video is read a second time. The spooler
encodes each frame of its plan (JPEG, or raw RGB for video2tfrecord) as it arrives and appends it to one spool
file per video (created with an unpredictable name in the spool folder); it keeps only offsets and lengths, and
for optical flow the previous grey frame, so memory does not grow with the video's length. The sample gets a
small column, `__dj__export_frames__`, that points into the spool; samples dropped later (a deduplicator)
simply leave their spool unused, and the whole spool folder is removed when the export ends.
"""

import math
import os
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np
from datasets import List, Value

from djlite.fields import Fields
from djlite.formats.mediasequence import RecordError
from djlite.ops.base import Mapper
from djlite.video.reader import DecodedFrame, FrameConsumer
from djlite.video.sampling import (
    EPSILON,
    FramePlan,
    _TargetSelector,
    all_frames,
    fps,
    total_frames,
    uniform,
)

EXPORT_FRAMES = Fields.export_frames

SPOOL_FEATURE = List(
    {
        "path": Value("string"),
        "spool": Value("string"),
        "timestamps": List(Value("int64")),
        "offsets": List(Value("int64")),
        "lengths": List(Value("int64")),
        "flow_timestamps": List(Value("int64")),
        "flow_offsets": List(Value("int64")),
        "flow_lengths": List(Value("int64")),
        "height": Value("int64"),
        "width": Value("int64"),
        "channels": Value("int64"),
        "duration_us": Value("int64"),
    }
)


@dataclass(frozen=True)
class EvenSpreadPlan(FramePlan):
    """n frames at the centres of n equal bins of the stream's frames: indices floor((i + 1/2) * T / n).

    Unlike video2tfrecord's step floor(T / n), which never reaches the tail, the bins cover the whole video.
    T is the header's frame count (or duration x fps); when the stream ends before a target (a header that
    over-counts), that target resolves to the last decodable frame, taken once: the record then holds fewer
    than n frames, never a zero-filled one.
    """

    n: int
    segment: float | None = None

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"num_frames must be a positive integer, got {self.n!r}")

    def _window(self, info, start, span):
        count = total_frames(info)
        targets = sorted({math.floor((i + 0.5) * count / self.n) for i in range(min(self.n, count))})
        return _TargetSelector(targets, by_index=True)

    def estimate(self, info):
        return self.n


def resize_frame(image: np.ndarray, short_side: int | None, fit: tuple[int, int] | None) -> np.ndarray:
    """Aspect-preserving resize: the short side becomes `short_side`, or the frame fits inside fit=(w, h)."""
    height, width = image.shape[:2]
    if short_side:
        scale = short_side / min(height, width)
    elif fit:
        scale = min(fit[0] / width, fit[1] / height)
    else:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


FLOW_BOUND = 20.0  # MediaPipe's FlowToImageCalculator range: [-20, 20] pixels mapped linearly to 0..255


def flow_image(previous_gray: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """Farneback flow (OpenCV's recommended settings) as MediaPipe's flow image: R = dx, G = dy, B = 0."""
    flow = cv2.calcOpticalFlowFarneback(previous_gray, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    scaled = (np.clip(flow, -FLOW_BOUND, FLOW_BOUND) + FLOW_BOUND) * (255.0 / (2 * FLOW_BOUND))
    image = np.zeros(flow.shape[:2] + (3,), np.uint8)
    image[..., 0:2] = np.round(scaled).astype(np.uint8)
    return image


def flow_gray(previous_gray: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """video2tfrecord's 4th channel, made sane: the flow magnitude, clipped at 20 px, as 0..255."""
    flow = cv2.calcOpticalFlowFarneback(previous_gray, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    return np.round(np.clip(magnitude, 0, FLOW_BOUND) * (255.0 / FLOW_BOUND)).astype(np.uint8)


@dataclass(frozen=True)
class SpoolSettings:
    """What the spooler makes of each frame; built by the export layout from its options."""

    plan: FramePlan
    payload: str = "jpeg"  # "jpeg" or "raw" (RGB bytes; video2tfrecord)
    jpeg_quality: int = 80
    resize_short_side: int | None = None
    resize_fit: tuple[int, int] | None = None
    flow: str | None = None  # None, "image" (MediaSequence FORWARD_FLOW) or "channel" (video2tfrecord 4th)
    window: tuple[float | None, float | None] = (None, None)  # seconds, start inclusive, end exclusive


class FrameSpooler(FrameConsumer):
    def __init__(self, settings: SpoolSettings, spool_dir: str, info):
        super().__init__(settings.plan)
        self.settings = settings
        self.spool_dir = spool_dir
        self.info = info
        self.file = None
        self.spool_path = None
        self.offset = 0
        self.entries = {"timestamps": [], "offsets": [], "lengths": []}
        self.flow_entries = {"timestamps": [], "offsets": [], "lengths": []}
        self.previous_gray = None
        self.shape = (0, 0, 0)

    def _append(self, data: bytes, entries: dict, time_us: int) -> None:
        if self.file is None:
            os.makedirs(self.spool_dir, exist_ok=True)
            fd, self.spool_path = tempfile.mkstemp(prefix="frames.", suffix=".spool", dir=self.spool_dir)
            self.file = os.fdopen(fd, "wb")
        self.file.write(data)
        entries["timestamps"].append(time_us)
        entries["offsets"].append(self.offset)
        entries["lengths"].append(len(data))
        self.offset += len(data)

    def _encode(self, image: np.ndarray) -> bytes:
        """RGB(A) raw bytes, or a JPEG of a BGR image (OpenCV's channel order: no conversion before encoding)."""
        if self.settings.payload == "raw":
            return np.ascontiguousarray(image).tobytes()
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.settings.jpeg_quality])
        if not ok:
            raise RecordError("JPEG encoding failed")
        return data.tobytes()

    def feed(self, frame: DecodedFrame) -> None:
        start, end = self.settings.window
        if (start is not None and frame.time + EPSILON < start) or (end is not None and frame.time + EPSILON >= end):
            return
        time_us = round(frame.time * 1e6)
        raw = self.settings.payload == "raw"
        image = resize_frame(
            frame.rgb() if raw else frame.bgr(), self.settings.resize_short_side, self.settings.resize_fit
        )
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if raw else cv2.COLOR_BGR2GRAY) if self.settings.flow else None
        if self.settings.flow == "channel":
            previous = self.previous_gray
            flow = np.zeros(image.shape[:2], np.uint8) if previous is None else flow_gray(previous, gray)
            image = np.dstack([image, flow])
        elif self.settings.flow == "image" and self.previous_gray is not None:
            # Forward flow from the previous exported frame to this one, stamped at the previous frame.
            flow = cv2.cvtColor(flow_image(self.previous_gray, gray), cv2.COLOR_RGB2BGR)
            self._append(self._encode(flow), self.flow_entries, self._last_time)
        self.previous_gray = gray
        self._last_time = time_us
        self.shape = image.shape if image.ndim == 3 else image.shape + (1,)
        self._append(self._encode(image), self.entries, time_us)

    def result(self) -> dict:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.previous_gray = None
        return {
            "path": self.info.path,
            "spool": self.spool_path,
            "timestamps": self.entries["timestamps"],
            "offsets": self.entries["offsets"],
            "lengths": self.entries["lengths"],
            "flow_timestamps": self.flow_entries["timestamps"],
            "flow_offsets": self.flow_entries["offsets"],
            "flow_lengths": self.flow_entries["lengths"],
            "height": int(self.shape[0]),
            "width": int(self.shape[1]),
            "channels": int(self.shape[2]),
            "duration_us": round(self.info.stream_duration * 1e6) if self.info.stream_duration else None,
        }


def plan_from_options(num_frames, rate: float | None, even: bool = False) -> FramePlan:
    if num_frames == "all":
        return all_frames()
    if num_frames is not None:
        return EvenSpreadPlan(int(num_frames)) if even else uniform(int(num_frames))
    return fps(rate)


class ExportFrames(Mapper):
    """Spools the export's frames from the stage's shared decode (internal: appended by the executor)."""

    _name = "export_frames"

    def __init__(self, layout=None, spool_dir: str = "", **kwargs):
        super().__init__(**kwargs)
        self.layout = layout
        self.spool_dir = spool_dir

    def setup(self) -> None:
        self.layout.setup()

    def frame_consumer(self, info) -> FrameSpooler:
        return FrameSpooler(self.layout.spool_settings(), self.spool_dir, info)

    def output_features(self, features):
        features = features.copy()
        features[EXPORT_FRAMES] = SPOOL_FEATURE
        return features

    def process(self, sample, context=None):
        spools = self.per_video(sample, context, self.frame_result)
        window = (sample.get("clip_start"), sample.get("clip_end"))
        if window != (None, None):
            spools = [in_window(spool, *window) for spool in spools]
        sample[EXPORT_FRAMES] = spools
        # Whatever would make an invalid record fails here, as this sample's error, not in the writer.
        self.layout.validate(sample, spools)
        return sample


def in_window(spool: dict, start: float | None, end: float | None) -> dict:
    """The spool entries of a sample's own clip window [start, end) in seconds (fields clip_start / clip_end).

    The decode is shared by the video's samples and the stage's ops, so the plan covers the whole video and a
    sample's window is applied here; a flow image is kept when both of its frames are.
    """
    low = -math.inf if start is None else round(float(start) * 1e6)
    high = math.inf if end is None else round(float(end) * 1e6)
    keep = [i for i, t in enumerate(spool["timestamps"]) if low <= t < high]
    flow_starts = {spool["timestamps"][i] for i in keep[:-1]}
    flow_keep = [i for i, t in enumerate(spool["flow_timestamps"]) if t in flow_starts]
    out = dict(spool)
    for prefix, indices in (("", keep), ("flow_", flow_keep)):
        for key in ("timestamps", "offsets", "lengths"):
            out[prefix + key] = [spool[prefix + key][i] for i in indices]
    return out
