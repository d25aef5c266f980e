import hashlib
import json
import math
import os
from typing import Literal

from datasets import List, Value

from djlite.errors import VideoError
from djlite.files import exclusive_temp, replace_with_bytes
from djlite.ops.base import Mapper, warn_ignored
from djlite.registry import register_op
from djlite.run_paths import produced_data_dir
from djlite.select.frames import DiverseCandidates, DiverseFramePick, picked_jpegs
from djlite.video.context import VideoContext
from djlite.video.jpeg import JpegFrames
from djlite.video.sampling import EPSILON, all_frames, fps, keyframes, uniform

OP_NAME = "video_extract_frames_mapper"
BOOKKEEPING = ".djlite_frames"  # per frame folder: who owns it (.claim) and that it is complete (.json)
TIMES_SUFFIX = "_timestamps"  # diverse sampling: `<frame_field>_timestamps` holds the picked frames' times


def _claim(claim_path: str, key: str) -> bool:
    """Atomically claim a frame folder for `key`; True when it is (now or already) this key's."""
    tmp = exclusive_temp(claim_path)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(key)
    try:
        os.link(tmp, claim_path)  # fails if the claim exists: the first writer wins, with its whole key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(claim_path, encoding="utf-8") as f:
        return f.read() == key


@register_op(OP_NAME)
class VideoExtractFramesMapper(Mapper):
    """Extract frames of each video into `frame_field`: JPEG file paths, or JPEG bytes.

    `frame_field` (Data-Juicer 1.6's name; `frame_key`, the older one, is accepted too; default
    `video_frames`, a top-level column as in Data-Juicer) holds one list of frames per entry of `videos`, in
    the same order. Sampling (`frame_sampling_method`): `all_keyframes` (only the keyframes are decoded),
    `uniform` (`frame_num` frames, Data-Juicer's targets: first and last frame included), `fps` (a
    `sampling_fps` time grid) or `all`. With `duration` > 0 the method applies to each `duration`-second
    segment on its own, and, as in Data-Juicer, only whole segments count: a video of D seconds has
    len(arange(0, D, duration)) - 1 segments, so the final partial one (and a video shorter than `duration`)
    gives no frames. `keep_partial_segment: true` samples it too. On Data-Juicer's test videos (11.75 s,
    23.17 s, 49.58 s) uniform `frame_num` 3, `duration` 10 gives Data-Juicer's 3 / 6 / 12 frames (6 / 9 / 15
    with the partial segment); `all_keyframes` with `duration` 5 gives 4 / 5 / 13 (5 / 7 / 15); without
    `duration`, `all_keyframes` gives 3 / 3 / 6. Frames come from the original stream, not from re-encoded
    segment cuts; within a segment, the segment's first frame counts as a keyframe (Data-Juicer's cut makes it
    one).

    Frame files go to `<frame_dir>/<video stem>/frame_<i>.jpg`, Data-Juicer's layout. Where Data-Juicer would
    mix two videos' frames in one folder (the same file name in two folders, a changed video, other sampling
    parameters), djlite gives the second one `<video stem>-<10 hex>/` (a hash of the video's absolute path,
    size, modification time and the sampling parameters): each folder is claimed atomically for one video and
    one sampling, so no frame is ever lost or stale. The claims and completion records live in
    `<frame_dir>/.djlite_frames/`; a folder is complete once its record is written, and a re-run then decodes
    and writes nothing. Every file is written to a temporary name (created exclusively, never through a
    planted link) and renamed, so a killed run never leaves a truncated JPEG that a re-run would trust; each
    frame is written as soon as it is decoded, so memory does not grow with the video's length. Without
    `frame_dir`: `<work_dir>/__dj__produced_data__/video_extract_frames_mapper` in a run (the work dir is the
    export's folder unless set), else, as in Data-Juicer, `__dj__produced_data__/video_extract_frames_mapper`
    beside each video.

    Other differences: every video of the sample is extracted, not only those a `<__dj__video>` token refers
    to, and a sample without videos keeps its fields (Data-Juicer returns an empty sample). Frames are in
    display orientation (rotation metadata applied) and encoded with OpenCV at `jpeg_quality` (75, PIL's
    default, which Data-Juicer uses). A sample that already has the frame field is left unchanged, as in
    Data-Juicer. `video_backend` and `legacy_split_by_text_token` are accepted and ignored with a warning.
    """

    results_by_content = False  # frame paths name the video's own folder

    def __init__(
        self,
        frame_sampling_method: Literal["all_keyframes", "uniform", "fps", "all", "diverse"] = "all_keyframes",
        output_format: Literal["path", "bytes"] = "path",
        frame_num: int = 3,
        sampling_fps: float = 1.0,
        duration: float = 0,
        keep_partial_segment: bool = False,
        frame_dir: str | None = None,
        frame_field: str | None = None,
        frame_key: str = "video_frames",
        jpeg_quality: int = 75,
        video_backend: str | None = None,
        legacy_split_by_text_token: bool | None = None,
        candidate_fps: float = 5.0,
        min_distance: float | None = None,
        embedding_backend: str = "thumbnail_histogram",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if frame_sampling_method not in ("all_keyframes", "uniform", "fps", "all", "diverse"):
            raise ValueError(
                "frame_sampling_method must be all_keyframes, uniform, fps, all or diverse, "
                f"got {frame_sampling_method!r}"
            )
        if frame_sampling_method == "diverse" and (duration or not candidate_fps > 0):
            raise ValueError("diverse sampling needs candidate_fps > 0 and works on whole videos (duration 0)")
        if output_format not in ("path", "bytes"):
            raise ValueError(f"output_format must be 'path' or 'bytes', got {output_format!r}")
        if frame_num < 1:
            raise ValueError(f"frame_num must be >= 1, got {frame_num}")
        if sampling_fps <= 0:
            raise ValueError(f"sampling_fps must be > 0, got {sampling_fps}")
        if duration < 0:
            raise ValueError(f"duration must be >= 0 seconds (0 = the whole video), got {duration}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be between 1 and 100, got {jpeg_quality}")
        if frame_field is not None and frame_key != "video_frames" and frame_field != frame_key:
            raise ValueError(f"frame_field {frame_field!r} and frame_key {frame_key!r} disagree; give only frame_field")
        warn_ignored(self, "video_backend", video_backend, "djlite decodes with PyAV")
        warn_ignored(self, "legacy_split_by_text_token", legacy_split_by_text_token, "every video is extracted")
        self.frame_sampling_method = frame_sampling_method
        self.output_format = output_format
        self.frame_num = frame_num
        self.sampling_fps = sampling_fps
        self.duration = duration
        self.keep_partial_segment = keep_partial_segment
        self.frame_dir = os.path.abspath(frame_dir) if frame_dir else None
        self.frame_key = frame_field or frame_key
        self.jpeg_quality = jpeg_quality
        self.candidate_fps = candidate_fps
        self.min_distance = min_distance
        self.embedding_backend = embedding_backend

    @property
    def frame_field(self) -> str:
        return self.frame_key

    def output_features(self, features):
        features = features.copy()
        kind = Value("string") if self.output_format == "path" else Value("binary")
        features[self.frame_key] = List(List(kind))
        if self.frame_sampling_method == "diverse":
            features[self.frame_key + TIMES_SUFFIX] = List(List(Value("float64")))
        return features

    def plan(self):
        segment = self.duration or None
        if self.frame_sampling_method == "uniform":
            return uniform(self.frame_num, segment)
        if self.frame_sampling_method == "fps":
            return fps(self.sampling_fps, segment)
        if self.frame_sampling_method == "all":
            return all_frames(segment)
        return keyframes(segment)

    def frames_end(self, info) -> float | None:
        """Seconds after which no frame is taken: the end of the last whole segment (Data-Juicer's rule)."""
        if not self.duration or self.keep_partial_segment:
            return None
        # Data-Juicer cuts [t[i-1], t[i]] for t = arange(0, duration of the stream, segment).
        whole = max(0, math.ceil(info.stream_duration / self.duration - EPSILON) - 1)
        return whole * self.duration

    # ------------------------------------------------------------------ where frames go

    def root(self, path: str) -> str:
        if self.frame_dir:
            return self.frame_dir
        if self.work_dir:
            return produced_data_dir(self.work_dir, OP_NAME)
        return produced_data_dir(os.path.dirname(os.path.abspath(path)), OP_NAME)

    def _key(self, path: str) -> str:
        path = os.path.abspath(path)
        stat = os.stat(path)
        sampling = (
            self.frame_sampling_method,
            self.frame_num,
            self.sampling_fps,
            self.duration,
            self.keep_partial_segment,
            self.jpeg_quality,
            *((self.candidate_fps, self.min_distance, self.embedding_backend) if self.diverse else ()),
        )
        return repr((path, stat.st_size, stat.st_mtime_ns, sampling))

    def _candidates(self, path: str, key: str) -> list[str]:
        stem = os.path.splitext(os.path.basename(path))[0]
        return [stem, f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"]

    def folder(self, path: str, claim: bool = False) -> str | None:
        """The frame folder of one video: `<root>/<stem>` unless another video or sampling has it.

        With claim=False only an existing claim is looked up (None when there is none yet).
        """
        root, key = self.root(path), self._key(path)
        books = os.path.join(root, BOOKKEEPING)
        for name in self._candidates(path, key):
            claim_path = os.path.join(books, f"{name}.claim")
            if claim:
                os.makedirs(books, exist_ok=True)
                if _claim(claim_path, key):
                    return os.path.join(root, name)
                continue
            try:
                with open(claim_path, encoding="utf-8") as f:
                    if f.read() == key:
                        return os.path.join(root, name)
            except OSError:
                return None
        if claim:
            raise VideoError(f"no free frame folder for {path} under {root}")  # a 10-hex collision
        return None

    @staticmethod
    def _record(folder: str) -> str:
        """The file that says `folder` is complete: its frames' names and, for diverse sampling, their times."""
        return os.path.join(os.path.dirname(folder), BOOKKEEPING, os.path.basename(folder) + ".json")

    def _written(self, path: str) -> list[str] | None:
        """The frame files of an earlier complete extraction of this video, or None. Its diverse frames' times
        are kept for `_diverse_times`, which then reads neither the claim nor the record again."""
        try:
            folder = self.folder(path)
            if folder is None:
                return None
            with open(self._record(folder), encoding="utf-8") as f:
                record = json.load(f)
            names = record["frames"]
        except (OSError, ValueError, KeyError):
            return None
        files = [os.path.join(folder, name) for name in names]
        if not all(os.path.isfile(p) for p in files):
            return None
        if self.diverse:
            self.__dict__.setdefault("_picked_times", {})[path] = record.get("times", [])
        return files

    def frame_consumer(self, info):
        if self.output_format == "path" and self._written(info.path) is not None:
            # Another op of the stage is decoding this video; this one needs nothing from it.
            return JpegFrames(uniform(1), self.jpeg_quality, skip=True)
        if self.diverse:
            return self._diverse_candidates()
        folder = self.folder(info.path, claim=True) if self.output_format == "path" else None
        return JpegFrames(self.plan(), self.jpeg_quality, until=self.frames_end(info), folder=folder)

    @property
    def diverse(self) -> bool:
        return self.frame_sampling_method == "diverse"

    # ------------------------------------------------------------------ diverse sampling

    def _diverse_candidates(self) -> DiverseCandidates:
        """The candidate consumer of the diverse method (its embedding backend made once per op)."""
        backend = getattr(self, "_diverse_backend", None)
        if backend is None:
            from djlite.embed.backends import make_backend

            backend = make_backend(self.embedding_backend)
            backend.setup()
            self._diverse_backend = backend
        return DiverseCandidates(backend, self.candidate_fps, self.frame_num, self.min_distance)

    def _diverse_jpegs(self, path: str, pick: DiverseFramePick, context: VideoContext) -> list[bytes]:
        """JPEGs of the picked frames (from a second decode); their times are kept for `_diverse_times`."""
        self.__dict__.setdefault("_picked_times", {})[path] = pick.times
        if not pick.times:
            return []
        return picked_jpegs(context.info(path), pick.times, self.jpeg_quality)

    def _diverse_times(self, path: str) -> list[float]:
        """The timestamps of a video's diverse frames: from this run, or from the record of an earlier one."""
        times = self.__dict__.get("_picked_times", {}).get(path)
        if times is not None:
            return times
        folder = self.folder(path)
        if folder is None:
            return []
        with open(self._record(folder), encoding="utf-8") as f:
            return json.load(f).get("times", [])

    def _jpegs(self, path: str, context: VideoContext) -> list[bytes]:
        result = self.frame_result(path, context)
        return self._diverse_jpegs(path, result, context) if self.diverse else result

    def _frames_of(self, path: str, context: VideoContext):
        if self.output_format == "bytes":
            return self._jpegs(path, context)
        done = self._written(path)
        if done is not None:
            return done
        # Decoded first: a missing or broken video is a VideoError before any folder is claimed for it.
        if self.diverse:  # the picks are known only after the pass: their JPEGs are written here
            jpegs = self._jpegs(path, context)
            folder = self.folder(path, claim=True)
            os.makedirs(folder, exist_ok=True)
            names = [f"frame_{i}.jpg" for i in range(len(jpegs))]
            for name, data in zip(names, jpegs):
                replace_with_bytes(os.path.join(folder, name), data)
        else:
            names = self.frame_result(path, context)  # the consumer wrote each frame as it was decoded
            folder = self.folder(path, claim=True)
            os.makedirs(folder, exist_ok=True)
        # Written last: its presence says the folder is complete.
        record = self._record(folder)
        extra = {"times": self._diverse_times(path)} if self.diverse else {}
        replace_with_bytes(record, json.dumps({"video": path, "frames": names, **extra}).encode())
        return [os.path.join(folder, name) for name in names]

    def process(self, sample, context: VideoContext | None = None):
        if sample.get(self.frame_key) is not None:
            return sample
        sample[self.frame_key] = self.per_video(sample, context, self._frames_of)
        if self.diverse:
            sample[self.frame_key + TIMES_SUFFIX] = [self._diverse_times(path) for path in self.video_paths(sample)]
        return sample
