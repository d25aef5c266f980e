"""MediaPipe MediaSequence records: one tf.train.SequenceExample per clip, with MediaPipe's exact keys.

`build_media_sequence` is a pure function from a clip's frames and annotations to (context, feature_lists); the
reconciliation follows MediaPipe's media_sequence.cc:

- `image/format` from the magic bytes of frame 0 (PNG: `\\x89PNG`; JPEG: starts FF D8 and ends FF D9; else
  UNKNOWN); `image/height`, `image/width`, `image/channels` from decoding frame 0.
- `segment/{start,end}/index`: the index of the nearest `image/timestamp` (relative to the clip's frames).
- boxes: each annotated time maps to the nearest frame; when several map to one frame only the closest is kept
  (as in MediaPipe; the number lost is reported). Every frame gets a `region/*` entry: frames without boxes
  get empty lists with `region/is_annotated` 0 and `region/num_regions` 0; `region/timestamp` is the frame's
  timestamp and the annotation's own time goes to `region/unmodified_timestamp`.
- `PREFIX/feature/floats` (optional per-step float vectors, e.g. frame embeddings, with their own
  `PREFIX/feature/timestamp`): `PREFIX/feature/dimensions` = [length of step 0] and `PREFIX/feature/rate` =
  1 / (t_1 - t_0), as ReconcileMetadataFeatureFloats.

One deliberate difference: `image/frame_rate` is the mean rate over all frames, (n - 1) / (t_last - t_0), not
MediaPipe's 1 / (t_1 - t_0): with frames picked from a grid on a video of another rate, the first gap alone
says little about the sequence.

Validation (a failure is a `RecordError`, which the exporter turns into an error record for the sample, never
a broken file): strictly increasing timestamps, boxes inside [0, 1] with ymin <= ymax and xmin <= xmax, segment
start <= end, label strings and indices of equal length.
"""

import bisect
import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from djlite.errors import SampleError
from djlite.formats.example import Blob, Feature, SpooledBytes, bytes_feature, float_feature, int64_feature

# Context
EXAMPLE_ID = "example/id"
EXAMPLE_DATASET_NAME = "example/dataset_name"
CLIP_DATA_PATH = "clip/data_path"
CLIP_START_TIMESTAMP = "clip/start/timestamp"
CLIP_END_TIMESTAMP = "clip/end/timestamp"
CLIP_LABEL_INDEX = "clip/label/index"
CLIP_LABEL_STRING = "clip/label/string"
CLIP_LABEL_CONFIDENCE = "clip/label/confidence"
SEGMENT_START_TIMESTAMP = "segment/start/timestamp"
SEGMENT_END_TIMESTAMP = "segment/end/timestamp"
SEGMENT_START_INDEX = "segment/start/index"
SEGMENT_END_INDEX = "segment/end/index"
SEGMENT_LABEL_INDEX = "segment/label/index"
SEGMENT_LABEL_STRING = "segment/label/string"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_CHANNELS = "image/channels"
IMAGE_FRAME_RATE = "image/frame_rate"
# Feature lists
IMAGE_ENCODED = "image/encoded"
IMAGE_TIMESTAMP = "image/timestamp"
BBOX_YMIN = "region/bbox/ymin"
BBOX_XMIN = "region/bbox/xmin"
BBOX_YMAX = "region/bbox/ymax"
BBOX_XMAX = "region/bbox/xmax"
REGION_TIMESTAMP = "region/timestamp"
REGION_UNMODIFIED_TIMESTAMP = "region/unmodified_timestamp"
REGION_IS_ANNOTATED = "region/is_annotated"
REGION_NUM_REGIONS = "region/num_regions"
REGION_LABEL_INDEX = "region/label/index"
REGION_LABEL_STRING = "region/label/string"
FORWARD_FLOW_PREFIX = "FORWARD_FLOW"
# Generic per-step float features, always under a prefix (PREFIX/feature/...)
FEATURE_FLOATS = "feature/floats"
FEATURE_TIMESTAMP = "feature/timestamp"
FEATURE_DIMENSIONS = "feature/dimensions"
FEATURE_RATE = "feature/rate"
# MediaPipe's stream-tag rule, which its prefixes follow: upper-case letters, digits and underscores.
PREFIX_PATTERN = re.compile(r"[A-Z_][A-Z0-9_]*")


