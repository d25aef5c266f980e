"""One representative frame of a video, as a player shows it: for previews such as dj-analyze's report.

The middle frame is found by seeking to the keyframe before the middle and decoding forward, so a long
video costs a few frames, not all of them. Files whose seek fails or lands past the end (no index, broken
timestamps) are decoded from the start instead, up to a bound. In a damaged file whose middle does not
decode, the last frame that did decode before it stands in; a file with no decodable frame is a VideoError.
"""

import av
import numpy as np

from djlite.errors import VideoError
from djlite.video.probe import first_video_stream, open_container

# Bounds on the work to reach the middle when seeking does not work, and on a run of corrupt packets.
MAX_FRAMES_DECODED = 3000
MAX_FAILED_PACKETS = 200


def _frames(container, stream):
    """Decoded frames in order; a corrupt packet spoils its own frames, not the preview, up to a bound."""
    failed = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError):
            failed += 1
            if failed > MAX_FAILED_PACKETS:
                return
            continue
        yield from frames


def _middle_frame(path: str, seek: bool):
    """The first frame at or after the middle; else the last frame that decoded before it (a damaged file)."""
    with open_container(path) as container:
        stream = first_video_stream(container, path)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        if not duration and container.duration:
            duration = container.duration / av.time_base
        target = start + duration / 2
        last = next(_frames(container, stream), None)
        if last is None or last.time is None or last.time >= target:
            return last
        if seek:
            # Only now: the first frame has primed the decoder with the stream's in-band parameter sets,
            # without which a frame decoded after a seek comes out garbled (green) in some H.264 files.
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
        for decoded, frame in enumerate(_frames(container, stream), 1):
            last = frame
            if (frame.time is not None and frame.time >= target) or decoded >= MAX_FRAMES_DECODED:
                break
        return last


def _displayed(frame) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    # Display rotation is counter-clockwise, like np.rot90's positive turns.
    turns = round(int(getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def middle_frame(path: str) -> np.ndarray:
    """The frame in the middle of the first video stream, RGB, rotated for display; VideoError if none decodes."""
    frame = None
    try:
        frame = _middle_frame(path, seek=True)
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError):
        frame = None
    if frame is None:  # seeking failed or landed past the end: decode from the start instead
        try:
            frame = _middle_frame(path, seek=False)
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"no frame decodes ({type(e).__name__}: {e}): {path}") from None
    if frame is None:
        raise VideoError(f"no decodable video frame: {path}")
    return _displayed(frame)
