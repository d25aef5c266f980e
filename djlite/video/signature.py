"""A compact perceptual signature of a video: one 63-bit hash per frame on a fixed time grid.

Each sampled frame (grey, display orientation) is reduced to a 63-bit DCT sign hash:

1. thumbnail: stretched to a square, so a resize or an aspect-ratio stretch changes nothing; grey only, so a
   greyscale copy of a colour video hashes the same;
2. letterbox/pillarbox bars (symmetric, uniform and dark) are cut off, so a padded copy matches;
3. a frame made of a 2x2 or 3x3 grid of identical tiles (a mosaic of copies) is reduced to one tile;
4. 32x32 thumbnail -> 2-D DCT -> the signs of the 8x8 lowest frequencies without the DC term.

Sign bits (rather than pHash's "above the median") are used because a rotation or a mirror of the picture
only transposes the DCT block and flips the sign of its odd frequencies: the hash of a rotated frame is a fixed
bit permutation of the original's (`transform_hashes`), so rotated copies are matched without decoding or
hashing anything twice. Frames with too little picture (black, fades, a solid colour, one line of text on
black) are left out (`informative`); a video made only of such frames has an empty signature and is nobody's
near-duplicate.

`SignatureConsumer` builds a signature from the frames of a plan as the reader decodes them.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from djlite.errors import VideoError
from djlite.video.reader import FrameConsumer

HASH_BITS = 63
_BLOCK = 8
_THUMB = 32
_WORK = 96  # divisible by 2 and 3, for the tile test
_SIDE = 128  # the square a frame is stretched to before bars and tiles are cut
SPREAD_LEVEL, MIN_SPREAD = 12, 0.05  # see informative()

_ROW_FREQ, _COL_FREQ = np.mgrid[0:_BLOCK, 0:_BLOCK]
_HASHED = np.ones((_BLOCK, _BLOCK), bool)
_HASHED[0, 0] = False  # the DC term says only how bright the frame is
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(HASH_BITS, dtype=np.uint64))

# The 8 symmetries of a square as (transpose, mirror left-right, mirror top-bottom), applied in that order.
IDENTITY = (False, False, False)
ROTATIONS = (IDENTITY, (True, False, True), (False, True, True), (True, True, False))
MIRRORS = ((False, True, False), (False, False, True), (True, False, False), (True, True, True))


def strip_bars(gray: np.ndarray, dark: int = 28, min_frac: float = 0.03, sym_tol: float = 0.03) -> np.ndarray:
    """Cut symmetric dark bars (letterbox, pillarbox) off a grey frame.

    A bar line is dark on at least 90% of its pixels (a channel logo may sit on the bar); bars must be at
    least `min_frac` of the side each and within `sym_tol` of each other: dark picture content is rarely
    symmetric, so a night scene keeps its dark edges.
    """
    h, w = gray.shape

    def bar_sizes(lines_dark: np.ndarray) -> tuple[int, int]:
        n = len(lines_dark)
        lead = int(np.argmin(lines_dark)) if not lines_dark.all() else n
        trail = int(np.argmin(lines_dark[::-1])) if not lines_dark.all() else n
        return lead, trail

    is_dark = gray <= dark
    top, bottom = bar_sizes(is_dark.mean(axis=1) >= 0.9)
    left, right = bar_sizes(is_dark.mean(axis=0) >= 0.9)
    y0, y1, x0, x1 = 0, h, 0, w
    if min(top, bottom) >= min_frac * h and abs(top - bottom) <= sym_tol * h and top + bottom < 0.6 * h:
        y0, y1 = top, h - bottom
    if min(left, right) >= min_frac * w and abs(left - right) <= sym_tol * w and left + right < 0.6 * w:
        x0, x1 = left, w - right
    return gray[y0:y1, x0:x1]


def untile(gray: np.ndarray, max_ratio: float = 0.1, min_deviation: float = 4.0) -> np.ndarray:
    """Reduce a mosaic of identical tiles (2x2 or 3x3 copies of one picture) to its top-left tile.

    Tiles count as identical when they differ by less than `max_ratio` of the picture's own mean absolute
    deviation: about 0.01-0.03 for a real mosaic after compression, 1 or more for ordinary frames.
    """
    for _ in range(2):  # a 4x4 mosaic is a 2x2 mosaic of 2x2 mosaics
        img = cv2.resize(gray, (_WORK, _WORK), interpolation=cv2.INTER_AREA).astype(np.float32)
        deviation = float(np.abs(img - img.mean()).mean())
        if deviation < min_deviation:
            return gray
        for n in (2, 3):
            size = _WORK // n
            tiles = [img[i * size : (i + 1) * size, j * size : (j + 1) * size] for i in range(n) for j in range(n)]
            if max(float(np.abs(t - tiles[0]).mean()) for t in tiles[1:]) < max_ratio * deviation:
                gray = gray[: gray.shape[0] // n, : gray.shape[1] // n]
                break
        else:
            return gray
    return gray


def informative(small: np.ndarray) -> bool:
    """Whether a 32x32 grey thumbnail has enough picture in it for its hash to mean something.

    At least MIN_SPREAD of its pixels must differ from the median by more than SPREAD_LEVEL grey levels. Black
    frames, fades and plain walls fail, and so do a line of text or a small object on a plain background:
    their hashes are nearly the same whatever the text or object, so matching them would join unrelated
    videos.
    """
    return float(np.mean(np.abs(small - np.median(small)) > SPREAD_LEVEL)) >= MIN_SPREAD


def frame_hash(gray: np.ndarray) -> int | None:
    """The 63-bit hash of one grey frame, or None when the frame has too little picture to say anything."""
    return hash_and_picture(gray)[0]


def hash_and_picture(gray: np.ndarray) -> tuple[int | None, float]:
    """(frame_hash, the share of the frame that is one picture: 1 for a plain frame, about 0.75 with letterbox
    bars, 0.25 for a 2x2 mosaic of copies). The share is what `keep: best` of the near-deduplicator weighs."""
    if gray.size == 0:
        return None, 0.0
    thumb = cv2.resize(gray, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    # Tiles first: a mosaic of letterboxed copies has bars inside it; then bars, then a letterboxed mosaic.
    thumb = untile(strip_bars(untile(thumb)))
    picture = thumb.shape[0] * thumb.shape[1] / (_SIDE * _SIDE)
    small = cv2.resize(thumb, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    if not informative(small):
        return None, picture
    signs = cv2.dct(small)[:_BLOCK, :_BLOCK] > 0
    return int((signs[_HASHED].astype(np.uint64) * _BIT_WEIGHTS).sum()), picture


def _bit_mapping(transform: tuple[bool, bool, bool]) -> tuple[np.ndarray, int]:
    """(source bit of each output bit, xor mask) for the hash of the transformed picture."""
    transpose, mirror_lr, mirror_tb = transform
    positions = np.full((_BLOCK, _BLOCK), -1)
    positions[_HASHED] = np.arange(HASH_BITS)
    source = positions.T if transpose else positions
    # Mirroring the picture left-right negates the DCT terms of odd column frequency; top-bottom, of odd row
    # frequency. The transpose swaps the two, and it is applied first.
    negate = np.zeros((_BLOCK, _BLOCK), bool)
    if mirror_lr:
        negate ^= _COL_FREQ % 2 == 1
    if mirror_tb:
        negate ^= _ROW_FREQ % 2 == 1
    flip_mask = int((negate[_HASHED].astype(np.uint64) * _BIT_WEIGHTS).sum())
    return source[_HASHED], flip_mask


def _byte_tables(transform: tuple[bool, bool, bool]) -> np.ndarray:
    """8 x 256 table: the output bits contributed by each value of each input byte (a bit permutation)."""
    source, _ = _bit_mapping(transform)
    tables = np.zeros((8, 256), dtype=np.uint64)
    values = np.arange(256, dtype=np.uint64)
    for out_bit, src in enumerate(source):
        byte, bit = divmod(int(src), 8)
        tables[byte] |= ((values >> np.uint64(bit)) & np.uint64(1)) << np.uint64(out_bit)
    return tables


_TABLES = {t: (_byte_tables(t), np.uint64(_bit_mapping(t)[1])) for t in ROTATIONS + MIRRORS}


def transform_hashes(hashes: np.ndarray, transform: tuple[bool, bool, bool]) -> np.ndarray:
    """Hashes of the same frames rotated or mirrored (see ROTATIONS, MIRRORS), computed from the bits alone."""
    if transform == IDENTITY:
        return hashes
    tables, flip_mask = _TABLES[transform]
    out = np.zeros(len(hashes), dtype=np.uint64)
    for byte in range(8):
        out |= tables[byte][((hashes >> np.uint64(8 * byte)) & np.uint64(0xFF)).astype(np.intp)]
    return out ^ flip_mask


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distances between broadcastable uint64 arrays."""
    x = np.bitwise_xor(a, b)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    counts = np.zeros(x.shape, dtype=np.uint8)  # numpy < 2.0
    for shift in range(0, 64, 8):
        counts += _BYTE_BITS[((x >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.intp)]
    return counts


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass
class VideoSignature:
    """Hashes of the informative frames, their times (s from the first frame) and the span the grid covered."""

    hashes: np.ndarray  # uint64, one per informative sampled frame
    times: np.ndarray  # float32 seconds, same length
    span: float  # time of the last sampled frame, informative or not
    step: float  # grid spacing in seconds
    # What `keep: best` compares (not part of the distance): the displayed frame's pixels, the median share of
    # it that is one picture (bars and mosaic tiles cut), and the file's bit rate (bits per second, audio too).
    pixels: int = 0
    picture: float = 1.0
    bitrate: float = 0.0

    @property
    def picture_pixels(self) -> float:
        """Pixels of actual picture per frame: a 2x2 mosaic of 640x480 holds a 320x240 picture."""
        return self.pixels * self.picture

    @property
    def empty(self) -> bool:
        return len(self.hashes) == 0

    def to_dict(self) -> dict:
        return {
            "hashes": self.hashes.tolist(),
            "times": [round(float(t), 4) for t in self.times],
            "span": float(self.span),
            "step": float(self.step),
            "pixels": int(self.pixels),
            "picture": round(float(self.picture), 4),
            "bitrate": round(float(self.bitrate), 1),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "VideoSignature":
        return cls(
            hashes=np.asarray(d["hashes"], dtype=np.uint64),
            times=np.asarray(d["times"], dtype=np.float32),
            span=float(d["span"]),
            step=float(d["step"]),
            pixels=int(d.get("pixels") or 0),
            picture=float(d.get("picture", 1.0)),
            bitrate=float(d.get("bitrate") or 0.0),
        )


class SignatureConsumer(FrameConsumer):
    """Hashes each frame of a fixed-rate plan as it is decoded; keeps 12 bytes per frame, not the picture."""

    def __init__(self, plan, step: float, path: str, pixels: int = 0, bitrate: float = 0.0):
        super().__init__(plan)
        self.step = step
        self.path = path
        self.pixels = pixels
        self.bitrate = bitrate
        self.hashes: list[int | None] = []
        self.times: list[float] = []
        self.pictures: list[float] = []

    def feed(self, frame) -> None:
        self.times.append(float(frame.time))
        frame_hash_, picture = hash_and_picture(frame.gray())
        self.hashes.append(frame_hash_)
        self.pictures.append(picture)

    def result(self) -> VideoSignature:
        if not self.times:
            raise VideoError(f"no decodable video frame on the sampling grid: {self.path}")
        first = self.times[0]
        kept = [(t - first, h) for t, h in zip(self.times, self.hashes) if h is not None]
        return VideoSignature(
            hashes=np.array([h for _, h in kept], dtype=np.uint64),
            times=np.array([t for t, _ in kept], dtype=np.float32),
            span=self.times[-1] - first,
            step=self.step,
            pixels=self.pixels,
            picture=float(np.median(self.pictures)),
            bitrate=self.bitrate,
        )
