"""Small synthetic videos made with PyAV, for the demo and the test suite (no downloads needed).

Each maker writes an H.264 mp4 and returns its path. The clips are tiny (a few KB to a few hundred KB)
but real: they go through the same decoders as any user's file.
"""

import os

import av
import cv2
import numpy as np


def _write(path: str, frames, fps: int = 24, rotation: int = 0, codec: str = "libx264") -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        if rotation:
            # Display-matrix side data: players (and djlite) rotate the picture counter-clockwise.
            stream.set_display_rotation(rotation)
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    return cv2.resize(small, (width + 16, height + 16), interpolation=cv2.INTER_CUBIC)


def make_moving(
    path: str, seconds: float = 2.0, fps: int = 24, size=(160, 96), speed: int = 3, seed: int = 0, rotation: int = 0
):
    """A textured picture panning sideways: plenty of optical flow."""
    width, height = size
    texture = _texture(height, width * 4, seed)
    frames = []
    for i in range(int(seconds * fps)):
        x = (i * speed) % (texture.shape[1] - width)
        frames.append(np.ascontiguousarray(texture[:height, x : x + width]))
    return _write(path, frames, fps, rotation=rotation)


def make_static(path: str, seconds: float = 2.0, fps: int = 24, size=(160, 96), seed: int = 1):
    """The same picture in every frame: no motion at all."""
    width, height = size
    image = np.ascontiguousarray(_texture(height, width, seed)[:height, :width])
    return _write(path, [image] * int(seconds * fps), fps)


def make_text(path: str, seconds: float = 2.0, fps: int = 24, size=(320, 192), lines=("DJLITE DEMO", "BURNED IN")):
    """Large burned-in text on a plain background: what an OCR filter should catch."""
    width, height = size
    frames = []
    for i in range(int(seconds * fps)):
        image = np.full((height, width, 3), 235, dtype=np.uint8)
        for row, line in enumerate(lines):
            y = 60 + row * 70
            cv2.putText(image, line, (12 + (i % 4), y), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 4, cv2.LINE_AA)
        frames.append(image)
    return _write(path, frames, fps)


def reencode(src: str, path: str, scale: float = 0.5, crf: str = "30") -> str:
    """The same clip re-encoded smaller: a near-duplicate, with other bytes."""
    with av.open(src) as container:
        stream = container.streams.video[0]
        fps = int(round(float(stream.average_rate or 24)))
        frames = []
        for frame in container.decode(stream):
            image = frame.to_ndarray(format="rgb24")
            h, w = image.shape[:2]
            size = (max(2, int(w * scale)) // 2 * 2, max(2, int(h * scale)) // 2 * 2)
            frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return _write(path, frames, fps)


def make_demo_set(folder: str) -> dict[str, str]:
    """The demo's clips: moving, static, text, a re-encoded duplicate of the moving one, and a broken file."""
    os.makedirs(folder, exist_ok=True)
    paths = {
        "moving": make_moving(os.path.join(folder, "moving.mp4"), seconds=3),
        "static": make_static(os.path.join(folder, "static.mp4"), seconds=3),
        "text": make_text(os.path.join(folder, "text.mp4"), seconds=3),
        "short": make_moving(os.path.join(folder, "short.mp4"), seconds=0.5, seed=3),
    }
    paths["moving_reencoded"] = reencode(paths["moving"], os.path.join(folder, "moving_reencoded.mp4"))
    broken = os.path.join(folder, "broken.mp4")
    with open(broken, "wb") as f:
        f.write(b"this is not a video, but its name says it is\n")
    paths["broken"] = broken
    return paths
