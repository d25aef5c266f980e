"""What the clip splitters and resizers share: where their files go, how a clip sample is made, text tokens.

Not an op (no register_op): the base class `VideoSplitMapper` of the three split mappers and the helpers of
the two resize mappers.
"""

import copy
import os

import av

from djlite.errors import SampleError
from djlite.fields import HASH_COLUMNS, Fields
from djlite.ops.base import FailedClip, Mapper, OneToManyMapper
from djlite.video import clip_writer
from djlite.video.clip_writer import CUT_MODES, Span

PRODUCED_DATA = "__dj__produced_data__"  # Data-Juicer's Fields.multimodal_data_output_dir
VIDEO_TOKEN = "<__dj__video>"
EOC_TOKEN = "<|__dj__eoc|>"
WRITE_ERRORS = (SampleError, OSError, ValueError, EOFError, av.FFmpegError)


def output_root(op, path: str) -> str:
    """save_dir, else <work_dir>/__dj__produced_data__/<op>, else <video's folder>/__dj__produced_data__/<op>."""
    if op.save_dir:
        return os.path.abspath(op.save_dir)
    if op.work_dir:
        return os.path.join(os.path.abspath(op.work_dir), PRODUCED_DATA, op.name)
    return os.path.join(os.path.dirname(os.path.abspath(path)), PRODUCED_DATA, op.name)


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
    `__dj__clip__` = {source, start, end, index} (seconds from the parent's first frame). Its stats and hashes
    start empty: the parent's describe a different video. Data-Juicer instead puts all the clips of a sample in
    one new sample; djlite makes one sample per clip so that later filters keep or drop each clip, and
    `one_sample_per_clip: false` gives Data-Juicer's layout.
    """

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

    def split(self, sample, context=None) -> list:
        paths = self.video_paths(sample)
        plans = self.per_video(sample, context, self.plan)
        new = []
        for video_index, (path, (spans, reencode)) in enumerate(zip(paths, plans)):
            root = output_root(self, path)
            ext = clip_writer.output_ext(path, reencode)
            params = file_params(self, path, {**self.split_params(), "reencode": reencode})
            whole = self.reuses_whole_video and len(spans) == 1
            targets = [
                path
                if whole
                else os.path.join(root, clip_writer.clip_name(path, self.name, params, i, len(spans), ext))
                for i in range(len(spans))
            ]
            children = [
                self.clip_sample(sample, video_index, path, t, s, i) for i, (t, s) in enumerate(zip(targets, spans))
            ]
            if whole:
                new.extend(children)
                continue
            errors = self.write(path, list(zip(targets, spans)), reencode)
            new.extend(child if error is None else FailedClip(child, error) for child, error in zip(children, errors))
        return new if self.one_sample_per_clip else self.data_juicer_layout(sample, paths, new)

    def write(self, path: str, items: list, reencode: bool) -> list:
        """Write the clips [(target, span)] of one video; per clip None or the error it got."""
        errors = [None] * len(items)
        for i, (_target, span) in enumerate(items):
            if span.end - span.start <= clip_writer.EPS:
                errors[i] = SampleError(f"{path}: clip {i} is empty ({span.start:.3f}s to {span.end:.3f}s)")
        usable = [i for i in range(len(items)) if errors[i] is None]
        if not reencode:  # one pass over the source for all its clips
            for i, error in zip(usable, clip_writer.copy_clips(path, [items[i] for i in usable])):
                errors[i] = error
            return errors
        for i in usable:
            try:
                clip_writer.write_clip(path, items[i][0], items[i][1], reencode=True)
            except WRITE_ERRORS as e:
                errors[i] = e
        return errors

    # Data-Juicer's text rule for the sample holding all clips: whether every eoc chunk gets an eoc appended
    # (duration and key-frame splitters) or the text keeps its own (scene splitter).
    dj_appends_eoc = True

    def data_juicer_layout(self, sample, paths: list[str], made: list) -> list:
        """one_sample_per_clip: false: the clips of all videos in one new sample, as Data-Juicer lays them out.

        `videos` lists the clips in order, `__dj__source_file__` the parent of each, the text has each video's
        token repeated once per clip (a video with no clip loses its token); `__dj__clip__` stays empty (one
        record cannot describe several clips). Clips that failed stay error rows of their own.
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
        if self.text_key in sample:
            combined[self.text_key] = dj_split_text(sample[self.text_key], counts, self.dj_appends_eoc)
        return [combined] + failed

    def clip_sample(self, sample, video_index: int, path: str, target: str, span: Span, index: int) -> dict:
        child = copy.deepcopy({k: v for k, v in sample.items() if k not in (Fields.stats, *HASH_COLUMNS)})
        child[self.video_key] = [target]
        if self.text_key in child:
            child[self.text_key] = clip_text(child[self.text_key], video_index)
        if Fields.stats in sample:
            child[Fields.stats] = {}
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
        target = os.path.join(output_root(self, path), clip_writer.clip_name(path, self.name, params, 0, 1, ".mp4"))
        if not os.path.exists(target):
            clip_writer.reencode_clip(path, target, None, size)
        return target

    def process(self, sample, context=None):
        paths = self.video_paths(sample)
        if not paths:
            sample[Fields.source_file] = sample.get(Fields.source_file) or []
            return sample
        if not sample.get(Fields.source_file):
            sample[Fields.source_file] = list(paths)
        sample[self.video_key] = self.per_video(sample, context, self.resized)
        return sample
