"""Read a written clip back before it counts: a file that decodes to garbage is worse than an error row.

`verify_clips(source, clips)` checks each clip of one source against what the split promised:

- it opens and its first frame decodes (`probe_container`, so the clip's VideoInfo is exactly what
  `probe_video` gives later: the split's clip stats come from it);
- it lasts what the split promised: its video stream spans `span.end - span.start` within one frame;
- its last frame decodes: its last keyframe is sought and decoded to the end of the stream, and every frame
  from there comes out (a missing reference or a truncated write shows here);
- its first frame is the source's frame at the cut: identical for a stream copy (`exact`: the same packets
  through the same decoder must give the same pixels), at least PSNR_MIN_DB for a re-encode.

The source's frames at the cuts come from one read of the source through djlite's reader, which decodes the
file's first packet before it seeks (see djlite.video.reader): a fresh decoder that seeks straight to a later
keyframe of imageio__cockatoo.mp4 decodes the same garbage as a broken clip does, and would "match" it.
Decoding is kept to what the checks need: per clip its first frame and its last group of pictures, per source
its frame at each cut (a keyframe for a copy). `python tools/bench.py --only clips` measures what it costs
next to the copy itself.
"""

import math
from dataclasses import dataclass

import av
import numpy as np

from djlite.errors import SampleError, VideoError
from djlite.video.probe import VideoInfo, first_video_stream, open_container, probe_container, probe_video
from djlite.video.reader import DecodedFrame, FrameConsumer, is_seekable, read_frames
from djlite.video.sampling import TimesPlan

# A re-encoded clip's first frame must be at least this close to the source's frame at the cut.
PSNR_MIN_DB = 30.0
# Timestamps closer than this are the same instant (half a frame at 1000 fps).
EPS = 5e-4


@dataclass(frozen=True)
class ClipCheck:
    """What verifying one clip found: `problem` (None: the clip is good) and the clip's probe, when it opened."""

    problem: str | None
    info: VideoInfo | None = None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images of one shape, in dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _first_frame_problem(first: av.VideoFrame, reference: av.VideoFrame, exact: bool, start: float) -> str | None:
    # Coded pictures on both sides (no rotation applied). The source's is first brought to the clip's size and
    # pixel format, as the re-encoder brings it (even sizes, 8-bit 4:2:0), then both go to RGB the same way:
    # swscale's direct 10-bit-to-RGB conversion is itself 26 dB off its 8-bit one (torchcodec__h264_10bits.mp4).
    clip_rgb = first.to_ndarray(format="rgb24")
    like_clip = reference.reformat(width=first.width, height=first.height, format=first.format.name)
    source_rgb = like_clip.to_ndarray(format="rgb24")
    if exact and np.array_equal(clip_rgb, source_rgb):
        return None
    score = psnr(clip_rgb, source_rgb)
    where = f"the source's frame at {start:.3f}s (PSNR {score:.1f} dB"
    if exact:
        return f"its first frame differs from {where}; a copy is exact)"
    if score < PSNR_MIN_DB:
        return f"its first frame is not {where} < {PSNR_MIN_DB:g})"
    return None


def _duration_problem(info: VideoInfo, span) -> str | None:
    promised = span.end - span.start
    frame = 1.0 / info.fps if info.fps > 0 else 0.04
    if abs(info.stream_duration - promised) > frame + EPS:
        return (
            f"it lasts {info.stream_duration:.3f}s but the split promised {promised:.3f}s "
            f"({span.start:.3f}s to {span.end:.3f}s)"
        )
    return None


