import sys

from datasets import List, Value

from djlite.fields import Fields, StatsKeys
from djlite.ops.base import VideoFilter
from djlite.registry import register_op


@register_op("video_resolution_filter")
class VideoResolutionFilter(VideoFilter):
    """Keep samples whose videos' width and height both lie within the given bounds (pixels).

    Stats `video_width` and `video_height` are the size as coded, before rotation, like Data-Juicer.
    djlite also records `video_rotation` (degrees, as ffprobe reports it: -90, 90, 180...) so that the
    displayed size can be derived: width and height swap when rotation is an odd multiple of 90.
    """

    stats_features = {
        StatsKeys.video_width: List(Value("int64")),
        StatsKeys.video_height: List(Value("int64")),
        StatsKeys.video_rotation: List(Value("int64")),
    }

    def __init__(
        self,
        min_width: int = 1,
        max_width: int = sys.maxsize,
        min_height: int = 1,
        max_height: int = sys.maxsize,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if min_width > max_width:
            raise ValueError(f"min_width {min_width} > max_width {max_width}")
        if min_height > max_height:
            raise ValueError(f"min_height {min_height} > max_height {max_height}")
        self.min_width, self.max_width = min_width, max_width
        self.min_height, self.max_height = min_height, max_height

    def video_stats(self, path, context):
        info = context.info(path)
        return {
            StatsKeys.video_width: info.width,
            StatsKeys.video_height: info.height,
            StatsKeys.video_rotation: info.rotation,
        }

    def process(self, sample) -> bool:
        stats = sample[Fields.stats]
        verdicts = [
            self.in_range(w, self.min_width, self.max_width) and self.in_range(h, self.min_height, self.max_height)
            for w, h in zip(stats[StatsKeys.video_width], stats[StatsKeys.video_height])
        ]
        return self.keep_by_videos(verdicts)
