"""Operator base classes: the op contract. They stay small: executors own looping, workers and errors.

An op works on one sample dict, without an executor:

    op = VideoDurationFilter(max_duration=15)
    sample = op.compute_stats({"videos": ["a.mp4"]})
    op.process(sample)   # True = keep

Every hook an executor looks up is declared here with its default and a docstring; an executor asks
`overrides(op, "hook")` (or a property built on it, like `op.reads_frames`) instead of probing attributes by
name. The op kinds:

- Filter: `compute_stats(sample, context)` writes `stats_features` into `__dj__stats__`; `process(sample)`
  decides from the stats alone. VideoFilter computes per unique video with `video_stats(path, context)`,
  or, for an op that reads frames, from its `frame_consumer`'s result with nothing more to write.
- Mapper: `process(sample, context) -> sample`, declares added columns in `output_features`.
- OneToManyMapper: `split(sample, context) -> [new samples]` (clip splitters); the stage keeps lineage and
  per-op in / out / created / consumed counts.
- Deduplicator: `compute_hash(sample, context)` per sample (writes `hash_features`), then one pure
  dataset-level step `select(table) -> Selection` on a table of those columns.
- Selector: only the dataset-level step, on a table of `input_columns` (columns or stat keys).

Both executors run the dataset-level step the same way (djlite/core/selection.py): they build the narrow
table in dataset order, call `select`, write the Selection's per-row stats and keep its rows.
"""

import inspect
import sys
from dataclasses import dataclass, field

from djlite.fields import Fields
from djlite.params import signature_params
from djlite.video.context import VideoContext


def overrides(op, hook: str) -> bool:
    """True when `op`'s class defines `hook` itself instead of inheriting the base classes' default.

    The defaults live on the base classes below; an executor uses this (as NeMo Curator detects batch support)
    rather than `hasattr`, so a typo in an op's method name is not silently taken for "no such hook".
    """
    for base in _CONTRACT_CLASSES:
        if isinstance(op, base) or (isinstance(op, type) and issubclass(op, base)):
            default = base.__dict__.get(hook)
            if default is not None:
                return getattr(op if isinstance(op, type) else type(op), hook) is not default
    return False


_warned: set = set()


def warn_ignored(op, param: str, value, why: str) -> None:
    """Warn once per process that a Data-Juicer parameter given to `op` has no effect in djlite."""
    if value is None or (type(op).__name__, param) in _warned:
        return
    _warned.add((type(op).__name__, param))
    from loguru import logger

    logger.warning(f"{op.name}: {param}={value!r} is a Data-Juicer parameter djlite ignores ({why})")


@dataclass
class Selection:
    """What a dataset-level step (deduplicator, selector) decided about its input table of n rows.

    kept: row positions (0..n-1) to keep, in output order (ascending for deduplicators; pick order for a
    selector). stats: per-row values of the op's `stats_features`, {stat key: list of n values}, written into
    every row's `__dj__stats__` (also the dropped rows', for the filtered-samples record and stats-only runs).
    pairs: up to `show_num` traced duplicate groups, {key: [rows...]}, as Data-Juicer's tracer shows them.
    """

    kept: list[int]
    stats: dict[str, list] = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)


