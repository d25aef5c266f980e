"""A stage: consecutive per-sample ops run on one sample at a time, with one shared VideoContext.

Both executors map `SampleStage` over their rows (local: `Dataset.map`; Ray: `map_batches`), so the per-sample
work cannot drift between them. Each sample comes out marked: kept, filtered (by which step) or errored (at
which step), with the seconds each step spent on it; djlite/core/accounting.py turns the marks into the per-op
report.

Errors are classified by the taxonomy (djlite/errors.py, `action_of`): a sample's own trouble (SAMPLE: a
SampleError, or a builtin its table maps there, such as a file that does not open or a value an op cannot use)
is recorded on the sample and the run goes on. A RECIPE, ENVIRONMENT or EXPORT error (a full disk, a dead
OCR backend) stops the run as it is. Any other exception (OP_BUG: AttributeError, TypeError, NameError,
KeyError... raised by the op's code) is a bug in the op: when it happens before the op has handled any sample in
this worker, the run stops with an OpBugError carrying the traceback; later ones are recorded like sample errors
(a bug that shows only on rare input), and an op that errored on every sample still fails the run at the end
(djlite.api).
"""

import os
import time
import traceback
from itertools import groupby

import datasets
from datasets import List, Value
from loguru import logger

from djlite import interrupt
from djlite.core.content import ContentCache
from djlite.errors import Action, OpBugError, action_of
from djlite.fields import Fields
from djlite.ops.base import DatasetStep, Deduplicator, FailedClip, Filter, Mapper, OneToManyMapper
from djlite.video.context import VideoContext

ERROR_FEATURE = List({"op": Value("string"), "step": Value("int32"), "error": Value("string")})
LOGGED_ERRORS_PER_OP = 5
# Raised on as they are: the run stops. OP_BUG stops it only on an op's first sample (below).
STOPS_THE_RUN = (Action.RECIPE, Action.ENVIRONMENT, Action.EXPORT)


