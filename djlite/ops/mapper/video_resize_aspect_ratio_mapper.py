import math
from fractions import Fraction

from djlite.ops.mapper.video_clips import VideoResizeMapper
from djlite.registry import register_op

STRATEGIES = ("increase", "decrease")


def parse_ratio(value) -> Fraction:
    try:
        return Fraction(str(value).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"a ratio must look like '16/9' or '16:9', got {value!r}") from None


@register_op("video_resize_aspect_ratio_mapper")
class VideoResizeAspectRatioMapper(VideoResizeMapper):
    """Resize videos whose width/height is outside [min_ratio, max_ratio] to the nearest bound.

    `increase` grows the short side (width for a too-narrow video, height for a too-wide one), `decrease`
    shrinks the long side; both keep even sizes, as Data-Juicer's `rescale` does. The video is re-encoded
    (H.264) with PyAV instead of ffmpeg's scale filter; files go where the clips' do (docs/clips-and-selection.md).
    """

    def __init__(self, min_ratio: str = "9/21", max_ratio: str = "21/9", strategy: str = "increase", **kwargs):
        super().__init__(**kwargs)
        strategy = str(strategy).lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'increase' or 'decrease', got {strategy!r}")
        self.min_ratio = parse_ratio(min_ratio)
        self.max_ratio = parse_ratio(max_ratio)
        if self.min_ratio > self.max_ratio:
            raise ValueError(f"min_ratio {min_ratio} > max_ratio {max_ratio}")
        self.strategy = strategy

    def resize_params(self) -> dict:
        return {"min_ratio": str(self.min_ratio), "max_ratio": str(self.max_ratio), "strategy": self.strategy}

    def target_size(self, width, height):
        ratio = Fraction(width, height)
        if self.min_ratio <= ratio <= self.max_ratio:
            return None
        w, h = width, height
        if ratio < self.min_ratio:
            if self.strategy == "increase":
                w = math.ceil(height * self.min_ratio)
                w += w % 2
            else:
                h = math.floor(width / self.min_ratio)
                h -= h % 2
        else:
            if self.strategy == "increase":
                h = math.ceil(width / self.max_ratio)
                h += h % 2
            else:
                w = math.floor(height * self.max_ratio)
                w -= w % 2
        return max(2, w), max(2, h)
