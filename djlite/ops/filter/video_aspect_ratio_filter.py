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


# Two fractions with denominators up to N differ by at least 1/N^2, far more than a double's error on w/h:
# the closest fraction to the float with a denominator up to N is w/h itself for every height up to N.
MAX_SIDE = 1 << 20


def exact_ratio(value: float) -> Fraction:
    """The fraction width/height that the float stat `value` was computed from (exact for sides <= MAX_SIDE)."""
    return Fraction(value).limit_denominator(MAX_SIDE)


@register_op("video_aspect_ratio_filter")
class VideoAspectRatioFilter(VideoFilter):
    """Keep samples whose videos' width/height lies between min_ratio and max_ratio ("a/b" or "a:b").

    Stat `video_aspect_ratios`: coded width / coded height per video, as in Data-Juicer (rotation and
    sample aspect ratio are not applied), a float. The bounds compare exactly: each stat is read back as the
    fraction width/height it was computed from (the float 1280/720 = 1.7777777777777777 is below 16/9 by
    2e-16, so a float comparison drops every exactly-16:9 video from `min_ratio: 16/9`; Data-Juicer, which
    compares floats, does). Any side up to `MAX_SIDE` pixels is recovered exactly.
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
        return self.keep_by_videos([self.in_range(exact_ratio(r), self.min_ratio, self.max_ratio) for r in ratios])
