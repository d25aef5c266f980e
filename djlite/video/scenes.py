"""Scene cuts from the frames of the shared decode, as PySceneDetect's detectors find them.

`SceneCuts` is a frame consumer over every frame of a video (djlite.video.reader). For `ContentDetector` (the
default) it is djlite's own implementation of PySceneDetect's (0.6-0.7) definition, step for step:

- each frame is downscaled as `scenedetect.detect` does (auto downscale: factor width/256 when the frame is at
  least 256 wide; `cv2.resize` to (round(w/f), round(h/f)), INTER_LINEAR);
- converted BGR -> HSV with OpenCV; the frame score is the weighted mean of the mean absolute differences of
  hue, saturation and value between consecutive frames (weights 1, 1, 1; `luma_only`: value only);
- a frame whose score is >= threshold is a cut candidate; the flash filter in its MERGE mode enforces
  `min_scene_len` (frames) as PySceneDetect's FlashFilter does;
- scenes run from cut to cut, the first from frame 0, the last to the last frame + 1 (`start_in_scene=True`).

The frames are the reader's BGR frames, pixel-identical to OpenCV's VideoCapture (same swscale conversion), so
the cuts equal `scenedetect.detect(path, ContentDetector(...))`; tests/test_video_split_by_scene_mapper.py
checks that where `scenedetect` is installed. `scenedetect` is not a dependency: its wheel requires
`opencv-python`, a second cv2 beside the project's `opencv-python-headless`. `AdaptiveDetector` and
`ThresholdDetector` use PySceneDetect's own classes on the same frames and need it installed without its
dependencies: `pip install --no-deps scenedetect`.
"""

import cv2
import numpy as np

from djlite.video.reader import DecodedFrame, FrameConsumer
from djlite.video.sampling import all_frames

DETECTORS = ("ContentDetector", "AdaptiveDetector", "ThresholdDetector")
MIN_WIDTH = 256  # scenedetect.scene_manager.DEFAULT_MIN_WIDTH


def downscale(image: np.ndarray) -> np.ndarray:
    """The frame as `scenedetect.detect`'s auto downscale gives it to the detectors."""
    height, width = image.shape[:2]
    if width < MIN_WIDTH:
        return image
    factor = width / float(MIN_WIDTH)
    if factor <= 1.0:
        return image
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


class MergeFlashFilter:
    """PySceneDetect's FlashFilter in MERGE mode with a length in frames: cuts closer than `length` merge."""

    def __init__(self, length: int):
        self.length = int(length)
        self.last_above = None
        self.merge_enabled = False
        self.merge_triggered = False
        self.merge_start = None

    def filter(self, index: int, above: bool) -> list[int]:
        if self.length <= 0:
            return [index] if above else []
        if self.last_above is None:
            self.last_above = index
        length_met = index - self.last_above >= self.length
        if above:
            self.last_above = index
        if self.merge_triggered:
            if length_met and not above and self.last_above - self.merge_start >= self.length:
                self.merge_triggered = False
                return [self.last_above]
            return []
        if not above:
            return []
        if length_met:
            self.merge_enabled = True
            return [index]
        if self.merge_enabled:
            self.merge_triggered = True
            self.merge_start = index
        return []


def _mean_distance(left: np.ndarray, right: np.ndarray) -> float:
    return float(np.sum(np.abs(left.astype(np.int32) - right.astype(np.int32))) / float(left.size))


class ContentScores:
    """PySceneDetect's ContentDetector without the edge component (weight 0 by default)."""

    def __init__(self, threshold: float, min_scene_len: int, luma_only: bool = False, weights=None):
        weights = tuple(weights) if weights is not None else (1.0, 1.0, 1.0, 0.0)
        if luma_only:
            weights = (0.0, 0.0, 1.0, 0.0)
        if len(weights) != 4 or weights[3]:
            raise ValueError(f"weights must be (hue, sat, lum, 0.0) without PySceneDetect, got {weights}")
        self.weights = weights[:3]
        self.threshold = threshold
        self.flash = MergeFlashFilter(min_scene_len)
        self.last = None

    def process(self, index: int, bgr: np.ndarray) -> list[int]:
        channels = cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))
        if self.last is None:
            self.last = channels
            score = 0.0
        else:
            deltas = [_mean_distance(now, before) for now, before in zip(channels, self.last)]
            score = sum(d * w for d, w in zip(deltas, self.weights)) / sum(abs(w) for w in self.weights)
            self.last = channels
        return self.flash.filter(index, score >= self.threshold)

    def finish(self, index: int) -> list[int]:
        return []


class PySceneDetectDetector:
    """One of PySceneDetect's own detector classes, fed the shared decode's frames."""

    def __init__(self, name: str, threshold: float, min_scene_len: int, fps: float, **kwargs):
        try:
            import scenedetect
        except ImportError:
            raise ValueError(
                f"detector {name!r} needs PySceneDetect: pip install --no-deps scenedetect "
                "(--no-deps keeps the project's opencv-python-headless as the only cv2)"
            ) from None
        self.timecode = scenedetect.FrameTimecode
        self.fps = fps if fps > 0 else 25.0
        self.detector = getattr(scenedetect, name)(threshold, min_scene_len, **kwargs)

    def process(self, index: int, bgr: np.ndarray) -> list[int]:
        cuts = self.detector.process_frame(self.timecode(index, self.fps), bgr)
        return [int(c.frame_num) if hasattr(c, "frame_num") else int(c) for c in cuts]

    def finish(self, index: int) -> list[int]:
        cuts = self.detector.post_process(self.timecode(index, self.fps)) or []
        return [int(c.frame_num) if hasattr(c, "frame_num") else int(c) for c in cuts]


def make_detector(name: str, threshold: float, min_scene_len: int, fps: float, kwargs: dict):
    if name not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {name!r}")
    weights = (0.0, 0.0, 1.0, 0.0) if kwargs.get("luma_only") else kwargs.get("weights")
    no_edges = not (weights is not None and len(weights) > 3 and weights[3])
    # kernel_size only shapes the edge component: without an edge weight it changes nothing.
    own = not set(kwargs) - {"luma_only", "weights", "kernel_size"} and no_edges
    kwargs = {k: v for k, v in kwargs.items() if k != "kernel_size"} if own else kwargs
    if name == "ContentDetector" and own:
        return ContentScores(threshold, min_scene_len, **kwargs)
    return PySceneDetectDetector(name, threshold, min_scene_len, fps, **kwargs)


class SceneCuts(FrameConsumer):
    """Every frame of a video -> [(first frame, end frame, start s, end s)] per scene (end exclusive)."""

    def __init__(self, detector_factory, fps: float):
        super().__init__(all_frames())
        self.detector = detector_factory()
        self.cuts: list[int] = []
        self.times: list[float] = []
        self.fps = fps

    def feed(self, frame: DecodedFrame) -> None:
        self.times.append(frame.time)
        self.cuts.extend(self.detector.process(len(self.times) - 1, downscale(frame.bgr())))

    def result(self) -> list[tuple[int, int, float, float]]:
        frames = len(self.times)
        if not frames:
            return []
        self.cuts.extend(self.detector.finish(frames - 1))
        bounds = [0] + sorted(c for c in set(self.cuts) if 0 < c < frames) + [frames]
        step = (self.times[-1] - self.times[-2]) if frames > 1 else (1.0 / self.fps if self.fps > 0 else 0.04)
        end_time = self.times[-1] + step
        scenes = []
        for first, end in zip(bounds, bounds[1:]):
            scenes.append((first, end, self.times[first], self.times[end] if end < frames else end_time))
        return scenes
