"""Write pieces of a video (clips) and resized copies with PyAV: no ffmpeg binary, atomic files.

Two ways to cut, chosen per video by the ops' `cut_mode`:

- stream copy (`copy`): the clip's packets are copied from the source unchanged. Fast (no decoding, no
  encoding: the cost is reading the bytes) and lossless, but a clip can only start on a keyframe, so each cut
  point moves back to the keyframe at or before it. Audio packets of the span are copied too.
- re-encode (`reencode`): the span is decoded and encoded again (H.264 via libx264, else MPEG-4 Part 2), so
  cuts fall on the exact frame. It costs a full decode and encode of the span (tens of times a copy's time)
  and one generation of quality loss. Audio packets are copied when the output container accepts the codec.
- `auto` (the ops' default): stream copy when every cut point of the video is a keyframe, else re-encode.

Every file is written to an exclusive temporary name in the target folder (mkstemp) and renamed when complete:
a killed run leaves at most a hidden `.<name>.*` temporary, never a truncated clip under the final name.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av

from djlite.errors import SampleError
from djlite.video.probe import first_video_stream, open_container, probe_video

CUT_MODES = ("auto", "copy", "reencode")
# Containers a re-encoded clip can keep; others (avi, flv, ogv, mxf, webm) are written as .mp4.
REENCODE_KEEPS = (".mp4", ".mov", ".mkv")
# Half a frame at 1000 fps: times closer than this are the same instant.
EPS = 5e-4


@dataclass(frozen=True)
class Span:
    """A clip of the source: [start, end) seconds from the source's first frame."""

    start: float
    end: float


def keyframe_times(path: str) -> tuple[list[float], float]:
    """(keyframe times, stream end) in seconds from the first frame, from a demux-only pass (nothing decoded).

    The end is the last frame's time plus its duration: the total length of the video stream.
    """
    with open_container(path) as container:
        stream = first_video_stream(container, path)
        stamps, keys, last_end = [], [], 0.0
        try:
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                stamps.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
                last_end = max(last_end, packet.pts + (packet.duration or 0))
        except (av.FFmpegError, OSError):
            pass  # a truncated file: the packets read so far
        if not stamps:
            raise SampleError(f"{path}: no video packets")
        origin = min(stamps)
        tb = stream.time_base
        return sorted(float((k - origin) * tb) for k in keys), float((last_end - origin) * tb)


def snap_to_keyframes(points: list[float], keys: list[float]) -> list[float]:
    """Each cut point moved back to the keyframe at or before it (what a stream copy can start on)."""
    snapped = []
    for point in points:
        earlier = [k for k in keys if k <= point + EPS]
        snapped.append(earlier[-1] if earlier else 0.0)
    return snapped


def on_keyframes(points: list[float], keys: list[float]) -> bool:
    return all(any(abs(point - k) <= EPS for k in keys) for point in points)


def clip_name(source: str, tag: str, params: dict, index: int, count: int, ext: str) -> str:
    """`<stem>__<12 hex>_<index>.<ext>`: the hex hashes the source's absolute path, the op and its parameters.

    Two `clip.mp4` in different folders get different names; the same recipe on the same file gets the same
    name again, so a re-run finds its clips already written.
    """
    stem = os.path.splitext(os.path.basename(source))[0]
    key = json.dumps([os.path.abspath(source), tag, params], sort_keys=True, default=str).encode()
    width = max(3, len(str(count)))
    return f"{stem}__{hashlib.sha1(key).hexdigest()[:12]}_{index:0{width}d}{ext}"


def output_ext(source: str, reencode: bool) -> str:
    ext = os.path.splitext(source)[1].lower() or ".mp4"
    return ext if not reencode or ext in REENCODE_KEEPS else ".mp4"


def write_atomically(target: str, write) -> str:
    """Run write(temp_path) on an exclusive temporary beside `target`, then rename it to `target`."""
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    name, ext = os.path.splitext(os.path.basename(target))
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=ext, dir=folder)
    os.close(fd)
    try:
        write(temp)
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return target


def _first_audio(container):
    return container.streams.audio[0] if container.streams.audio else None


def _origin(container, stream) -> int:
    """The pts of the stream's first frame (what the reader's times count from)."""
    for packet in container.demux(stream):
        if packet.pts is not None:
            start = packet.pts
            break
    else:
        raise SampleError("no video packets")
    # The first packets in decode order may not hold the earliest pts (B-frames): look a little further.
    for n, packet in enumerate(container.demux(stream)):
        if packet.pts is not None:
            start = min(start, packet.pts)
        if n > 16:
            break
    container.seek(0, stream=stream, backward=True)
    return start


