"""Write pieces of a video (clips) and resized copies with PyAV: no ffmpeg binary, atomic, verified files.

Two ways to cut, chosen per video by the ops' `cut_mode`:

- stream copy (`copy`): the clip's packets are copied from the source. Fast (no decoding, no encoding: the
  cost is reading the bytes) and lossless, but a clip can only start on a keyframe, so each cut point moves
  back to the keyframe at or before it. Audio packets of the span are copied too. What a decoder starting at
  the clip's keyframes needs but the source carries only in its first packet is carried along (see
  `_KeyframeSetup`: x264's version SEI, the MPEG-2 sequence header), and packets whose dts the demuxer could
  not tell (Matroska stores pts only) are copied with the muxer deriving it. An MXF source is copied into
  Matroska: MXF's muxer rebuilds timestamps from the MPEG-2 bitstream's temporal references, which a clip that
  starts on an open GOP contradicts. A clip cut at an open GOP's keyframe (MPEG-2 and HEVC leading frames that
  display before it but need the previous GOP) cannot keep those frames: the clip before it comes out short,
  fails verification and is re-encoded.
- re-encode (`reencode`): the span is decoded and encoded again (H.264 via libx264, else MPEG-4 Part 2), so
  cuts fall on the exact frame. It costs a full decode and encode of the span (tens of times a copy's time)
  and one generation of quality loss. Audio packets are copied when the output container accepts the codec.
- `auto` (the ops' default): stream copy when every cut point of the video is a keyframe, else re-encode.

`write_verified_clips` writes a video's clips and reads each back (djlite.video.verify): a copy that fails is
cut again by re-encoding; a clip that still fails is an error naming why, and its file is removed.

Every file is written to an exclusive temporary beside its target and renamed when complete, named as the
run's other temporaries are (`.<name>.tmp-djlite-<pid>-<random><ext>`, djlite.files), so a killed run
leaves no truncated clip under a final name, and the next run that writes into the folder removes the
temporaries of writers that are gone (never those of a live one).
"""

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
from av.video.reformatter import ColorRange
from loguru import logger

from djlite.errors import SampleError
from djlite.files import TMP_MARK, create_exclusive, remove_stale_temporaries
from djlite.video.probe import VideoInfo, first_video_stream, open_container, probe_video
from djlite.video.reader import FrameClock, seekable_container, uses_counted_clock
from djlite.video.sampling import EPSILON
from djlite.video.verify import verify_clips

CUT_MODES = ("auto", "copy", "reencode")
# Containers a re-encoded clip can keep; others (avi, flv, ogv, mxf, webm) are written as .mp4.
REENCODE_KEEPS = (".mp4", ".mov", ".mkv")
# Containers a stream copy does not keep, and the one it is copied into instead (see the module docstring).
COPY_REWRAPS = {".mxf": ".mkv"}
# Half a frame at 1000 fps: times closer than this are the same instant.
EPS = 5e-4
# What writing a clip raises for a bad source or a failed write: the clip's error, not the run's.
WRITE_ERRORS = (SampleError, OSError, ValueError, EOFError, av.FFmpegError)


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
    if not reencode:
        return COPY_REWRAPS.get(ext, ext)
    return ext if ext in REENCODE_KEEPS else ".mp4"


def temporary_for(target: str) -> str:
    """A new, empty, exclusive temporary beside `target`, named like djlite.files' run temporaries (with the
    writer's pid, so `remove_stale_temporaries` can tell a dead writer's) and keeping the extension, from which
    PyAV picks the container."""
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    name, ext = os.path.splitext(os.path.basename(target))
    return create_exclusive(folder, f".{name}{TMP_MARK}{os.getpid()}-", ext)


_cleaned_folders: set[tuple[int, str]] = set()


def remove_stale_clip_temporaries(folder: str) -> None:
    """Once per process and folder: remove the temporaries that killed writers left in a clip folder."""
    key = (os.getpid(), os.path.abspath(folder))
    if key not in _cleaned_folders:
        _cleaned_folders.add(key)
        remove_stale_temporaries(folder)


def write_atomically(target: str, write) -> str:
    """Run write(temp_path) on an exclusive temporary beside `target`, then rename it to `target`."""
    temp = temporary_for(target)
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


def _origin(path: str) -> tuple[int, bytes]:
    """(the pts of the first frame of `path`'s video stream, what the reader's times count from; the bytes of
    its first packet), from a container of its own: the caller's stays at the start without a seek."""
    with open_container(path) as container:
        stream = first_video_stream(container, path)
        start, first, seen = None, None, 0
        # The first packets in decode order may not hold the earliest pts (B-frames): look a little further.
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            if first is None:
                first = bytes(packet)
            start = packet.pts if start is None else min(start, packet.pts)
            seen += 1
            if seen > 16:
                break
    if start is None:
        raise SampleError(f"{path}: no video packets")
    return start, first


