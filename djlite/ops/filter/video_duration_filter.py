import sys
from typing import Literal

from datasets import List, Value
from loguru import logger

from djlite.fields import Fields, StatsKeys
from djlite.ops.base import VideoFilter
from djlite.registry import register_op
from djlite.video.probe import demuxed_extent

# A header may overstate the packets by this much before the file counts as truncated: max(1 s, 10%).
TRUNCATION_SECONDS = 1.0
TRUNCATION_SHARE = 0.1


@register_op("video_duration_filter")
class VideoDurationFilter(VideoFilter):
    """Keep samples whose videos last between min_duration and max_duration seconds.

    Stat `video_duration`: one float per video, in seconds. Unlike Data-Juicer, which reports the video
    stream's duration rounded to whole seconds (so `min_duration: 11.9` passes an 11.75 s clip), djlite
    keeps the real value, and it is the file's duration as ffprobe and players report it: the longest of
    its streams, read from the header, or from the packets' timestamps when the header has none (webm/mkv,
    where Data-Juicer fails). A video whose frames do not decode is an error, not a duration.

    Stat `video_decodable_duration`: what the file's packets really cover, from a demux-only pass (no
    decoding; a few ms per file). A truncated upload keeps a header that promises the whole video (a cut
    faststart MP4: 10 s claimed, 2.9 s present; a cut WebM: 30 s claimed, 9.6 s present); such a file gets a
    warning in the log naming it, and `duration_source: decodable` makes min/max_duration apply to this stat
    instead of the header's. Packets that demux but do not decode (a corrupted middle) are found only by
    decoding: the frame filters (motion, OCR) log those files.
    """

    stats_features = {
        StatsKeys.video_duration: List(Value("float64")),
        StatsKeys.video_decodable_duration: List(Value("float64")),
    }
    # Which stat the bounds apply to is a decision, not part of how the stats are computed.
    decision_params = ("duration_source",)

    def __init__(
        self,
        min_duration: float = 0,
        max_duration: float = sys.maxsize,
        duration_source: Literal["header", "decodable"] = "header",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if min_duration < 0:
            raise ValueError(f"min_duration must be >= 0, got {min_duration}")
        if min_duration > max_duration:
            raise ValueError(f"min_duration {min_duration} > max_duration {max_duration}")
        if duration_source not in ("header", "decodable"):
            raise ValueError(f"duration_source must be 'header' or 'decodable', got {duration_source!r}")
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.duration_source = duration_source
        self.bounded_stat = (
            StatsKeys.video_decodable_duration if duration_source == "decodable" else StatsKeys.video_duration
        )
        self.stats_bounds = {self.bounded_stat: ("min_duration", "max_duration")}

    def has_stats(self, sample) -> bool:
        # The stat the bounds apply to is enough: a dataset carrying Data-Juicer's video_duration is not recomputed.
        return (sample.get(Fields.stats) or {}).get(self.bounded_stat) is not None

    def video_stats(self, path, context):
        duration = context.info(path).duration
        extent = demuxed_extent(path)
        if duration - extent.duration > max(TRUNCATION_SECONDS, TRUNCATION_SHARE * duration):
            cause = f"; the demuxer stopped with {extent.ended_by}" if extent.ended_by else ""
            logger.warning(
                f"partly decodable video: its header says {duration:.2f} s but its packets cover "
                f"{extent.duration:.2f} s (truncated or cut{cause}); stat video_decodable_duration, filter with "
                f"duration_source: decodable: {path}"
            )
        return {StatsKeys.video_duration: duration, StatsKeys.video_decodable_duration: extent.duration}

    def process(self, sample) -> bool:
        durations = sample[Fields.stats][self.bounded_stat]
        return self.keep_by_videos([self.in_range(d, self.min_duration, self.max_duration) for d in durations])