class SampleStage:
    """Runs consecutive per-sample ops on one sample; picklable, set up once per worker process."""

    def __init__(
        self, steps: list[tuple[int, object]], on_error: str, stats_only: bool = False, columns=(), stats_cache=None
    ):
        self.steps = steps
        self.stats_cache = stats_cache  # djlite.stats_cache.StatsCache or None
        self.on_error = on_error
        self.stats_only = stats_only
        # Columns the stage's ops add (hashes, frame paths): a sample that errored or was dropped before the op
        # that writes one still needs it, as null, for the stage's Arrow schema.
        self.columns = tuple(columns)
        self._ready_pid = None
        self._logged: dict[int, int] = {}
        self._succeeded: set[int] = set()  # steps that handled a sample without error in this worker
        self._checked: set[int] = set()  # filters whose written stat keys were checked in this worker
        self._content = ContentCache()  # results of byte-identical videos, per worker
        # Ops that read decoded frames: the context serves all of them from one decode of each video.
        self.frame_ops = [op for _, op in steps if op.reads_frames]
        # A one-to-many mapper ends its stage (split_stages), so it can only be the last step.
        self.fans_out = isinstance(steps[-1][1], OneToManyMapper) if steps else False
        self._children = None
        # Shared memory a pool worker reads when it dies (djlite/executors/pool.py): [row, step being run].
        self.progress = None

    @property
    def label(self) -> str:
        """A short progress-bar label: the op names without their common `video_` prefix and kind suffix."""
        names = [op.name.removeprefix("video_") for _, op in self.steps]
        return " + ".join(names) if len(names) <= 3 else f"{' + '.join(names[:2])} + {len(names) - 2} more"

    def _ensure_setup(self):
        if self._ready_pid != os.getpid():
            for _, op in self.steps:
                op.setup()
            self._ready_pid = os.getpid()
            self._logged = {}
            self._succeeded = set()
            self._checked = set()
            self._content = ContentCache()

    def _record(self, step: int, op, sample, error: Exception) -> dict:
        message = f"{type(error).__name__}: {error}"
        shown = self._logged.get(step, 0)
        if shown < LOGGED_ERRORS_PER_OP:
            videos = (sample.get(op.video_key) or [])[:3]
            logger.warning(f"step {step} {op.name}: {message} (videos: {videos})")
            if action_of(error, on_sample=True) is not Action.SAMPLE:
                logger.warning("".join(traceback.format_exception(error)).rstrip())
        elif shown == LOGGED_ERRORS_PER_OP:
            logger.warning(f"step {step} {op.name}: more errors; see the errors file and the op summary")
        self._logged[step] = shown + 1
        return {"op": op.name, "step": step, "error": message}

    def _check_written_stats(self, step: int, op, before: set, sample) -> None:
        """On the first sample: the stat keys a filter wrote must be those it declares."""
        self._checked.add(step)
        written = set(sample.get(Fields.stats) or {}) - before
        undeclared = sorted(written - set(op.stats_features))
        if undeclared:
            raise OpBugError(
                f"step {step} {op.name}: wrote stat {undeclared[0]!r}, which its stats_features do not declare "
                f"(declared: {', '.join(op.stats_features)}); add it to {type(op).__name__}.stats_features"
            )

    def _run_op(self, step: int, op, sample):
        if isinstance(op, OneToManyMapper):
            self._children = list(op.split(sample, self._context))
            return sample, True
        if isinstance(op, Filter):
            before = set(sample.get(Fields.stats) or {}) if step not in self._checked else None
            sample = op.compute_stats(sample, self._context)
            if before is not None:
                self._check_written_stats(step, op, before, sample)
            return sample, self.stats_only or bool(op.process(sample))
        if isinstance(op, Mapper):
            return op.process(sample, self._context), True
        if isinstance(op, Deduplicator):
            return op.compute_hash(sample, self._context), True
        raise TypeError(f"{op.name}: {type(op).__name__} is not a per-sample op")

    def __call__(self, sample: dict) -> dict:
        """The marked sample (a stage without a one-to-many mapper gives exactly one row per sample)."""
        (row,) = self.rows(sample)
        return row

    def map_batch(self, batch: dict) -> dict:
        """`Dataset.map(batched=True)` form of `rows`, for stages whose last op makes new samples."""
        keys = list(batch)
        out = [row for values in zip(*batch.values()) for row in self.rows(dict(zip(keys, values)))]
        return {key: [row[key] for row in out] for key in (out[0] if out else keys)}

    def rows(self, sample: dict) -> list[dict]:
        """The marked rows for one input sample: the sample itself, or (one-to-many) the original and its clips."""
        interrupt.check()
        self._ensure_setup()
        self._children = None
        errors = list(sample.get(Fields.errors) or [])
        seconds = [0.0] * len(self.steps)
        dropped_by, kind = -1, ""
        with VideoContext(
            frame_ops=self.frame_ops, content_cache=self._content, stats_cache=self.stats_cache
        ) as context:
            self._context = context
            for pos, (step, op) in enumerate(self.steps):
                if self.progress is not None:
                    self.progress[1] = step
                start, decoded_before = time.perf_counter(), context.decode_seconds
                try:
                    sample, keep = self._run_op(step, op, sample)
                    self._succeeded.add(step)
                except Exception as e:  # noqa: BLE001 - classified below by the taxonomy (djlite/errors.py)
                    action = action_of(e, on_sample=True)
                    if self.on_error == "raise" or action in STOPS_THE_RUN or isinstance(e, OpBugError):
                        raise  # an OpBugError is the op's own code saying it is broken: it stops on any sample
                    if action is Action.OP_BUG and step not in self._succeeded:
                        raise OpBugError(
                            f"step {step} {op.name} failed with {type(e).__name__} on its first sample, a bug in "
                            f"the op rather than bad data:\n{''.join(traceback.format_exception(e)).rstrip()}"
                        ) from e
                    errors.append(self._record(step, op, sample, e))
                    keep = self.on_error == "keep"
                    if not keep:
                        dropped_by, kind = step, "error"
                finally:
                    # The shared decode is charged below to the ops that use it, not to the one that triggered it.
                    seconds[pos] += time.perf_counter() - start - (context.decode_seconds - decoded_before)
                if not keep:
                    if not kind:
                        dropped_by, kind = step, "filtered"
                    break
            for pos, (_, op) in enumerate(self.steps):
                seconds[pos] += context.charged.get(id(op), 0.0)
            self._context = None
        for column in self.columns:
            sample.setdefault(column, None)
        sample[Fields.errors] = errors
        sample[Fields.dropped_by] = dropped_by
        sample[Fields.drop_kind] = kind
        sample[Fields.op_seconds] = seconds
        sample[Fields.rows_in] = 1
        sample[Fields.created_by] = -1
        if self._children is None or kind:
            return [sample]
        return self._fan_out(sample)

    def _fan_out(self, sample: dict) -> list[dict]:
        """The original (when kept) and the new samples of the last step, marked for the accounting.

        The first row carries the input's seconds and earlier errors, so nothing is counted twice. No new
        sample and no original kept: the input is marked filtered by the step (it led nowhere, and the
        filtered-samples record shows it).
        """
        step, op = self.steps[-1]
        children, self._children = self._children, None
        rows = [sample] if op.keep_original_sample else []
        for child in children:
            failed = isinstance(child, FailedClip)
            row = dict(child.sample if failed else child)
            for column in self.columns:
                row.setdefault(column, None)
            row[Fields.errors] = [self._record(step, op, row, child.error)] if failed else []
            row[Fields.dropped_by] = step if failed else -1
            row[Fields.drop_kind] = "error" if failed else ""
            row[Fields.op_seconds] = [0.0] * len(self.steps)
            row[Fields.rows_in] = 0
            row[Fields.created_by] = step
            rows.append(row)
        if not rows:
            sample[Fields.dropped_by], sample[Fields.drop_kind] = step, "filtered"
            return [sample]
        if rows[0] is not sample:
            rows[0][Fields.errors] = sample[Fields.errors] + rows[0][Fields.errors]
            rows[0][Fields.op_seconds] = sample[Fields.op_seconds]
            rows[0][Fields.rows_in] = 1
        return rows

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_context"] = None
        state["progress"] = None
        state["_content"] = ContentCache()
        return state


