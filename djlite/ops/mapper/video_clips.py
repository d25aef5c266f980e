"""What the clip splitters and resizers share: where their files go, how a clip sample is made, text tokens.

Not an op (no register_op): the base class `VideoSplitMapper` of the three split mappers and the helpers of
the two resize mappers.
"""

import copy
import os
from functools import cache

from djlite.fields import HASH_COLUMNS, Fields
from djlite.ops.base import FailedClip, Mapper, OneToManyMapper
from djlite.ops.filter.video_aspect_ratio_filter import VideoAspectRatioFilter
from djlite.ops.filter.video_duration_filter import VideoDurationFilter
from djlite.ops.filter.video_resolution_filter import VideoResolutionFilter
from djlite.run_paths import produced_data_dir
from djlite.video import clip_writer
from djlite.video.clip_writer import CUT_MODES, Span, WrittenClip
from djlite.video.context import VideoContext
from djlite.video.probe import VideoInfo, probe_video

ID_KEY = "id"  # the sample's own identity, which exports key their records by
VIDEO_TOKEN = "<__dj__video>"
EOC_TOKEN = "<|__dj__eoc|>"
# The filters whose stats describe a video file itself, not its content: a clip sample carries them for its
# own file, computed by the filters themselves, so a later one of these filters finds the numbers it would
# compute. Stats of the parent's content (motion, OCR) are not carried: they describe a different video.
FILE_STAT_FILTERS = (VideoDurationFilter, VideoResolutionFilter, VideoAspectRatioFilter)


@cache
def _file_stat_filters() -> tuple:
    return tuple(cls() for cls in FILE_STAT_FILTERS)


def file_stats(info: VideoInfo) -> dict:
    """{stat key: [value]} of FILE_STAT_FILTERS for the one video `info` probed, from that probe (not reopened
    for it; the duration filter's demux-only pass over the file still runs)."""
    with VideoContext() as context:
        context.remember(info)
        stats = {}
        for op in _file_stat_filters():
            stats.update(op.video_stats(info.path, context))
    return {key: [value] for key, value in stats.items()}


def produced_videos(op, row: dict) -> list[str]:
    """The entries of `row`'s videos that `op` wrote: those that differ from the video they were made from."""
    sources = row.get(Fields.source_file) or []
    return [video for video, source in zip(row.get(op.video_key) or [], sources) if video != source]


def output_root(op, path: str) -> str:
    """save_dir, else <work_dir>/__dj__produced_data__/<op>, else <video's folder>/__dj__produced_data__/<op>."""
    if op.save_dir:
        return os.path.abspath(op.save_dir)
    if op.work_dir:
        return produced_data_dir(op.work_dir, op.name)
    return produced_data_dir(os.path.dirname(os.path.abspath(path)), op.name)


def file_params(op, path: str, params: dict) -> dict:
    """What a produced file's name hashes: the op's parameters and the source's size and mtime (a changed
    source gets new files instead of stale ones)."""
    stat = os.stat(path)
    return {**params, "_size": stat.st_size, "_mtime_ns": stat.st_mtime_ns}


def clip_text(text: str | None, video_index: int) -> str | None:
    """The text of the clip of the sample's `video_index`-th video, with the special tokens as Data-Juicer writes
    a split sample's: the chunk (eoc-separated) that refers to that video, its token kept once and the other
    videos' tokens removed, then `<|__dj__eoc|>`. A text without video tokens is kept as it is."""
    if not text or VIDEO_TOKEN not in text:
        return text
    seen = 0
    for chunk in text.split(EOC_TOKEN):
        count = chunk.count(VIDEO_TOKEN)
        if not chunk.strip() or not count:
            continue
        if seen <= video_index < seen + count:
            pieces = chunk.split(VIDEO_TOKEN)
            mine = video_index - seen
            rebuilt = pieces[0]
            for k, piece in enumerate(pieces[1:]):
                rebuilt += (VIDEO_TOKEN if k == mine else "") + piece
            return f"{rebuilt}{EOC_TOKEN}"
        seen += count
    return f"{VIDEO_TOKEN}{EOC_TOKEN}"


