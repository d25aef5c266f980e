"""The near-duplicate signature column: its Arrow type, and a fast way to read it back."""

import numpy as np
from datasets import List, Value

from djlite.video.signature import VideoSignature

# One entry per unique video of the sample, in order.
SIGNATURE_FEATURE = List(
    {
        "hashes": List(Value("uint64")),
        "times": List(Value("float32")),
        "span": Value("float64"),
        "step": Value("float64"),
        # What keep: best compares (djlite.video.signature.VideoSignature).
        "pixels": Value("int64"),
        "picture": Value("float64"),
        "bitrate": Value("float64"),
    }
)


def _flat(list_array) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets from 0) of an Arrow list array, slices respected."""
    offsets = list_array.offsets.to_numpy()
    return list_array.flatten().to_numpy(zero_copy_only=False), offsets - offsets[0]


def signatures_from_arrow(column) -> list[list[VideoSignature]]:
    """The signature column read straight from Arrow buffers: no Python object per frame hash."""
    samples = []
    for chunk in column.chunks:
        videos, per_sample = chunk.flatten(), chunk.offsets.to_numpy()
        per_sample = per_sample - per_sample[0]
        hashes, times, spans, steps, pixels, pictures, bitrates = videos.flatten()
        hash_values, hash_offsets = _flat(hashes)
        time_values, time_offsets = _flat(times)
        spans, steps = spans.to_numpy(zero_copy_only=False), steps.to_numpy(zero_copy_only=False)
        pixels, pictures, bitrates = (c.to_numpy(zero_copy_only=False) for c in (pixels, pictures, bitrates))
        for i in range(len(chunk)):
            samples.append([
                VideoSignature(
                    hash_values[hash_offsets[v] : hash_offsets[v + 1]].astype(np.uint64),
                    time_values[time_offsets[v] : time_offsets[v + 1]].astype(np.float32),
                    float(spans[v]),
                    float(steps[v]),
                    int(pixels[v]),
                    float(pictures[v]),
                    float(bitrates[v]),
                )
                for v in range(per_sample[i], per_sample[i + 1])
            ])  # fmt: skip
    return samples