def stage_features(features: datasets.Features, ops: list) -> datasets.Features:
    """The dataset's features after a stage: every stat and column the stage's ops may write."""
    features = features.copy()
    stats = dict(features.get(Fields.stats) or {}) if isinstance(features.get(Fields.stats), dict) else {}
    for op in ops:
        features = op.output_features(features)
        if isinstance(op, (Filter, OneToManyMapper)):
            stats.update(op.stats_features)
        elif isinstance(op, Deduplicator):
            features.update(op.hash_features)
            # The dataset-level step's per-row stats (near-duplicate group and distance) come later, but a
            # stats column declared now keeps every row's schema the same whether or not it was written.
            stats.update(op.stats_features)
    if stats or Fields.stats in features:
        features[Fields.stats] = stats
    features[Fields.errors] = ERROR_FEATURE
    features[Fields.dropped_by] = Value("int32")
    features[Fields.drop_kind] = Value("string")
    features[Fields.op_seconds] = List(Value("float64"))
    features[Fields.rows_in] = Value("int8")
    features[Fields.created_by] = Value("int32")
    return features


def missing_produced_file(dataset, ops: list) -> str | None:
    """A file that a row of `dataset` (a stage's marked rows) refers to, that one of the stage's ops produced
    (`produced_files`), and that is gone; None when every one exists. Rows dropped by an error are passed
    over: a clip that could not be made was never written."""
    writers = [op for op in ops if op.writes_files]
    if not writers:
        return None
    wanted = {column for op in writers for column in op.produced_file_columns()} | {Fields.drop_kind}
    columns = [column for column in dataset.column_names if column in wanted]
    for batch in dataset.select_columns(columns).iter(batch_size=1000):
        for values in zip(*(batch[column] for column in columns)):
            row = dict(zip(columns, values))
            if row.get(Fields.drop_kind) == "error":
                continue
            for op in writers:
                for path in op.produced_files(row):
                    if not os.path.exists(path):
                        return path
    return None


def split_stages(ops: list) -> list[list[tuple[int, object]]]:
    """Group consecutive per-sample ops; each deduplicator gets a stage of its own, each selector a step; a
    one-to-many mapper is the last op of its stage."""
    indexed = list(enumerate(ops))
    stages = []
    for is_dataset_step, group in groupby(indexed, key=lambda item: isinstance(item[1], DatasetStep)):
        group = list(group)
        if is_dataset_step:
            stages.extend([item] for item in group)
            continue
        current = []
        for item in group:  # a one-to-many mapper ends its stage
            current.append(item)
            if isinstance(item[1], OneToManyMapper):
                stages.append(current)
                current = []
        if current:
            stages.append(current)
    return stages
