import sys

from datasets import List, Value

from djlite.fields import Fields, StatsKeys
from djlite.ops.base import VideoFilter, warn_ignored
from djlite.registry import register_op


@register_op("video_duration_filter")
class VideoDurationFilter(VideoFilter):
    """Keep samples whose videos last between min_duration and max_duration seconds.

    Stat `video_duration`: one float per video, in seconds. Unlike Data-Juicer, which reports the video
    stream's duration rounded to whole seconds (so `min_duration: 11.9` passes an 11.75 s clip), djlite
    keeps the real value, and it is the file's duration as ffprobe and players report it: the longest of
    its streams, read from the header, or from the packets' timestamps when the header has none (webm/mkv,
    where Data-Juicer fails). A video whose frames do not decode is an error, not a duration.
    `video_backend` (Data-Juicer 1.6) is accepted and ignored with a warning.
    """

    stats_features = {StatsKeys.video_duration: List(Value("float64"))}

    def __init__(
        self, min_duration: float = 0, max_duration: float = sys.maxsize, video_backend: str | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        warn_ignored(self, "video_backend", video_backend, "djlite reads durations with PyAV")
        if min_duration < 0:
            raise ValueError(f"min_duration must be >= 0, got {min_duration}")
        if min_duration > max_duration:
            raise ValueError(f"min_duration {min_duration} > max_duration {max_duration}")
        self.min_duration = min_duration
        self.max_duration = max_duration

    def video_stats(self, path, context):
        return {StatsKeys.video_duration: context.info(path).duration}

    def process(self, sample) -> bool:
        durations = sample[Fields.stats][StatsKeys.video_duration]
        return self.keep_by_videos([self.in_range(d, self.min_duration, self.max_duration) for d in durations])
