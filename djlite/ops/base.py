"""Operator base classes. They stay small: the runner owns looping, workers and error handling.

An op works on one sample dict, without the runner:

    op = VideoDurationFilter(max_duration=15)
    sample = op.compute_stats({"videos": ["a.mp4"]})
    op.process(sample)   # True = keep
"""

import inspect
import sys

from djlite.fields import Fields
from djlite.params import signature_params
from djlite.video.context import VideoContext


class OP:
    _name: str = "op"
    # Heavy models load in setup(), once per worker; constructors stay cheap and picklable.
    # True when setup() loads a model: the Ray executor then runs the op's stage in an actor pool, so the model
    # loads once per actor instead of once per task.
    uses_model: bool = False

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

    def video_paths(self, sample) -> list[str]:
        return list(sample.get(self.video_key) or [])

    def __repr__(self):
        return f"{type(self).__name__}({self.config})"


class Filter(OP):
    """Computes stats into sample["__dj__stats__"], then decides from the stats alone."""

    # Stat keys this filter writes and the Arrow type of each (a `datasets` feature).
    stats_features: dict = {}
    # For dj-analyze: which parameters bound which stat, {stat_key: (min_param, max_param)}, either may be None.
    # Only needed when the names do not say it: by default min_X / max_X bound the stat whose key contains X.
    stats_bounds: dict = {}
    # Values of a stat that stand for "not measured" (the motion score's -1), {stat_key: value}: dj-analyze counts
    # them apart instead of averaging them in.
    stats_placeholders: dict = {}

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

    def has_stats(self, sample) -> bool:
        stats = sample.get(Fields.stats) or {}
        return all(stats.get(key) is not None for key in self.stats_keys)

    def compute_stats(self, sample, context: VideoContext | None = None):
        raise NotImplementedError

    def process(self, sample) -> bool:
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
    """A filter whose stats are one value per entry of sample[video_key], computed per unique path."""

    def video_stats(self, path: str, context: VideoContext) -> dict:
        """Stats of one video: {stat_key: value} for every key of stats_features."""
        raise NotImplementedError

    def compute_stats(self, sample, context: VideoContext | None = None):
        stats = sample.get(Fields.stats)
        if stats is None:
            stats = sample[Fields.stats] = {}
        if self.has_stats(sample):
            return sample
        paths = self.video_paths(sample)
        own_context = context is None
        context = context or VideoContext()
        try:
            per_path = {path: context.video_stats(self, path) for path in dict.fromkeys(paths)}
        finally:
            if own_context:
                context.close()
        for key in self.stats_keys:
            stats[key] = [per_path[path][key] for path in paths]
        return sample


class Mapper(OP):
    """Transforms a sample; may add columns (declare them in output_features)."""

    def process(self, sample, context: VideoContext | None = None):
        raise NotImplementedError

    def output_features(self, features):
        """The dataset's features after this mapper. Override when adding or changing columns."""
        return features


class Deduplicator(OP):
    """compute_hash per sample (isolated per sample), then process(dataset) keeps first occurrences."""

    hash_features: dict = {}

    def compute_hash(self, sample, context: VideoContext | None = None):
        raise NotImplementedError

    def process(self, dataset):
        raise NotImplementedError


MAX_SIZE = sys.maxsize
