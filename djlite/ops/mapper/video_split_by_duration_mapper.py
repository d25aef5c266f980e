from djlite.ops.mapper.video_clips import VideoSplitMapper
from djlite.registry import register_op
from djlite.video.clip_writer import Span


@register_op("video_split_by_duration_mapper")
class VideoSplitByDurationMapper(VideoSplitMapper):
    """Split each video into clips of `split_duration` seconds; one new sample per clip.

    The last clip is dropped when it is shorter than `min_last_split_duration`. Clips are cut as `cut_mode`
    says (djlite.video.clip_writer): `auto` copies the packets when every cut falls on a keyframe (videos
    encoded with a fixed GOP that divides the duration) and re-encodes otherwise; `copy` moves each cut back to
    the keyframe at or before it (clips then differ in length; lossless, and a few percent of a re-encode's
    time: `python tools/bench.py --only clips`); `reencode` cuts on the exact frame. Clip samples and files:
    docs/clips-and-selection.md. Data-Juicer always re-encodes, keeps all clips of a sample in one new sample, and names
    files with a pid and timestamp, so its re-runs write new files.
    """

    def __init__(self, split_duration: float = 10, min_last_split_duration: float = 0, **kwargs):
        super().__init__(**kwargs)
        if split_duration <= 0:
            raise ValueError(f"split_duration must be > 0 seconds, got {split_duration}")
        if min_last_split_duration < 0:
            raise ValueError(f"min_last_split_duration must be >= 0 seconds, got {min_last_split_duration}")
        self.split_duration = split_duration
        self.min_last_split_duration = min_last_split_duration

    def split_params(self) -> dict:
        return {"split_duration": self.split_duration, "min_last_split_duration": self.min_last_split_duration}

    def spans(self, path, context) -> list[Span]:
        length = context.info(path).stream_duration
        starts = []
        t = 0.0
        while t < length - 1e-6:
            starts.append(t)
            t = round(t + self.split_duration, 6)
        spans = [Span(start, min(start + self.split_duration, length)) for start in starts]
        if spans and spans[-1].end - spans[-1].start < self.min_last_split_duration:
            spans.pop()
        return spans