class OP:
    _name: str = "op"
    # Heavy models load in setup(), once per worker; constructors stay cheap and picklable.
    uses_model: bool = False
    """True when setup() loads a model: the Ray executor then runs the op's stage in an actor pool, so the model
    loads once per actor instead of once per task."""
    results_by_content: bool = True
    """True when what `per_video` computes for a video depends on the file's bytes alone (stats, signatures), so a
    byte-identical copy reuses it; False for an op whose result names the path (a mapper writing files)."""
    requires: dict = {}
    """Optional packages this op needs: {import name: djlite extra that installs it}, e.g. {"rapidocr": "ocr"}.
    Checked on disk (nothing imported) when the recipe is built, so a missing one fails before any data is read
    with the `pip install 'djlite[extra]'` to run. An instance may narrow it in __init__ (an op whose backend
    is a parameter)."""
    decision_params: tuple = ()
    """Parameters that decide from what the op computes and never change it, where no name says so: a
    deduplicator's `threshold` and `keep`, the duration filter's choice of which stat its bounds apply to. Part
    of `threshold_params`."""

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj._given = (args, kwargs)
        return obj

    def __init__(
        self,
        text_key: str = "text",
        video_key: str = "videos",
        num_proc: int | None = None,
        batch_size: int = 1000,
        skip_op_error: bool = True,
        accelerator: str | None = None,
        cpu_required: float = 1,
        gpu_required: float = 0,
        mem_required: float | str = 0,
        work_dir: str | None = None,
    ):
        # batch_size, skip_op_error and the *_required keys are accepted so that Data-Juicer recipes load;
        # djlite's error policy is the recipe-level `on_error`, and resources matter only to the Ray executor.
        self.text_key = text_key
        self.video_key = video_key
        self.num_proc = num_proc
        self.batch_size = batch_size
        self.accelerator = accelerator
        self.cpu_required = cpu_required
        self.gpu_required = gpu_required
        self.mem_required = mem_required
        self.work_dir = work_dir

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> dict:
        """Every parameter of this op, defaults filled in: what the resolved recipe shows."""
        args, kwargs = getattr(self, "_given", ((), {}))
        params = signature_params(type(self))
        bound = dict(zip([p for p in inspect.signature(type(self).__init__).parameters if p != "self"], args))
        bound.update(kwargs)
        return {name: bound.get(name, p.default) for name, p in params.items()}

    def setup(self) -> None:
        """Load models and other per-process state. Called once per worker before the first sample."""

    @property
    def threshold_params(self) -> frozenset[str]:
        """Every parameter that only decides from what the op computes (stats, signatures) and never changes it:
        the stats cache (djlite.stats_cache) keys a result on the op's other parameters, so a re-run that changes
        only these reuses it, and the trace and dj-analyze show them. Here the declared `decision_params`; a
        filter adds its bounds and range flags."""
        return frozenset(self.decision_params)

    # ------------------------------------------------------------------ frames

    def frame_consumer(self, info):
        """A `djlite.video.reader.FrameConsumer` for one video (`info`: its probe), or None for no frames.

        Override it to read decoded frames: the stage's VideoContext then builds the consumers of every frame op
        of the stage on the first request for a video and feeds them all from one decode. A consumer gets the
        op's parameters (and a loaded model), never the op itself, so it stays a small object with one job.
        """
        return None

    @property
    def reads_frames(self) -> bool:
        return overrides(self, "frame_consumer")

    def frame_result(self, path: str, context: VideoContext):
        """The result of this op's frame consumer on `path`, from the stage's shared decode."""
        return context.frame_result(self, path)

    def per_video(self, sample, context: VideoContext | None, compute) -> list:
        """[compute(path, context) for each entry of sample[video_key]], computed once per unique path.

        In a stage, a result is also reused for a byte-identical file seen earlier by the same worker
        (djlite/core/content.py) when the op's results depend on content alone (`results_by_content`).
        Without a context (an op called directly, outside an executor) one is made for this sample and closed.
        """
        paths = self.video_paths(sample)
        own = context is None
        context = context or VideoContext(frame_ops=[self] if self.reads_frames else [])
        cache = context.content_cache if self.results_by_content else None
        done = {}
        try:
            for path in dict.fromkeys(paths):
                found, result = cache.get((id(self), compute.__name__), path) if cache else (False, None)
                if not found:
                    result = compute(path, context)
                    if cache:
                        cache.put((id(self), compute.__name__), path, result)
                done[path] = result
        finally:
            if own:
                context.close()
        return [done[path] for path in paths]

    def video_paths(self, sample) -> list[str]:
        return list(sample.get(self.video_key) or [])

    def produced_file_columns(self) -> list[str]:
        """The columns `produced_files` reads."""
        return []

    def produced_files(self, row: dict) -> list[str]:
        """The files this op wrote that `row`, a row its stage put out, refers to (clips, resized videos); `row`
        holds at least the columns of `produced_file_columns`.

        An executor reuses a stored result of the op's stage (datasets' cache, a checkpoint) only while every
        one of them exists, so a user who deletes the outputs and runs again gets the files again.
        """
        return []

    @property
    def writes_files(self) -> bool:
        return overrides(self, "produced_files")

    def output_features(self, features):
        """The dataset's features after this op. Override when adding or changing columns other than stats
        (a mapper's new column, a filter's `__dj__meta__` entry); stats are declared in `stats_features`."""
        return features

    def __repr__(self):
        return f"{type(self).__name__}({self.config})"