# H.264 NAL unit types: supplemental enhancement information, and the slices (types 1 to 5).
H264_SEI = 6
H264_SLICES = range(1, 6)
SEI_USER_DATA_UNREGISTERED = 5
MPEG_SEQUENCE_HEADER = b"\x00\x00\x01\xb3"


class _KeyframeSetup:
    """What a decoder that starts at one of a clip's keyframes needs but the source carries only at its start.

    - H.264: the encoder's user-data SEI. x264 writes its version there, once, and FFmpeg's decoder uses the
      version to work around bugs of old x264 builds: without it the 4:4:4 `imageio__cockatoo.mp4` decodes to
      green garbage from every keyframe but the first, in a clip as in a fresh seek into the source. The SEI
      of the source's first packet goes before the first slice of each keyframe of a clip that has none.
    - MPEG-1/2 video: the sequence header (the stream's extradata) before each keyframe that does not start
      with one (MXF holds it in the first packet alone).

    Other codecs' packets, and packets this cannot parse, are copied as they are.
    """

    def __init__(self, stream, first_packet: bytes):
        codec = stream.codec_context.name
        extradata = bytes(stream.codec_context.extradata or b"")
        self.kind = None
        if codec == "h264":
            # avcC extradata: length-prefixed NAL units of (byte 4 & 3) + 1 bytes; otherwise Annex B start codes.
            self.length_size = (extradata[4] & 3) + 1 if extradata[:1] == b"\x01" and len(extradata) > 4 else 0
            units = self._units(first_packet) or []
            self.sei = b"".join(unit for unit, kind, payload in units if self._user_data(kind, payload))
            self.kind = "h264" if self.sei else None
        elif codec in ("mpeg1video", "mpeg2video") and extradata.startswith(MPEG_SEQUENCE_HEADER):
            self.kind, self.header = "mpeg", extradata

    def _units(self, data: bytes) -> list[tuple[bytes, int, bytes]] | None:
        """[(unit with its length prefix or start code, NAL type, the bytes after the NAL header)], or None."""
        units = []
        if self.length_size:
            n, i = self.length_size, 0
            while i < len(data):
                length = int.from_bytes(data[i : i + n], "big")
                if length == 0 or i + n + length > len(data):
                    return None
                units.append((data[i : i + n + length], data[i + n] & 0x1F, data[i + n + 1 : i + n + length]))
                i += n + length
            return units
        starts, i = [], data.find(b"\x00\x00\x01")
        while i >= 0:
            starts.append(i)
            i = data.find(b"\x00\x00\x01", i + 3)
        if not starts or starts[0] > 1:
            return None
        bounds = [s - 1 if s > 0 and data[s - 1] == 0 else s for s in starts] + [len(data)]
        for s, begin, end in zip(starts, bounds, bounds[1:]):
            if s + 3 < end:
                units.append((data[begin:end], data[s + 3] & 0x1F, data[s + 4 : end]))
        return units

    @staticmethod
    def _user_data(kind: int, payload: bytes) -> bool:
        if kind != H264_SEI:
            return False
        payload_type, i = 0, 0
        while i < len(payload) and payload[i] == 0xFF:
            payload_type, i = payload_type + 255, i + 1
        return i < len(payload) and payload_type + payload[i] == SEI_USER_DATA_UNREGISTERED

    def keyframe(self, packet):
        """`packet` (a keyframe), or a copy of it with the setup it lacks in front."""
        data = bytes(packet)
        if self.kind == "mpeg":
            if data.startswith(MPEG_SEQUENCE_HEADER):
                return packet
            data = self.header + data
        elif self.kind == "h264":
            units = self._units(data)
            if units is None or any(self._user_data(kind, payload) for _, kind, payload in units):
                return packet
            first_slice = next((n for n, (_, kind, _) in enumerate(units) if kind in H264_SLICES), None)
            if first_slice is None:
                return packet
            data = b"".join(unit for unit, _, _ in units[:first_slice]) + self.sei
            data += b"".join(unit for unit, _, _ in units[first_slice:])
        else:
            return packet
        fixed = av.Packet(data)
        fixed.pts, fixed.dts, fixed.duration = packet.pts, packet.dts, packet.duration
        fixed.time_base, fixed.is_keyframe = packet.time_base, True
        return fixed


def copy_clip(source: str, target: str, span: Span) -> str:
    """Stream-copy `span` (its start must be a keyframe) into `target`, atomically: `copy_clips` for one clip."""
    (error,) = copy_clips(source, [(target, span)])
    if error is not None:
        raise error
    return target


