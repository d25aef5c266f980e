from djlite.ops.mapper.video_clips import VideoSplitMapper
from djlite.registry import register_op
from djlite.video.clip_writer import Span, keyframe_times


@register_op("video_split_by_key_frame_mapper")
class VideoSplitByKeyFrameMapper(VideoSplitMapper):
    """Split each video at its keyframes: one new sample per group of pictures, [k_i, k_i+1) then [k_last, end).

    Every cut is on a keyframe, so the default cut_mode `auto` copies packets (lossless; only reading each clip
    back decodes); Data-Juicer re-encodes each piece. The keyframes come from a demux-only pass (nothing decoded).
    Clip samples and files: docs/clips-and-selection.md.
    """

    def split_params(self) -> dict:
        return {}

    def spans(self, path, context) -> list[Span]:
        keys, end = keyframe_times(path)
        bounds = keys + [end]
        return [Span(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