def prefixed(prefix: str, key: str) -> str:
    """MediaPipe's merge_prefix: `PREFIX/key`, or the bare key for an empty prefix."""
    return f"{prefix}/{key}" if prefix else key


class RecordError(SampleError, ValueError):
    """A clip that cannot become a valid record (the sample becomes an error record)."""


@dataclass
class Region:
    timestamp_us: int
    bbox: tuple[float, float, float, float]  # ymin, xmin, ymax, xmax, normalised
    label: str | None = None
    index: int | None = None


@dataclass
class Segment:
    start_us: int
    end_us: int
    label: str | None = None
    index: int | None = None


@dataclass
class FloatFeatures:
    """One float vector a step under `PREFIX/feature/floats`, with its own timestamps (e.g. frame embeddings)."""

    prefix: str
    timestamps_us: list[int]
    vectors: np.ndarray  # (steps, dim)


@dataclass
class MediaSequenceRecord:
    context: dict
    feature_lists: dict
    lost_annotations: int = 0  # boxes dropped because a closer annotation mapped to the same frame
    notes: list = field(default_factory=list)


def _head_tail(payload) -> tuple[bytes, bytes]:
    data = payload.read() if isinstance(payload, Blob) else payload
    return data[:8], data[-2:]


def image_format(payload) -> str:
    head, tail = _head_tail(payload)
    if head.startswith(b"\x89PNG"):
        return "PNG"
    if head.startswith(b"\xff\xd8") and tail == b"\xff\xd9":
        return "JPEG"
    return "UNKNOWN"


def image_shape(payload) -> tuple[int, int, int]:
    data = payload.read() if isinstance(payload, Blob) else payload
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RecordError("frame 0 does not decode as an image")
    return image.shape[0], image.shape[1], 1 if image.ndim == 2 else image.shape[2]


def _check_increasing(name: str, timestamps: list[int]) -> None:
    for i in range(1, len(timestamps)):
        if timestamps[i] <= timestamps[i - 1]:
            raise RecordError(
                f"{name} must be strictly increasing: {timestamps[i - 1]} then {timestamps[i]} at position {i}"
            )


def nearest_index(timestamps: list[int], t: int) -> int:
    i = bisect.bisect_left(timestamps, t)
    if i == 0:
        return 0
    if i == len(timestamps):
        return len(timestamps) - 1
    return i if timestamps[i] - t < t - timestamps[i - 1] else i - 1


def _label_features(pairs: list[tuple[str | None, int | None]], string_key: str, index_key: str) -> dict:
    """Both lists when every label has both; else only the complete one (lists must be of equal length)."""
    out = {}
    if pairs and all(s is not None for s, _ in pairs):
        out[string_key] = bytes_feature([s for s, _ in pairs])
    if pairs and all(i is not None for _, i in pairs):
        out[index_key] = int64_feature([i for _, i in pairs])
    return out