def reencode_clip(source: str, target: str, span: Span | None = None, size: tuple[int, int] | None = None) -> str:
    """Decode `span` (None: the whole video), optionally resize to `size` (width, height), encode into `target`.

    Frames are timed and chosen as djlite's reader times them (`FrameClock`: counted in AVI, repeated timestamps
    kept in decode order) and taken from the first at or after `span.start` to the last before `span.end`, so
    the clip starts on the frame the reader serves at the cut. The decoder gets the keyframe setup a stream copy
    carries (`_KeyframeSetup`), as it may start at a later keyframe after a seek.
    """

    def write(temp: str):
        info = probe_video(source)
        origin, first_packet = _origin(source)
        with open_container(source) as src, av.open(temp, "w") as out:
            video = first_video_stream(src, source)
            video.thread_type = "AUTO"
            setup = _KeyframeSetup(video, first_packet)
            audio = _first_audio(src)
            codec_name = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            rate = video.average_rate or video.guessed_rate or Fraction(25)
            out_video = out.add_stream(codec_name, rate=rate)
            width, height = size or (video.codec_context.width, video.codec_context.height)
            # yuv420p needs even sizes (a 1x1 video becomes 2x2)
            out_video.width, out_video.height = max(2, width - width % 2), max(2, height - height % 2)
            out_video.pix_fmt = "yuv420p"
            # The encoder's time base too (it defaults to 1/rate, where an FLV's millisecond stamps collide): fine
            # enough that distinct frame times stay distinct.
            out_video.time_base = min(Fraction(video.time_base), Fraction(1, 90000))
            out_video.codec_context.time_base = out_video.time_base
            if info.rotation:  # the display matrix, which a stream copy keeps and a new stream must be given
                out_video.set_display_rotation(info.rotation)
            out_audio = None
            if audio is not None:
                try:
                    out_audio = out.add_stream_from_template(audio, opaque=True)
                except (ValueError, av.FFmpegError):
                    out_audio = None
            start = span.start if span else 0.0
            end = span.end if span else None
            counted = uses_counted_clock(info)
            clock = FrameClock(info, counted)
            if not counted:
                clock.origin = origin  # times from the stream's first frame, as the span's
            if start > 0 and not counted and seekable_container(src.format.name):
                src.seek(origin + int(start / video.time_base), stream=video, backward=True)
            codec = video.codec_context
            written = index = 0
            done = False

            def encode(frames) -> None:
                nonlocal written, index, done
                for frame in frames:
                    if done:
                        return
                    t = clock.time(frame, index)
                    index += 1
                    if t < start - EPSILON:
                        continue
                    if end is not None and t >= end - EPSILON:
                        done = True
                        return
                    # The encoder tags no range, so a decoder reads limited: full-range pictures (MJPEG's yuvj)
                    # are converted to it, or they come out with crushed blacks and whites.
                    full = frame.color_range == ColorRange.JPEG
                    new = frame.reformat(
                        width=out_video.width,
                        height=out_video.height,
                        format="yuv420p",
                        **({"dst_color_range": ColorRange.MPEG} if full else {}),
                    )
                    new.pts = int(round((t - start) / out_video.time_base))
                    new.time_base = out_video.time_base
                    for out_packet in out_video.encode(new):
                        out.mux(out_packet)
                    written += 1

            streams = [video] + ([audio] if out_audio is not None else [])
            for packet in src.demux(streams):
                if packet.stream is not video:
                    if packet.pts is None:
                        continue
                    t = float(packet.pts * packet.time_base) - float(origin * video.time_base)
                    if t < start - EPSILON or (end is not None and t >= end - EPSILON):
                        continue
                    shift = int(round((start + float(origin * video.time_base)) / packet.time_base))
                    packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                    packet.stream = out_audio
                    out.mux(packet)
                    continue
                # An empty packet is skipped, not taken for the end: Ogg has them mid-stream, and a decoder
                # drained there rejects every packet after it (love2d__small.ogv lost its last 41 frames).
                if done or not packet.size:
                    continue
                if packet.is_keyframe:
                    packet = setup.keyframe(packet)
                try:
                    frames = codec.decode(packet)
                except av.FFmpegError:
                    continue  # a packet the decoder rejects is skipped, as the reader does
                encode(frames)
            try:
                frames = codec.decode(None)
            except av.FFmpegError:
                frames = []
            encode(frames)
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

    def __init__(self, target: str, span: Span, video, audio, origin: int, setup: _KeyframeSetup):
        self.temp = temporary_for(target)
        self.setup = setup
        self.target, self.span = target, span
        try:
            self.container = av.open(self.temp, "w")
            # opaque: the codec parameters are copied as they are, with no encoder opened (this FFmpeg build has
            # none for theora, vp6f or av1, and a copy needs none).
            self.video = self.container.add_stream_from_template(video, opaque=True)
            # Matroska keeps no per-frame durations, only the track's default one, written from the rate: without
            # it the last frame of a clip has none and the clip reads a frame short.
            if video.average_rate:
                self.video.codec_context.framerate = video.average_rate
        except BaseException:
            self.abandon()
            raise
        self.audio = None
        if audio is not None:
            try:
                self.audio = self.container.add_stream_from_template(audio, opaque=True)
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
            if packet.is_keyframe:
                packet = self.setup.keyframe(packet)
            shift, packet.stream = self.start, self.video
            self.frames += 1
        else:
            shift, packet.stream = self.audio_bounds[0], self.audio
        packet.pts -= shift
        if packet.dts is not None:  # a dts the demuxer could not tell is left for the muxer to derive
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
            if getattr(self, "container", None) is not None:
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
        origin, first_packet = _origin(source)
        setup = _KeyframeSetup(video, first_packet)
        first_start = origin + int(round(items[todo[0]][1].start / video.time_base))
        if seekable_container(container.format.name):  # others are read from the start (see seekable_container)
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
                # Matroska stores no dts: the demuxer leaves it unset on the first packets of a stream with
                # B-frames (scav__display_mosaic.mkv), and the muxer derives it. Only a pts is needed.
                if packet.pts is None:
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
                                current = _Output(items[index][0], items[index][1], video, audio, origin, setup)
                            except (av.FFmpegError, OSError, ValueError) as e:
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


