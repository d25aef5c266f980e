import math
import sys

from djlite.ops.mapper.video_clips import VideoResizeMapper
from djlite.registry import register_op

ASPECT_MODES = ("disable", "decrease", "increase")


@register_op("video_resize_resolution_mapper")
class VideoResizeResolutionMapper(VideoResizeMapper):
    """Resize videos whose width or height is outside the bounds, keeping the aspect ratio where it can.

    Data-Juicer's computation, step for step: scale into the bounds with the original aspect; round each side
    to a multiple of `force_divisible_by` (2 with `force_original_aspect_ratio: disable`) inside its bounds;
    with `increase` / `decrease`, grow / shrink one side back to the original aspect and round again. The video
    is re-encoded (H.264) with PyAV instead of ffmpeg's scale filter; files go where the clips' do
    (docs/clips-and-selection.md).
    """

    def __init__(
        self,
        min_width: int = 1,
        max_width: int = sys.maxsize,
        min_height: int = 1,
        max_height: int = sys.maxsize,
        force_original_aspect_ratio: str = "disable",
        force_divisible_by: int = 2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        mode = str(force_original_aspect_ratio).lower()
        if mode not in ASPECT_MODES:
            raise ValueError(f"force_original_aspect_ratio must be one of {', '.join(ASPECT_MODES)}, got {mode!r}")
        if force_divisible_by < 1 or (mode != "disable" and (force_divisible_by < 2 or force_divisible_by % 2)):
            raise ValueError(
                f"force_divisible_by must be an even number > 1 with force_original_aspect_ratio {mode!r}, "
                f"got {force_divisible_by}"
            )
        if min_width > max_width or min_height > max_height:
            raise ValueError(f"bounds are empty: width {min_width}..{max_width}, height {min_height}..{max_height}")
        self.min_width, self.max_width = min_width, max_width
        self.min_height, self.max_height = min_height, max_height
        self.force_original_aspect_ratio = mode
        self.force_divisible_by = force_divisible_by

    def resize_params(self) -> dict:
        return {
            "width": [self.min_width, self.max_width],
            "height": [self.min_height, self.max_height],
            "aspect": self.force_original_aspect_ratio,
            "divisible": self.force_divisible_by,
        }

    def target_size(self, width, height):
        if self.min_width <= width <= self.max_width and self.min_height <= height <= self.max_height:
            return None
        ratio = width / height
        w, h = width, height
        if w < self.min_width:
            h, w = self.min_width / ratio, self.min_width
        if w > self.max_width:
            h, w = self.max_width / ratio, self.max_width
        if h < self.min_height:
            w, h = self.min_height * ratio, self.min_height
        if h > self.max_height:
            w, h = self.max_height * ratio, self.max_height
        d = 2 if self.force_original_aspect_ratio == "disable" else self.force_divisible_by

        def fit(x, low, high):
            x = int(max(x, low))
            x = math.ceil(x / d) * d
            x = int(min(x, high))
            return int(x / d) * d

        w, h = fit(w, self.min_width, self.max_width), fit(h, self.min_height, self.max_height)
        if self.force_original_aspect_ratio == "increase":
            if w / h < ratio:
                w = h * ratio
            elif w / h > ratio:
                h = w / ratio
        elif self.force_original_aspect_ratio == "decrease":
            if w / h < ratio:
                h = w / ratio
            elif w / h > ratio:
                w = h * ratio
        w, h = round(w / d) * d, round(h / d) * d
        return max(2, int(w)), max(2, int(h))
