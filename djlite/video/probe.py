"""Video metadata from the container header, checked against the content.

`probe_video` opens a file once, reads the header of its first video stream and decodes the first frame:
a file whose header looks fine but whose frames do not decode is reported as an error here, so every op
that relies on metadata alone still tells a user that the video is unusable.
"""

import os
from dataclasses import asdict, dataclass
from fractions import Fraction

import av

from djlite.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    path: str
    container: str
    codec: str
    width: int  # as coded, before rotation (what Data-Juicer reports)
    height: int
    rotation: int  # display rotation in degrees, as ffprobe reports it (-90, 90, 180, ...)
    fps: float  # average frame rate; 0.0 when the file does not say
    frame_count: int | None  # from the header; None when the header does not say
    duration: float  # seconds the file plays, as ffprobe's format duration: the longest stream
    duration_source: str  # "header" or "content"
    stream_duration: float  # seconds spanned by the video stream itself (what frame sampling uses)
    start_time: float  # pts of the first frame, seconds
    time_base: Fraction
    has_audio: bool

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as a player shows the video, rotation applied."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_dict(self) -> dict:
        d = asdict(self)
        d["time_base"] = str(self.time_base)
        return d


def open_container(path: str):
    """av.open with a SampleError naming the file and what is wrong with it."""
    if not os.path.exists(path):
        raise VideoError(f"file not found: {path}")
    if os.path.isdir(path):
        raise VideoError(f"is a directory, not a video: {path}")
    if os.path.getsize(path) == 0:
        raise VideoError(f"empty file (0 bytes): {path}")
    try:
        return av.open(path)
    except (av.FFmpegError, OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise VideoError(f"cannot open as a video container ({reason}): {path}") from None


def first_video_stream(container, path: str):
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"no video stream (streams: {', '.join(kinds)}): {path}")
    return container.streams.video[0]


def _header_durations(container, stream) -> tuple[float | None, float | None]:
    """(file duration, video stream duration) from the header; None where the header is silent.

    The file lasts as long as its longest stream: audio or subtitles may outlast the video, and that is
    what ffprobe's format duration (and a player) reports.
    """
    ends = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base]
    if container.duration:
        ends.append(container.duration / av.time_base)
    video = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    return (max(ends) if ends else None), video


def _duration_from_content(container, stream) -> float:
    """Span of the video packets' timestamps, for headers that carry no duration (some webm/mkv)."""
    first, last = None, None
    container.seek(0)
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        end = packet.pts + (packet.duration or 0)
        first = packet.pts if first is None else min(first, packet.pts)
        last = end if last is None else max(last, end)
    if first is None:
        return 0.0
    return float((last - first) * stream.time_base)


def probe_video(path: str) -> VideoInfo:
    with open_container(path) as container:
        return probe_container(container, path)[0]


def probe_container(container, path: str) -> tuple[VideoInfo, av.VideoFrame]:
    """(the VideoInfo `probe_video` gives, the first frame it decoded) for an open container.

    For a caller that goes on reading the same container (clip verification): the header is read and the
    first frame decoded once, and the info is exactly what a later `probe_video(path)` returns.
    """
    stream = first_video_stream(container, path)
    try:
        frame = next(container.decode(stream), None)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"video frames do not decode ({e.__class__.__name__}: {e}): {path}") from None
    if frame is None:
        raise VideoError(f"no decodable video frame in the {stream.codec_context.name} stream: {path}")
    duration, stream_duration = _header_durations(container, stream)
    source = "header"
    if stream_duration is None:
        stream_duration = _duration_from_content(container, stream)
    if duration is None:
        duration, source = stream_duration, "content"
    rate = stream.average_rate or stream.guessed_rate
    start = stream.start_time if stream.start_time is not None else (frame.pts or 0)
    info = VideoInfo(
        path=path,
        container=container.format.name,
        codec=stream.codec_context.name,
        width=stream.codec_context.width or frame.width,
        height=stream.codec_context.height or frame.height,
        rotation=int(getattr(frame, "rotation", 0) or 0),
        fps=float(rate) if rate else 0.0,
        frame_count=stream.frames or None,
        duration=duration,
        duration_source=source,
        stream_duration=stream_duration,
        start_time=float(start * stream.time_base) if stream.time_base else 0.0,
        time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 1),
        has_audio=bool(container.streams.audio),
    )
    return info, frame


@dataclass(frozen=True)
class DemuxedExtent:
    """How much of a file its packets really cover, read without decoding (a demux-only pass)."""

    duration: float  # seconds from the earliest packet of any stream to the end of the latest one
    video_packets: int  # packets of the first video stream
    ended_by: str | None  # the demuxer error that stopped the pass early (a truncated or cut file), if any


def demuxed_extent(path: str) -> DemuxedExtent:
    """The file's playable length from its packets' timestamps, across all its streams.

    A header can promise more than the file holds: a truncated faststart MP4 keeps its full index (10 s) but
    only 2.9 s of packets; a cut WebM keeps its 30 s duration element. Reading packets (not decoding them)
    costs a pass over the file's bytes and little CPU. The longest stream counts, like the header's duration,
    so a soundtrack that outlasts the picture is not mistaken for truncation.
    """
    with open_container(path) as container:
        video = first_video_stream(container, path)
        streams = list(container.streams)  # subtitles too: the header's duration counts them
        start: float | None = None
        end: float | None = None
        packets, ended_by = 0, None
        try:
            for packet in container.demux(streams):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0 or stamp is None or not packet.stream.time_base:
                    continue
                base = packet.stream.time_base
                first, last = float(stamp * base), float((stamp + (packet.duration or 0)) * base)
                start = first if start is None else min(start, first)
                end = last if end is None else max(end, last)
                packets += packet.stream.index == video.index
        except (av.FFmpegError, OSError) as e:
            ended_by = f"{type(e).__name__}: {e}"
    # Negative timestamps are an encoder's priming (audio pre-roll), not playing time.
    duration = (end - max(start, 0.0)) if start is not None and end is not None else 0.0
    return DemuxedExtent(duration=max(0.0, duration), video_packets=packets, ended_by=ended_by)
