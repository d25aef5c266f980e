from fractions import Fraction

from datasets import List, Value

from djlite.fields import Fields, StatsKeys
from djlite.ops.base import VideoFilter
from djlite.registry import register_op


def parse_ratio(text: str, name: str) -> Fraction:
    try:
        ratio = Fraction(str(text).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{name} must be a ratio like '16/9' or '16:9', got {text!r}") from None
    if ratio <= 0:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return ratio


@register_op("video_aspect_ratio_filter")
class VideoAspectRatioFilter(VideoFilter):
    """Keep samples whose videos' width/height lies between min_ratio and max_ratio ("a/b" or "a:b").

    Stat `video_aspect_ratios`: coded width / coded height per video, as in Data-Juicer (rotation and
    sample aspect ratio are not applied). Bounds compare exactly as fractions, so 640x360 passes 16/9.
    """

    stats_features = {StatsKeys.video_aspect_ratios: List(Value("float64"))}

    def __init__(self, min_ratio: str = "9/21", max_ratio: str = "21/9", **kwargs):
        super().__init__(**kwargs)
        self.min_ratio = parse_ratio(min_ratio, "min_ratio")
        self.max_ratio = parse_ratio(max_ratio, "max_ratio")
        if self.min_ratio > self.max_ratio:
            raise ValueError(f"min_ratio {min_ratio} > max_ratio {max_ratio}")

    def video_stats(self, path, context):
        info = context.info(path)
        return {StatsKeys.video_aspect_ratios: info.width / info.height}

    def process(self, sample) -> bool:
        ratios = sample[Fields.stats][StatsKeys.video_aspect_ratios]
        return self.keep_by_videos([self.in_range(r, self.min_ratio, self.max_ratio) for r in ratios])