def dj_split_text(text: str | None, counts: list[int], append_eoc: bool) -> str | None:
    """Data-Juicer's text for a split sample: the k-th video token repeated counts[k] times (0 removes it);
    with `append_eoc`, the non-empty eoc chunks each followed by the eoc token, as its duration and key-frame
    splitters write it."""
    if text is None:
        return text
    tokens = iter(counts)

    def repeat(chunk: str) -> str:
        pieces = chunk.split(VIDEO_TOKEN)
        return pieces[0] + "".join(VIDEO_TOKEN * next(tokens, 1) + piece for piece in pieces[1:])

    if not append_eoc:
        return repeat(text)
    return "".join(f"{repeat(chunk)}{EOC_TOKEN}" for chunk in text.split(EOC_TOKEN) if chunk.strip())


class VideoSplitMapper(OneToManyMapper):
    """One new sample per clip of each video of a sample.

    A clip sample is a copy of its parent with `videos` = [the clip file], the text of the parent's chunk for
    that video (see `clip_text`), `__dj__source_file__` = [the parent video] (Data-Juicer's column) and
    `__dj__clip__` = {source, start, end, index} (seconds from the parent's first frame; index counts the
    clips of that video).

    Ids: when the parent has an `id`, the clip's is `<parent id>_<n>`, n counting the sample's clips from 0
    across its videos in order (for a one-video sample, the clip index): stable across re-runs, and distinct
    for every clip of the sample (an error row keeps the id its clip would have had). A parent without an id
    gives clips without one, as it is; exports then key them by the clip file's name or position, both unique.
    An integer parent id becomes a string (the original, when kept, too: the column holds both). The id column
    is `id`, the one the exports key their records by; an identifier under another name (`uid`, `key`) is
    copied to the clips unchanged like any other column.

    Stats: the parent's stats and hashes describe a different video and are not carried. A clip sample starts
    with the stats of its own file that video_duration_filter, video_resolution_filter and
    video_aspect_ratio_filter compute (`FILE_STAT_FILTERS`), computed by those filters from the probe that
    verified the clip: the clip's real duration, size and aspect ratio (a stream copy's clips differ in
    length), which those filters later reuse instead of opening the clip again.

    Files: every clip written (or found from an earlier run) is read back before it counts
    (clip_writer.write_verified_clips); a stream copy that fails is re-encoded, and a clip that still fails is
    an error row naming why. Temporaries left in the clip folder by killed runs are removed before writing.

    Data-Juicer instead puts all the clips of a sample in one new sample; djlite makes one sample per clip so
    that later filters keep or drop each clip, and `one_sample_per_clip: false` gives Data-Juicer's layout.
    """

    stats_features = {key: feature for cls in FILE_STAT_FILTERS for key, feature in cls.stats_features.items()}

    reuses_whole_video = False
    """True: a video that yields one clip spanning all of it is not rewritten; the clip sample points at it."""

    def __init__(
        self,
        keep_original_sample: bool = True,
        save_dir: str | None = None,
        cut_mode: str = "auto",
        one_sample_per_clip: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cut_mode not in CUT_MODES:
            raise ValueError(f"cut_mode must be one of {', '.join(CUT_MODES)}, got {cut_mode!r}")
        self.keep_original_sample = keep_original_sample
        self.save_dir = save_dir
        self.cut_mode = cut_mode
        self.one_sample_per_clip = one_sample_per_clip

    def output_features(self, features):
        from datasets import List, Value

        features = features.copy()
        features[Fields.source_file] = List(Value("string"))
        if ID_KEY in features:
            features[ID_KEY] = Value("string")
        features[Fields.clip] = {
            "source": Value("string"),
            "start": Value("float64"),
            "end": Value("float64"),
            "index": Value("int32"),
        }
        return features

    def split_params(self) -> dict:
        """The parameters that decide the clips (hashed into their file names)."""
        raise NotImplementedError

    def spans(self, path: str, context) -> list[Span]:
        """The clips of one video, as exact cut points; the base class moves them to keyframes for a copy."""
        raise NotImplementedError

    def plan(self, path: str, context) -> tuple[list[Span], bool]:
        """(spans, reencode) for one video under cut_mode."""
        spans = self.spans(path, context)
        if not spans:
            return [], False
        keys, _ = clip_writer.keyframe_times(path)
        starts = [span.start for span in spans]
        if self.cut_mode == "reencode" or (self.cut_mode == "auto" and not clip_writer.on_keyframes(starts, keys)):
            return spans, True
        # A copy starts on a keyframe: every cut moves back to the keyframe at or before it, and a clip that
        # shrinks to nothing merges into its neighbour.
        snapped = clip_writer.snap_to_keyframes(starts, keys)
        moved = []
        for start, span in zip(snapped, spans):
            if moved and start <= moved[-1].start + clip_writer.EPS:
                moved[-1] = Span(moved[-1].start, span.end)
            else:
                if moved:
                    moved[-1] = Span(moved[-1].start, start)
                moved.append(Span(start, span.end))
        return moved, False

    def produced_file_columns(self) -> list[str]:
        return [self.video_key, Fields.source_file]

    def produced_files(self, row: dict) -> list[str]:
        return produced_videos(self, row)

    def _clip_names(self, path: str, root: str, count: int):
        """target_for(index, reencoded): the file of clip `index` of `path` for a copy or a re-encode."""
        stat = file_params(self, path, self.split_params())

        def target_for(index: int, reencoded: bool) -> str:
            params = {**stat, "reencode": reencoded}
            ext = clip_writer.output_ext(path, reencoded)
            return os.path.join(root, clip_writer.clip_name(path, self.name, params, index, count, ext))

        return target_for

    def split(self, sample, context=None) -> list:
        paths = self.video_paths(sample)
        plans = self.per_video(sample, context, self.plan)
        new = []
        for video_index, (path, (spans, reencode)) in enumerate(zip(paths, plans)):
            if self.reuses_whole_video and len(spans) == 1:  # the clip is the video itself: nothing to write
                info = context.info(path) if context is not None else probe_video(path)
                new.append(self.clip_sample(sample, video_index, path, path, spans[0], 0, info))
                continue
            root = output_root(self, path)
            clip_writer.remove_stale_clip_temporaries(root)
            target_for = self._clip_names(path, root, len(spans))

            written = clip_writer.write_verified_clips(path, spans, target_for, reencode)
            for index, (span, clip) in enumerate(zip(spans, written)):
                if isinstance(clip, WrittenClip):
                    new.append(self.clip_sample(sample, video_index, path, clip.path, span, index, clip.info))
                else:
                    target = target_for(index, reencode)
                    child = self.clip_sample(sample, video_index, path, target, span, index, None)
                    new.append(FailedClip(child, clip))
        parent_id = sample.get(ID_KEY)
        if parent_id is not None:
            sample[ID_KEY] = str(parent_id)  # the column now holds string ids (output_features)
            for n, made in enumerate(new):
                (made.sample if isinstance(made, FailedClip) else made)[ID_KEY] = f"{parent_id}_{n}"
        return new if self.one_sample_per_clip else self.data_juicer_layout(sample, paths, new)

    # Data-Juicer's text rule for the sample holding all clips: whether every eoc chunk gets an eoc appended
    # (duration and key-frame splitters) or the text keeps its own (scene splitter).
    dj_appends_eoc = True

    def data_juicer_layout(self, sample, paths: list[str], made: list) -> list:
        """one_sample_per_clip: false: the clips of all videos in one new sample, as Data-Juicer lays them out.

        `videos` lists the clips in order, `__dj__source_file__` the parent of each, the text has each video's
        token repeated once per clip (a video with no clip loses its token); `__dj__clip__` stays empty (one
        record cannot describe several clips), the stats list the clips' in order, and the id is the parent's.
        Clips that failed stay error rows of their own.
        """
        good = [m for m in made if not isinstance(m, FailedClip)]
        failed = [m for m in made if isinstance(m, FailedClip)]
        if not good:
            return failed
        counts = [sum(1 for m in good if m[Fields.clip]["source"] == path) for path in paths]
        combined = dict(good[0])
        combined[self.video_key] = [m[self.video_key][0] for m in good]
        combined[Fields.source_file] = [m[Fields.clip]["source"] for m in good]
        combined[Fields.clip] = None
        combined[Fields.stats] = {key: [v for m in good for v in m[Fields.stats][key]] for key in self.stats_features}
        if ID_KEY in sample:
            combined[ID_KEY] = sample[ID_KEY]
        if self.text_key in sample:
            combined[self.text_key] = dj_split_text(sample[self.text_key], counts, self.dj_appends_eoc)
        return [combined] + failed

    def clip_sample(
        self, sample, video_index: int, path: str, target: str, span: Span, index: int, info: VideoInfo | None
    ) -> dict:
        """The clip sample of `target` (`info`: its probe, None for a clip that could not be made)."""
        child = copy.deepcopy({k: v for k, v in sample.items() if k not in (Fields.stats, *HASH_COLUMNS)})
        child[self.video_key] = [target]
        if self.text_key in child:
            child[self.text_key] = clip_text(child[self.text_key], video_index)
        child[Fields.stats] = file_stats(info) if info is not None else {}
        for column in HASH_COLUMNS:
            if column in sample:
                child[column] = None
        child[Fields.source_file] = [path]
        child[Fields.clip] = {"source": path, "start": round(span.start, 6), "end": round(span.end, 6), "index": index}
        return child


class VideoResizeMapper(Mapper):
    """A mapper that re-encodes the videos whose size it changes (`target_size`) and points `videos` at them.

    The resized file is `<root>/<stem>__<12 hex>.mp4` (see output_root; the hex hashes the source and the
    parameters), written atomically and not rewritten by a re-run. `__dj__source_file__` keeps the original
    paths, as in Data-Juicer. Sizes are coded sizes (rotation metadata is not applied), as Data-Juicer's.
    """

    def __init__(self, save_dir: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.save_dir = save_dir

    def output_features(self, features):
        from datasets import List, Value

        features = features.copy()
        features[Fields.source_file] = List(Value("string"))
        return features

    def resize_params(self) -> dict:
        raise NotImplementedError

    def target_size(self, width: int, height: int) -> tuple[int, int] | None:
        """(width, height) to resize a video of this coded size to, or None to leave it as it is."""
        raise NotImplementedError

    def resized(self, path: str, context) -> str:
        info = context.info(path)
        size = self.target_size(info.width, info.height)
        if size is None or tuple(size) == (info.width, info.height):
            return path
        params = file_params(self, path, {**self.resize_params(), "size": list(size)})
        root = output_root(self, path)
        target = os.path.join(root, clip_writer.clip_name(path, self.name, params, 0, 1, ".mp4"))
        if not os.path.exists(target):
            clip_writer.remove_stale_clip_temporaries(root)
            clip_writer.reencode_clip(path, target, None, size)
        return target

    def produced_file_columns(self) -> list[str]:
        return [self.video_key, Fields.source_file]

    def produced_files(self, row: dict) -> list[str]:
        return produced_videos(self, row)

    def process(self, sample, context=None):
        paths = self.video_paths(sample)
        if not paths:
            sample[Fields.source_file] = sample.get(Fields.source_file) or []
            return sample
        if not sample.get(Fields.source_file):
            sample[Fields.source_file] = list(paths)
        sample[self.video_key] = self.per_video(sample, context, self.resized)
        return sample