def build_media_sequence(
    *,
    example_id: str,
    data_path: str,
    timestamps_us: list[int],
    images: list,
    clip_start_us: int | None = None,
    clip_end_us: int | None = None,
    clip_labels: list[tuple[str | None, int | None]] = (),
    clip_confidences: list[float] | None = None,
    segments: list[Segment] = (),
    regions: list[Region] = (),
    flow_timestamps_us: list[int] | None = None,
    flow_images: list | None = None,
    dataset_name: str | None = None,
    float_features: list[FloatFeatures] = (),
) -> MediaSequenceRecord:
    """The SequenceExample of one clip. `images`: encoded frames (bytes or Blob, or a SpooledBytes), one a timestamp."""
    timestamps_us = [int(t) for t in timestamps_us]
    if len(images) != len(timestamps_us):
        raise RecordError(f"{len(images)} images for {len(timestamps_us)} timestamps")
    if not images:
        raise RecordError("no frame of the clip was decoded; nothing to export")
    _check_increasing(IMAGE_TIMESTAMP, timestamps_us)

    context: dict = {
        EXAMPLE_ID: bytes_feature(example_id),
        CLIP_DATA_PATH: bytes_feature(data_path),
    }
    if dataset_name:
        context[EXAMPLE_DATASET_NAME] = bytes_feature(dataset_name)
    if clip_start_us is not None:
        context[CLIP_START_TIMESTAMP] = int64_feature(int(clip_start_us))
    if clip_end_us is not None:
        context[CLIP_END_TIMESTAMP] = int64_feature(int(clip_end_us))
    if clip_start_us is not None and clip_end_us is not None and clip_end_us < clip_start_us:
        raise RecordError(f"clip end {clip_end_us} us is before its start {clip_start_us} us")
    context.update(_label_features(list(clip_labels), CLIP_LABEL_STRING, CLIP_LABEL_INDEX))
    if clip_confidences is not None:
        if len(clip_confidences) != len(clip_labels):
            raise RecordError(f"{len(clip_confidences)} label confidences for {len(clip_labels)} clip labels")
        context[CLIP_LABEL_CONFIDENCE] = float_feature(list(clip_confidences))

    height, width, channels = image_shape(images[0])
    context[IMAGE_FORMAT] = bytes_feature(image_format(images[0]))
    context[IMAGE_HEIGHT] = int64_feature(height)
    context[IMAGE_WIDTH] = int64_feature(width)
    context[IMAGE_CHANNELS] = int64_feature(channels)
    if len(timestamps_us) > 1:
        rate = (len(timestamps_us) - 1) * 1e6 / (timestamps_us[-1] - timestamps_us[0])
        context[IMAGE_FRAME_RATE] = float_feature(rate)
    feature_lists: dict = {
        IMAGE_ENCODED: images if isinstance(images, SpooledBytes) else [Feature("bytes", [i]) for i in images],
        IMAGE_TIMESTAMP: [int64_feature(t) for t in timestamps_us],
    }

    if segments:
        for s in segments:
            if s.end_us < s.start_us:
                raise RecordError(f"segment end {s.end_us} us is before its start {s.start_us} us")
        context[SEGMENT_START_TIMESTAMP] = int64_feature([s.start_us for s in segments])
        context[SEGMENT_END_TIMESTAMP] = int64_feature([s.end_us for s in segments])
        context[SEGMENT_START_INDEX] = int64_feature([nearest_index(timestamps_us, s.start_us) for s in segments])
        context[SEGMENT_END_INDEX] = int64_feature([nearest_index(timestamps_us, s.end_us) for s in segments])
        context.update(
            _label_features([(s.label, s.index) for s in segments], SEGMENT_LABEL_STRING, SEGMENT_LABEL_INDEX)
        )

    record = MediaSequenceRecord(context, feature_lists)
    if regions:
        _add_regions(record, timestamps_us, list(regions))
    if flow_images is not None:
        flow_ts = [int(t) for t in flow_timestamps_us or []]
        if len(flow_ts) != len(flow_images):
            raise RecordError(f"{len(flow_images)} flow images for {len(flow_ts)} flow timestamps")
        if flow_images:
            _check_increasing(prefixed(FORWARD_FLOW_PREFIX, IMAGE_TIMESTAMP), flow_ts)
            fh, fw, fc = image_shape(flow_images[0])
            context[prefixed(FORWARD_FLOW_PREFIX, IMAGE_FORMAT)] = bytes_feature(image_format(flow_images[0]))
            context[prefixed(FORWARD_FLOW_PREFIX, IMAGE_HEIGHT)] = int64_feature(fh)
            context[prefixed(FORWARD_FLOW_PREFIX, IMAGE_WIDTH)] = int64_feature(fw)
            context[prefixed(FORWARD_FLOW_PREFIX, IMAGE_CHANNELS)] = int64_feature(fc)
            flow_key = prefixed(FORWARD_FLOW_PREFIX, IMAGE_ENCODED)
            spooled = isinstance(flow_images, SpooledBytes)
            feature_lists[flow_key] = flow_images if spooled else [Feature("bytes", [f]) for f in flow_images]
            feature_lists[prefixed(FORWARD_FLOW_PREFIX, IMAGE_TIMESTAMP)] = [int64_feature(t) for t in flow_ts]
    for features in float_features:
        _add_float_features(record, features)
    return record