def _tail_problem(info: VideoInfo) -> str | None:
    """Decode from the clip's last keyframe to its end: every frame from there must come out."""
    # Fresh containers rather than seeks back to the start: some demuxers restamp packets after any seek (MXF).
    with open_container(info.path) as container:
        stamps, last_key = [], None
        for packet in container.demux(first_video_stream(container, info.path)):
            if packet.size == 0 or packet.pts is None:
                continue
            stamps.append(packet.pts)
            if packet.is_keyframe:
                last_key = packet.pts
    if not stamps or last_key is None:
        return "it holds no keyframe"
    # Only containers whose index the reader trusts are sought; in the others the clip is decoded from its start.
    start = last_key if is_seekable(info) else min(stamps)
    expected = sorted(p for p in stamps if p >= start)
    with open_container(info.path) as container:
        stream = first_video_stream(container, info.path)
        if start != min(stamps):
            container.seek(start, stream=stream, backward=True)
        return _decode_problem(container, stream, start, expected, min(stamps), info)


def _decode_problem(container, stream, start: int, expected: list, origin: int, info: VideoInfo) -> str | None:
    codec = stream.codec_context
    decoded: set = set()
    bad = 0

    def take(frames):
        decoded.update(f.pts for f in frames if f.pts is not None and f.pts >= start)

    for packet in container.demux(stream):
        try:
            take(codec.decode(packet) if packet.size else [])
        except av.FFmpegError:
            bad += 1
    try:
        take(codec.decode(None))
    except av.FFmpegError:
        bad += 1
    missing = [p for p in expected if p not in decoded]
    if missing or bad:
        at = float((missing[0] if missing else expected[-1]) - origin) * float(info.time_base)
        counts = f"{len(missing)} of {len(expected)} missing, {bad} bad packets"
        return f"its frames from {at:.3f}s do not all decode ({counts})"
    return None


def _check(path: str, span, exact: bool, reference: av.VideoFrame | None) -> ClipCheck:
    try:
        with open_container(path) as container:
            info, first = probe_container(container, path)
            problem = _duration_problem(info, span)
            if problem is None:
                if reference is None:
                    problem = f"the source has no decodable frame at {span.start:.3f}s to compare its first frame with"
                else:
                    problem = _first_frame_problem(first, reference, exact, span.start)
        if problem is None:
            problem = _tail_problem(info)
        return ClipCheck(problem, info)
    except VideoError as e:
        return ClipCheck(f"it does not open or decode ({e})")
    except (av.FFmpegError, OSError) as e:
        return ClipCheck(f"it does not read back ({type(e).__name__}: {e})")


class _CutFrames(FrameConsumer):
    """Checks each clip as the reader delivers the source's frame at its start, so one frame is held at a time."""

    def __init__(self, clips: list[tuple[str, object, bool]], checks: list):
        self.order = sorted(range(len(clips)), key=lambda i: clips[i][1].start)
        super().__init__(TimesPlan(tuple(clips[i][1].start for i in self.order)))
        self.clips = clips
        self.checks = checks
        self.delivered = 0

    def feed(self, frame: DecodedFrame) -> None:
        # The plan takes one frame per target, in order (a target past the last frame takes the last frame).
        if self.delivered < len(self.order):
            index = self.order[self.delivered]
            path, span, exact = self.clips[index]
            self.checks[index] = _check(path, span, exact, frame.frame)
        self.delivered += 1

    def result(self):
        return self.checks


def verify_clips(source: str, clips: list[tuple[str, object, bool]]) -> list[ClipCheck]:
    """Per clip (path, span, exact) of `source`, its ClipCheck; spans are seconds from the source's first frame,
    `exact` asks for a first frame identical to the source's (a stream copy)."""
    checks: list[ClipCheck | None] = [None] * len(clips)
    if not clips:
        return []
    try:
        read_frames(probe_video(source), [_CutFrames(clips, checks)])
    except SampleError as e:
        return [check or ClipCheck(f"its source does not decode ({e})") for check in checks]
    return [check or _check(path, span, exact, None) for check, (path, span, exact) in zip(checks, clips)]


def verify_clip(source: str, clip: str, span, exact: bool = False) -> str | None:
    """What is wrong with `clip` as the piece `span` of `source`, or None when it is good (see verify_clips)."""
    return verify_clips(source, [(clip, span, exact)])[0].problem
