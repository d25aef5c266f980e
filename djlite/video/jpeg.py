"""JPEG frames: a frame consumer that encodes the frames of a plan as they are decoded.

Shared by the frame extractor (djlite/ops/mapper/video_extract_frames_mapper.py) and the diverse-frame pick
(djlite/select/frames.py), which both turn decoded frames into JPEG files or bytes.
"""

import os

import cv2

from djlite.errors import VideoError
from djlite.files import replace_with_bytes
from djlite.video.reader import DecodedFrame, FrameConsumer
from djlite.video.sampling import EPSILON


class JpegFrames(FrameConsumer):
    """JPEG-encodes the frames of a plan as they are decoded (the pictures themselves are not kept).

    With a `folder`, each JPEG goes to disk as soon as it is encoded and only its name is kept, so memory stays
    flat however long the video (`all` on a 20-minute clip used to hold every JPEG until the video ended);
    without one (output_format `bytes`) the bytes are the result and are kept.
    Frames at or after `until` seconds are not taken (Data-Juicer's segments end before the final partial one).
    """

    def __init__(self, plan, quality: int, skip: bool = False, until: float | None = None, folder: str | None = None):
        super().__init__(plan)
        self.quality = quality
        self.skip = skip  # the frames are already on disk: take nothing, encode nothing
        self.until = until
        self.folder = folder
        self.jpegs: list[bytes] = []
        self.names: list[str] = []

    def feed(self, frame: DecodedFrame) -> None:
        if self.skip or (self.until is not None and frame.time >= self.until - EPSILON):
            return
        ok, data = cv2.imencode(".jpg", frame.bgr(), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise VideoError(f"JPEG encoding failed for frame {frame.index}")
        if self.folder is None:
            self.jpegs.append(data.tobytes())
            return
        if not self.names:
            os.makedirs(self.folder, exist_ok=True)
        name = f"frame_{len(self.names)}.jpg"
        replace_with_bytes(os.path.join(self.folder, name), data.tobytes())
        self.names.append(name)

    def result(self) -> list:
        return self.jpegs if self.folder is None else self.names
