"""YouTube-8M's 8-bit feature quantization and its exact inverse.

    quantize:   clip to [min, max], scale by 255 / (max - min), then truncate (default) or round -> uint8
    dequantize: q * (max - min) / 255 + (max - min) / 512 + min

The dequantizer (YouTube-8M's `utils.Dequantize`, MediaPipe's DequantizeByteArrayCalculator) adds half a bin,
so it reconstructs the centre of the bin a *truncated* value fell in: truncation is the unbiased pair, and
the default. YouTube-8M's legacy Python extractor rounds instead (Python's round: half to even), which biases
its reconstructions by about +0.0078 per dimension; `rounding="round"` reproduces it (np.rint, also half to
even) for byte-compatibility with features it wrote.
"""

import numpy as np

MIN_QUANTIZED = -2.0
MAX_QUANTIZED = 2.0
ROUNDINGS = ("truncate", "round")


def quantize(
    features, min_value: float = MIN_QUANTIZED, max_value: float = MAX_QUANTIZED, rounding: str = "truncate"
) -> np.ndarray:
    """float features -> uint8, one byte per value, same shape."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be 'truncate' or 'round', got {rounding!r}")
    if not max_value > min_value:
        raise ValueError(f"max_value {max_value} must be > min_value {min_value}")
    x = np.clip(np.asarray(features, dtype=np.float64), min_value, max_value)
    scaled = (x - min_value) * (255.0 / (max_value - min_value))
    scaled = np.floor(scaled) if rounding == "truncate" else np.rint(scaled)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def dequantize(bytes_or_array, min_value: float = MIN_QUANTIZED, max_value: float = MAX_QUANTIZED) -> np.ndarray:
    """uint8 values (an array, or raw bytes as stored in a YouTube-8M record) -> float32."""
    if isinstance(bytes_or_array, (bytes, bytearray, memoryview)):
        q = np.frombuffer(bytes_or_array, dtype=np.uint8)
    else:
        q = np.asarray(bytes_or_array, dtype=np.uint8)
    span = max_value - min_value
    return (q.astype(np.float64) * (span / 255.0) + (span / 512.0 + min_value)).astype(np.float32)