def copy_clip(source: str, target: str, span: Span) -> str:
    """Stream-copy the packets of `span` (its start must be a keyframe) into `target`, atomically."""

    def write(temp: str):
        with open_container(source) as src, av.open(temp, "w") as out:
            video = first_video_stream(src, source)
            audio = _first_audio(src)
            origin = _origin(src, video)
            out_video = out.add_stream_from_template(video)
            out_audio = None
            if audio is not None:
                try:
                    out_audio = out.add_stream_from_template(audio)
                except (ValueError, av.FFmpegError):
                    out_audio = None
            start_pts = origin + int(round(span.start / video.time_base))
            end_pts = origin + int(round(span.end / video.time_base))
            src.seek(start_pts, stream=video, backward=True)
            start_time = float(start_pts * video.time_base)
            end_time = float(end_pts * video.time_base)
            written = 0
            streams = [video] + ([audio] if out_audio is not None else [])
            for packet in src.demux(streams):
                if packet.pts is None or packet.dts is None:
                    continue
                tb = packet.time_base
                t = float(packet.pts * tb)
                if packet.stream is video:
                    if t >= end_time - EPS and packet.is_keyframe:
                        if out_audio is None:
                            break
                        continue
                    if not (start_time - EPS <= t < end_time - EPS):
                        continue
                    shift, packet.stream = start_pts, out_video
                    written += 1
                else:
                    if t >= end_time + 1.0:
                        break
                    if not (start_time - EPS <= t < end_time - EPS):
                        continue
                    shift, packet.stream = int(round(start_time / tb)), out_audio
                packet.pts -= shift
                packet.dts -= shift
                out.mux(packet)
            if not written:
                raise SampleError(f"{source}: no frames between {span.start:.3f}s and {span.end:.3f}s")

    return write_atomically(target, write)


def reencode_clip(source: str, target: str, span: Span | None = None, size: tuple[int, int] | None = None) -> str:
    """Decode `span` (None: the whole video), optionally resize to `size` (width, height), encode into `target`."""

    def write(temp: str):
        with open_container(source) as src, av.open(temp, "w") as out:
            video = first_video_stream(src, source)
            video.thread_type = "AUTO"
            audio = _first_audio(src)
            origin = _origin(src, video)
            codec_name = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            rate = video.average_rate or video.guessed_rate or Fraction(25)
            out_video = out.add_stream(codec_name, rate=rate)
            width, height = size or (video.codec_context.width, video.codec_context.height)
            out_video.width, out_video.height = width - width % 2, height - height % 2
            out_video.pix_fmt = "yuv420p"
            out_video.time_base = video.time_base
            rotation = probe_video(source).rotation
            if rotation:  # the display matrix, which a stream copy keeps and a new stream must be given
                out_video.set_display_rotation(rotation)
            out_audio = None
            if audio is not None:
                try:
                    out_audio = out.add_stream_from_template(audio)
                except (ValueError, av.FFmpegError):
                    out_audio = None
            tb = video.time_base
            start_pts = origin + (int(round(span.start / tb)) if span else 0)
            end_pts = origin + int(round(span.end / tb)) if span else None
            if span and span.start > 0:
                src.seek(start_pts, stream=video, backward=True)
            written = 0
            streams = [video] + ([audio] if out_audio is not None else [])
            done = False
            for packet in src.demux(streams):
                if packet.stream is not video:
                    if packet.pts is None or packet.dts is None:
                        continue
                    t = packet.pts * packet.time_base
                    lo = start_pts * tb
                    if t < lo or (end_pts is not None and t >= end_pts * tb):
                        continue
                    shift = int(round(lo / packet.time_base))
                    packet.pts -= shift
                    packet.dts -= shift
                    packet.stream = out_audio
                    out.mux(packet)
                    continue
                if done:
                    continue
                try:
                    frames = video.codec_context.decode(packet) if packet.size else video.codec_context.decode(None)
                except av.FFmpegError:
                    continue  # a packet the decoder rejects is skipped, as the reader does
                for frame in frames:
                    if frame.pts is None or frame.pts < start_pts:
                        continue
                    if end_pts is not None and frame.pts >= end_pts:
                        done = True
                        break
                    new = frame.reformat(width=out_video.width, height=out_video.height, format="yuv420p")
                    new.pts = frame.pts - start_pts
                    new.time_base = tb
                    for out_packet in out_video.encode(new):
                        out.mux(out_packet)
                    written += 1
            if not written:
                raise SampleError(f"{source}: no frames to write in {span or 'the video'}")
            for out_packet in out_video.encode(None):
                out.mux(out_packet)

    return write_atomically(target, write)


def write_clip(source: str, target: str, span: Span, reencode: bool) -> str:
    """Write `span` of `source` to `target` (skipped when `target` exists: a re-run writes nothing new)."""
    if os.path.exists(target):
        return target
    try:
        if reencode:
            return reencode_clip(source, target, span)
        return copy_clip(source, target, span)
    except av.FFmpegError as e:
        raise SampleError(f"{source}: cannot write clip {span.start:.3f}-{span.end:.3f}s: {e}") from e