def _add_float_features(record: MediaSequenceRecord, features: FloatFeatures) -> None:
    """`PREFIX/feature/{floats,timestamp}` a step, and the context MediaPipe's ReconcileMetadataFeatureFloats
    derives: `PREFIX/feature/dimensions` = [length of step 0] and `PREFIX/feature/rate` = 1 / (t_1 - t_0)."""
    prefix = features.prefix
    if not PREFIX_PATTERN.fullmatch(prefix or ""):
        raise RecordError(f"feature prefix {prefix!r} must be upper-case letters, digits and underscores")
    vectors = np.asarray(features.vectors, dtype=np.float32)
    timestamps = [int(t) for t in features.timestamps_us]
    if vectors.ndim != 2 or len(vectors) != len(timestamps):
        raise RecordError(f"{prefix}: {vectors.shape} feature vectors for {len(timestamps)} timestamps")
    if not len(vectors):
        raise RecordError(f"{prefix}: no feature vector falls in the clip")
    _check_increasing(prefixed(prefix, FEATURE_TIMESTAMP), timestamps)
    record.feature_lists[prefixed(prefix, FEATURE_FLOATS)] = [float_feature(v.tolist()) for v in vectors]
    record.feature_lists[prefixed(prefix, FEATURE_TIMESTAMP)] = [int64_feature(t) for t in timestamps]
    record.context[prefixed(prefix, FEATURE_DIMENSIONS)] = int64_feature([vectors.shape[1]])
    if len(timestamps) > 1:
        record.context[prefixed(prefix, FEATURE_RATE)] = float_feature(1e6 / (timestamps[1] - timestamps[0]))


def _add_regions(record: MediaSequenceRecord, timestamps_us: list[int], regions: list[Region]) -> None:
    by_time: dict[int, list[Region]] = {}
    for r in regions:
        ymin, xmin, ymax, xmax = (float(v) for v in r.bbox)
        if not all(0.0 <= v <= 1.0 for v in (ymin, xmin, ymax, xmax)) or ymin > ymax or xmin > xmax:
            raise RecordError(
                f"box {list(r.bbox)} at {r.timestamp_us} us must be (ymin, xmin, ymax, xmax) inside [0, 1] "
                "with ymin <= ymax and xmin <= xmax"
            )
        by_time.setdefault(int(r.timestamp_us), []).append(r)
    # Nearest frame per annotated time; the closest annotation wins a frame (MediaPipe drops the others).
    per_frame: dict[int, tuple[int, int]] = {}
    lost = 0
    for t in sorted(by_time):
        i = nearest_index(timestamps_us, t)
        distance = abs(t - timestamps_us[i])
        if i not in per_frame:
            per_frame[i] = (distance, t)
        elif distance < per_frame[i][0]:
            lost += len(by_time[per_frame[i][1]])
            per_frame[i] = (distance, t)
        else:
            lost += len(by_time[t])
    record.lost_annotations = lost
    with_strings = all(r.label is not None for r in regions)
    with_indices = all(r.index is not None for r in regions)
    lists = {k: [] for k in (BBOX_YMIN, BBOX_XMIN, BBOX_YMAX, BBOX_XMAX, REGION_TIMESTAMP, REGION_IS_ANNOTATED)}
    lists[REGION_NUM_REGIONS] = []
    lists[REGION_UNMODIFIED_TIMESTAMP] = []
    if with_strings:
        lists[REGION_LABEL_STRING] = []
    if with_indices:
        lists[REGION_LABEL_INDEX] = []
    for i, t in enumerate(timestamps_us):
        boxes = by_time[per_frame[i][1]] if i in per_frame else []
        for key, column in zip((BBOX_YMIN, BBOX_XMIN, BBOX_YMAX, BBOX_XMAX), range(4)):
            lists[key].append(float_feature([float(b.bbox[column]) for b in boxes]))
        lists[REGION_TIMESTAMP].append(int64_feature(t))
        lists[REGION_UNMODIFIED_TIMESTAMP].append(int64_feature(per_frame[i][1] if i in per_frame else t))
        lists[REGION_IS_ANNOTATED].append(int64_feature(1 if boxes else 0))
        lists[REGION_NUM_REGIONS].append(int64_feature(len(boxes)))
        if with_strings:
            lists[REGION_LABEL_STRING].append(bytes_feature([b.label for b in boxes]))
        if with_indices:
            lists[REGION_LABEL_INDEX].append(int64_feature([b.index for b in boxes]))
    record.feature_lists.update(lists)
