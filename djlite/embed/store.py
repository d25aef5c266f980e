"""Where frame embeddings live: one sidecar `.npy` per video, outside the Arrow rows, read through one accessor.

Why sidecars: a million clips x 300 frames x 1280 dimensions is 1.5 TB in float32; as an Arrow column of float
lists it would not fit in memory, would be rewritten by every later `map`, and would be copied into every
export. A sidecar is written once, read only by the ops that need vectors (memory-mapped, so a reader touching
a few frames pays for those), and the row carries only its path (plus the small pooled per-video vector).

Layout: `<dir>/<video stem>-<16 hex>.npy` holds the vectors, a float16 array of shape (frames, dim), and
`<same name>.times.npy` each frame's presentation time in seconds (float64). float16 halves float32's size
and costs ~1e-3 relative error, far below the differences that matter between frames (cosine distances of
near-duplicates are ~1e-2 and up); 1280-d x 300 frames is 768 KB per clip. After PCA to 1024-d and 8-bit
quantization (djlite.embed.pca, djlite.embed.quantize) a frame takes YouTube-8M's 1024 bytes.

The 16 hex digits key the file by the video's content identity (absolute path, size, modification time) and
by everything the vectors depend on (backend fingerprint, frame plan, max_frames, normalisation): a re-run
finds the file and recomputes nothing; a changed video or parameter gets a new file, never a stale one.
Files are written to a temporary name and renamed, the vectors last: a killed run leaves no file that looks
complete.
"""

import hashlib
import os
from dataclasses import dataclass

import numpy as np

TIMES_SUFFIX = ".times.npy"
POOLINGS = ("mean", "max", "std")


@dataclass
class FrameEmbeddings:
    vectors: np.ndarray  # (frames, dim) float32
    times: np.ndarray  # (frames,) float64 seconds from the stream's first frame

    def __len__(self) -> int:
        return len(self.vectors)


def sidecar_path(folder: str, video_path: str, parameters: tuple) -> str:
    """The file one video's frame embeddings go to, keyed by the video's identity and the parameters."""
    video_path = os.path.abspath(video_path)
    stat = os.stat(video_path)
    key = repr((video_path, stat.st_size, stat.st_mtime_ns, parameters)).encode()
    stem = os.path.splitext(os.path.basename(video_path))[0]
    return os.path.join(folder, f"{stem}-{hashlib.sha1(key).hexdigest()[:16]}.npy")


def write_frame_embeddings(path: str, vectors: np.ndarray, times) -> None:
    vectors = np.asarray(vectors, dtype=np.float32)
    times = np.asarray(times, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) != len(times):
        raise ValueError(
            f"expected (frames, dim) vectors and one time per frame, got {vectors.shape} and {times.shape}"
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _save_atomically(path[: -len(".npy")] + TIMES_SUFFIX, times)
    _save_atomically(path, vectors.astype(np.float16))  # last: its presence says the pair is complete


def read_frame_embeddings(path: str, mmap: bool = False) -> FrameEmbeddings:
    """The accessor: one video's frame vectors (float32) and times, from the path a row carries."""
    try:
        table = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        times = np.load(path[: -len(".npy")] + TIMES_SUFFIX, allow_pickle=False)
    except (OSError, ValueError) as e:
        message = f"frame embeddings {path!r} are missing or unreadable ({e}); re-run the embedding op"
        raise FileNotFoundError(message) from e
    if table.ndim != 2 or len(table) != len(times):
        raise ValueError(f"frame embeddings {path!r} are malformed: {table.shape} with {len(times)} times")
    return FrameEmbeddings(np.asarray(table, dtype=np.float32), times)


def has_frame_embeddings(path: str) -> bool:
    return os.path.isfile(path) and os.path.isfile(path[: -len(".npy")] + TIMES_SUFFIX)


def pool(vectors: np.ndarray, method: str = "mean") -> np.ndarray:
    """One per-video vector from its frame vectors: mean (YouTube-8M's mean_rgb), max or std."""
    if method not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {method!r}")
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) == 0:
        raise ValueError("cannot pool zero frame vectors")
    return getattr(np, method)(vectors, axis=0).astype(np.float32)


def dataset_frame_embeddings(dataset, column: str = "video_frame_embeddings"):
    """Every video's frame embeddings, in row order: yields (row index, video position, FrameEmbeddings).

    Reads the sidecar paths of `column` (one per video of a row) and nothing else of the table; a row
    without embeddings (null, e.g. a sample that errored) is skipped.
    """
    for row, refs in enumerate(dataset.select_columns([column])[column]):
        for position, ref in enumerate(refs or []):
            if ref:
                yield row, position, read_frame_embeddings(ref)


def _save_atomically(path: str, array: np.ndarray) -> None:
    tmp = f"{path}.tmp-{os.getpid()}.npy"
    np.save(tmp, array, allow_pickle=False)
    os.replace(tmp, path)