@dataclass(frozen=True)
class WrittenClip:
    """A clip on disk that passed verification: its file, its probe (what the clip's stats come from) and
    whether it was re-encoded."""

    path: str
    info: VideoInfo
    reencoded: bool


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def _failure(source: str, index: int, span: Span, problem: str, copy_problem: str | None) -> SampleError:
    tried = f"; its stream copy failed first: {copy_problem}" if copy_problem else ""
    return SampleError(f"{source}: clip {index} ({span.start:.3f}s to {span.end:.3f}s): {problem}{tried}")


def write_verified_clips(
    source: str, spans: list[Span], target_for: Callable[[int, bool], str], reencode: bool
) -> list[WrittenClip | Exception]:
    """Write the clips `spans` of `source` (sorted, non-overlapping) and read each back (djlite.video.verify).

    `target_for(index, reencoded)` names clip `index`'s file for a stream copy (False) or a re-encode (True).
    Without `reencode` the clips are stream-copied in one pass; a copy that cannot be written or fails
    verification is removed and cut again by re-encoding, under its re-encode name. A clip that fails after
    re-encoding is an Exception saying why (its file removed). A clip already on disk (a re-run) is verified
    like a new one. Returns, per span, the WrittenClip or the error.
    """
    results: list = [None] * len(spans)
    usable = []
    for i, span in enumerate(spans):
        if span.end - span.start <= EPS:
            results[i] = SampleError(f"{source}: clip {i} is empty ({span.start:.3f}s to {span.end:.3f}s)")
        else:
            usable.append(i)
    copy_problems: dict[int, str] = {}
    if reencode:
        again = usable
    else:
        targets = {i: target_for(i, False) for i in usable}
        copied = []
        for i, error in zip(usable, copy_clips(source, [(targets[i], spans[i]) for i in usable])):
            if error is None:
                copied.append(i)
            else:
                copy_problems[i] = f"it cannot be written ({type(error).__name__}: {error})"
        for i, check in zip(copied, verify_clips(source, [(targets[i], spans[i], True) for i in copied])):
            if check.problem is None:
                results[i] = WrittenClip(targets[i], check.info, False)
            else:
                copy_problems[i] = check.problem
                _remove(targets[i])
        again = sorted(copy_problems)
        for i in again:
            logger.info(f"{source}: the stream copy of clip {i} is not usable ({copy_problems[i]}); re-encoding it")
    targets = {i: target_for(i, True) for i in again}
    encoded = []
    for i in again:
        try:
            write_clip(source, targets[i], spans[i], reencode=True)
            encoded.append(i)
        except WRITE_ERRORS as e:
            problem = f"it cannot be re-encoded ({type(e).__name__}: {e})"
            results[i] = _failure(source, i, spans[i], problem, copy_problems.get(i))
    for i, check in zip(encoded, verify_clips(source, [(targets[i], spans[i], False) for i in encoded])):
        if check.problem is None:
            results[i] = WrittenClip(targets[i], check.info, True)
        else:
            _remove(targets[i])
            results[i] = _failure(source, i, spans[i], check.problem, copy_problems.get(i))
    return results