class _Output:
    """One clip being stream-copied: its temporary file, streams and bounds in each stream's time base."""

    def __init__(self, target: str, span: Span, video, audio, origin: int):
        folder = os.path.dirname(target) or "."
        os.makedirs(folder, exist_ok=True)
        name, ext = os.path.splitext(os.path.basename(target))
        fd, self.temp = tempfile.mkstemp(prefix=f".{name}.", suffix=ext, dir=folder)
        os.close(fd)
        self.target, self.span = target, span
        self.container = av.open(self.temp, "w")
        self.video = self.container.add_stream_from_template(video)
        self.audio = None
        if audio is not None:
            try:
                self.audio = self.container.add_stream_from_template(audio)
            except (ValueError, av.FFmpegError):
                self.audio = None
        tb = video.time_base
        self.start = origin + int(round(span.start / tb))
        self.end = origin + int(round(span.end / tb))
        seconds = (float(self.start * tb), float(self.end * tb))
        self.audio_bounds = None
        if audio is not None:
            self.audio_bounds = tuple(int(round(s / audio.time_base)) for s in seconds)
        self.frames = 0

    def take(self, packet, is_video: bool) -> None:
        if is_video:
            shift, packet.stream = self.start, self.video
            self.frames += 1
        else:
            shift, packet.stream = self.audio_bounds[0], self.audio
        packet.pts -= shift
        packet.dts -= shift
        self.container.mux(packet)

    def finish(self) -> None:
        self.container.close()
        if not self.frames:
            os.unlink(self.temp)
            raise SampleError(f"no frames between {self.span.start:.3f}s and {self.span.end:.3f}s")
        os.replace(self.temp, self.target)

    def abandon(self) -> None:
        try:
            self.container.close()
        except (av.FFmpegError, OSError):
            pass
        if os.path.exists(self.temp):
            os.unlink(self.temp)


def copy_clips(source: str, items: list[tuple[str, Span]]) -> list[Exception | None]:
    """Stream-copy several clips of `source` (sorted, non-overlapping spans starting on keyframes) in one pass
    over its packets: one open and one read of the file for all of them, instead of one per clip.

    Returns, per item, None (written, or already there: a re-run writes nothing) or the error that item got.
    """
    results: list[Exception | None] = [None] * len(items)
    todo = [i for i, (target, _) in enumerate(items) if not os.path.exists(target)]
    if not todo:
        return results
    try:
        container = open_container(source)
    except (SampleError, OSError) as e:
        return [e if i in todo else None for i in range(len(items))]
    with container:
        video = first_video_stream(container, source)
        audio = _first_audio(container)
        origin = _origin(container, video)
        first_start = origin + int(round(items[todo[0]][1].start / video.time_base))
        container.seek(first_start, stream=video, backward=True)
        streams = [video] + ([audio] if audio is not None else [])
        pending = list(todo)
        current: _Output | None = None
        current_index = -1
        # Clips whose video is done but whose audio may still come (audio is interleaved a little behind).
        closing: list[tuple[int, _Output]] = []

        def finish(index: int, output: _Output) -> None:
            try:
                output.finish()
            except (SampleError, av.FFmpegError, OSError) as e:
                results[index] = e
                output.abandon()

        def close_current():
            nonlocal current
            if current is not None:
                if current.audio is not None:
                    closing.append((current_index, current))
                else:
                    finish(current_index, current)
            current = None

        try:
            for packet in container.demux(streams):
                if packet.pts is None or packet.dts is None:
                    continue
                is_video = packet.stream is video
                if is_video:
                    # A keyframe at or past the current clip's end closes it; one at a pending start opens the next.
                    while current is not None and packet.pts >= current.end and packet.is_keyframe:
                        close_current()
                    if current is None and pending:
                        index = pending[0]
                        start = origin + int(round(items[index][1].start / video.time_base))
                        if packet.pts >= start:
                            pending.pop(0)
                            current_index = index
                            try:
                                current = _Output(items[index][0], items[index][1], video, audio, origin)
                            except (av.FFmpegError, OSError) as e:
                                results[index] = e
                                current = None
                    if current is None:
                        if not pending and not closing:
                            break
                        continue
                    if current.start <= packet.pts < current.end:
                        current.take(packet, True)
                else:
                    for index, output in list(closing):
                        if packet.pts >= output.audio_bounds[1]:
                            closing.remove((index, output))
                            finish(index, output)
                    for output in [o for _, o in closing] + ([current] if current is not None else []):
                        if output.audio is not None and output.audio_bounds[0] <= packet.pts < output.audio_bounds[1]:
                            output.take(packet, False)
                            break
        except (av.FFmpegError, OSError):
            pass  # a truncated source: the clips read so far are kept, the rest fail below
        close_current()
        for index, output in closing:
            finish(index, output)
    for index in pending:
        results[index] = SampleError(f"{source}: no frames from {items[index][1].start:.3f}s (the file ends earlier)")
    return results