class Filter(OP):
    """Computes stats into sample["__dj__stats__"], then decides from the stats alone."""

    stats_features: dict = {}
    """Stat keys this filter writes and the Arrow type of each (a `datasets` feature). Must not be empty (checked
    at registration); a key written but not declared stops the run on the stage's first sample."""
    stats_bounds: dict = {}
    """Which parameters bound which stat, {stat_key: (min_param, max_param)}, either may be None (dj-analyze draws
    them; the stats cache leaves them out of a result's key). Only needed when the names do not say it: by
    default min_X / max_X bound the stat whose key contains X (`bound_params`)."""
    range_flags: tuple = ("min_closed_interval", "max_closed_interval", "reversed_range", "any_or_all")
    """The base's flags: how a stat is compared with the bounds. Flags, not bounds, although two are named min_/max_;
    like the bounds they only decide from the stats."""
    stats_placeholders: dict = {}
    """Values of a stat that stand for "not measured" (the motion score's -1), {stat_key: value}: dj-analyze counts
    them apart instead of averaging them in."""

    def __init__(
        self,
        min_closed_interval: bool = True,
        max_closed_interval: bool = True,
        reversed_range: bool = False,
        any_or_all: str = "any",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if any_or_all not in ("any", "all"):
            raise ValueError(f"any_or_all must be 'any' or 'all', got {any_or_all!r}")
        self.any_or_all = any_or_all
        self.min_closed_interval = min_closed_interval
        self.max_closed_interval = max_closed_interval
        self.reversed_range = reversed_range

    @property
    def stats_keys(self) -> tuple[str, ...]:
        return tuple(self.stats_features)

    def bound_params(self) -> dict[str, tuple[str | None, str | None]]:
        """{stat: (min_param, max_param)} for the stats this filter writes: the declared `stats_bounds`, or by
        default the parameters named min_X / max_X, each bounding the stat whose key contains X (min_duration ->
        video_duration, min_score -> video_motion_score, min_ratio -> video_aspect_ratios). A parameter matched to
        none of the stats is no bound: the motion filter's `max_size` (a resize setting) stays a stat parameter."""
        if self.stats_bounds:
            return dict(self.stats_bounds)
        params = [p for p in self.config if p not in self.range_flags]
        mins = {p[4:]: p for p in params if p.startswith("min_")}
        maxs = {p[4:]: p for p in params if p.startswith("max_")}
        out = {}
        for stat in self.stats_keys:
            # The longest matching name wins: min_area_ratio, not min_ratio, bounds video_ocr_area_ratio.
            matches = sorted((s for s in set(mins) | set(maxs) if s in stat), key=len, reverse=True)
            if matches:
                out[stat] = (mins.get(matches[0]), maxs.get(matches[0]))
        return out

    @property
    def threshold_params(self) -> frozenset[str]:
        bounds = {p for pair in self.bound_params().values() for p in pair if p}
        return super().threshold_params | bounds | set(self.range_flags)

    def has_stats(self, sample) -> bool:
        stats = sample.get(Fields.stats) or {}
        return all(stats.get(key) is not None for key in self.stats_keys)

    def compute_stats(self, sample, context: VideoContext | None = None):
        """Write this filter's stats into sample["__dj__stats__"] (skip when present); return the sample."""
        raise NotImplementedError

    def process(self, sample) -> bool:
        """Keep (True) or drop the sample, from its stats alone."""
        raise NotImplementedError

    def in_range(self, value, low, high) -> bool:
        above = value >= low if self.min_closed_interval else value > low
        below = value <= high if self.max_closed_interval else value < high
        inside = above and below
        return not inside if self.reversed_range else inside

    def keep_by_videos(self, verdicts: list[bool]) -> bool:
        """Combine per-video verdicts with any_or_all; a sample without videos is kept."""
        if not verdicts:
            return True
        return any(verdicts) if self.any_or_all == "any" else all(verdicts)


class VideoFilter(Filter):
    """A filter whose stats are one value per entry of sample[video_key], computed per unique path.

    Override `video_stats`, or, for a filter that reads frames, only `frame_consumer`: with one stat key the
    consumer's result is that stat's value for the video (a dict result gives several keys).
    """

    per_video_cache = True
    """The runner's stats cache (djlite.stats_cache) may serve `video_stats` without opening the video."""

    def video_stats(self, path: str, context: VideoContext) -> dict:
        """Stats of one video: {stat_key: value} for every key of stats_features."""
        if not self.reads_frames:
            raise NotImplementedError(f"{type(self).__name__} defines neither video_stats nor frame_consumer")
        result = self.frame_result(path, context)
        if isinstance(result, dict):
            return result
        (key,) = self.stats_keys
        return {key: result}

    def compute_stats(self, sample, context: VideoContext | None = None):
        stats = sample.get(Fields.stats)
        if stats is None:
            stats = sample[Fields.stats] = {}
        if self.has_stats(sample):
            return sample
        # Through the context, which serves them from the stats cache when the runner gave it one.
        per_video = self.per_video(sample, context, lambda path, ctx: ctx.video_stats(self, path))
        for key in self.stats_keys:
            stats[key] = [values[key] for values in per_video]
        return sample


class Mapper(OP):
    """Transforms a sample; may add columns (declare them in output_features)."""

    def process(self, sample, context: VideoContext | None = None):
        """The transformed sample."""
        raise NotImplementedError


@dataclass
class FailedClip:
    """A clip a one-to-many mapper could not make: the stage records it as an error row of its own."""

    sample: dict
    error: Exception


class OneToManyMapper(Mapper):
    """Turns one sample into N new samples (N may be 0): clip splitters.

    `split(sample, context)` returns the new samples, in order; an entry that could not be made is a
    `FailedClip(sample, error)`, recorded by the stage as an error row (its siblings and parent are not lost).
    The stage emits the original sample first when `keep_original_sample` (Data-Juicer's default), then the
    new ones, and keeps the accounting: see djlite/core/accounting.py. An op of this kind ends its stage, so
    the ops after it see each new sample as a sample of its own (and Ray spreads the clips over workers).
    """

    keep_original_sample: bool = True
    stats_features: dict = {}
    """Stats a new sample starts with, about its own file (a clip's duration and size), and their Arrow types."""

    def split(self, sample, context: VideoContext | None = None) -> list:
        """The new samples made from `sample` (FailedClip entries for the ones that failed)."""
        raise NotImplementedError

    def process(self, sample, context: VideoContext | None = None):
        """Data-Juicer-style: [the original sample if keep_original_sample] + the new samples that succeeded."""
        made = [s for s in self.split(sample, context) if not isinstance(s, FailedClip)]
        return ([sample] if self.keep_original_sample else []) + made

    def process_batched(self, samples: dict) -> dict:
        """Data-Juicer's batched signature: a dict of columns in, a dict of columns out."""
        keys = list(samples)
        rows = [dict(zip(keys, values)) for values in zip(*samples.values())]
        out = [new for row in rows for new in self.process(row)]
        columns = list(dict.fromkeys(key for row in out for key in row)) or keys
        return {key: [row.get(key) for row in out] for key in columns}


class DatasetStep(OP):
    """An op that decides on the whole dataset at once, through one pure step: `select(table) -> Selection`.

    `table` is a pyarrow.Table of `input_columns` only (a name that is not a top-level column is read from
    `__dj__stats__`), one row per sample, in dataset order. The step sees nothing else and changes nothing: the
    executors apply its Selection (djlite/core/selection.py), the same way in both.
    """

    stats_features: dict = {}
    """Per-row stats the step writes (the Selection's `stats` keys) and their Arrow types; may be empty."""

    @property
    def input_columns(self) -> list[str]:
        raise NotImplementedError

    def select(self, table, show_num: int = 0) -> Selection:
        """Which rows of `table` to keep, and per-row stats."""
        raise NotImplementedError

    def process(self, dataset, show_num: int = 0):
        """Data-Juicer's signature: (the dataset after this step, up to show_num traced duplicate groups)."""
        # upward: Data-Juicer's op.process(dataset) applies the step with the executors' own code, not a copy of it
        from djlite.core.selection import apply_selection_locally

        if len(dataset) == 0:
            return dataset, {}
        return apply_selection_locally(dataset, self, show_num=show_num)


class Deduplicator(DatasetStep):
    """compute_hash per sample (isolated per sample), then `select` keeps first occurrences.

    An exact deduplicator defines only `dedup_key(row)`; the default `select` keeps each key's first row. One
    whose notion of duplicate no key expresses (near-duplicates) overrides `select`.
    """

    hash_features: dict = {}
    """Columns compute_hash writes and their Arrow types: the table `select` gets."""

    @property
    def input_columns(self) -> list[str]:
        return list(self.hash_features)

    def compute_hash(self, sample, context: VideoContext | None = None):
        """Write this op's hash columns into the sample (skip when present); return the sample."""
        raise NotImplementedError

    def dedup_key(self, row: dict):
        """The key two rows must share to be duplicates; None = never a duplicate (kept)."""
        raise NotImplementedError

    def select(self, table, show_num: int = 0) -> Selection:
        columns = self.input_columns
        seen: dict = {}
        groups: dict = {}
        kept = []
        for position, row in enumerate(table.select(columns).to_pylist()):
            key = self.dedup_key(row)
            if key is not None and key in seen:
                groups.setdefault(key, [seen[key]]).append(position)
                continue
            kept.append(position)
            if key is not None:
                seen[key] = position
        # Data-Juicer's tracer: the show_num largest duplicate groups.
        largest = sorted(groups.items(), key=lambda item: len(item[1]), reverse=True)[: max(0, show_num)]
        return Selection(kept, pairs=dict(largest))


class Selector(DatasetStep):
    """A dataset-level selection (diverse or top-k picks): table of `input_columns` -> rows kept in pick order.

    Declare `input_columns` (columns or stat keys computed by earlier ops) and override `select`.
    """


_CONTRACT_CLASSES = (Selector, Deduplicator, DatasetStep, VideoFilter, Filter, OneToManyMapper, Mapper, OP)

MAX_SIZE = sys.maxsize
