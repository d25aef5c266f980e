"""The local executor: ops in order over a `datasets.Dataset`, np worker processes, nothing lost.

Consecutive per-sample ops (filters, mappers, the hashing half of deduplicators) form one *stage*, run as a
single `Dataset.map`: each sample goes through every op of the stage with one shared VideoContext, so its
videos are opened and decoded once for all of them. Within a stage a filter that drops a sample stops the
later ops from computing stats on it, exactly as if each op had run over the dataset in turn. The stage
marks each sample kept, filtered (by which step) or errored (at which step); one `filter` then removes
the dropped rows, and the marks give the per-op accounting: in = kept + filtered + errors, per op.
"""

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby

import datasets
import numpy as np
from datasets import List, Value
from loguru import logger

from djlite import __version__
from djlite.fields import INTERNAL_COLUMNS, Fields
from djlite.ops.base import Deduplicator, Filter, Mapper
from djlite.stats_cache import videos_fingerprint
from djlite.trace import ROW_COLUMN, FilteredSamples, duplicate_of
from djlite.video.context import VideoContext

ERROR_FEATURE = List({"op": Value("string"), "step": Value("int32"), "error": Value("string")})
LOGGED_ERRORS_PER_OP = 5


@dataclass
class OpReport:
    step: int
    op: str
    input: int = 0
    kept: int = 0
    filtered: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"op={self.op} in={self.input} kept={self.kept} filtered={self.filtered} "
            f"errors={self.errors} seconds={self.seconds:.2f}"
        )


@dataclass
class RunOutcome:
    dataset: datasets.Dataset  # the kept samples
    errored: list[datasets.Dataset] = field(default_factory=list)  # samples dropped by an error
    load_errors: list[dict] = field(default_factory=list)  # dataset lines that could not be parsed
    reports: list[OpReport] = field(default_factory=list)
    input_count: int = 0
    # Samples removed by filters and deduplicators, kept for the filtered file and the tracer when asked.
    filtered: FilteredSamples | None = None

    @property
    def errored_count(self) -> int:
        return sum(len(d) for d in self.errored) + len(self.load_errors)

    def summary(self) -> dict:
        kept = len(self.dataset)
        filtered = sum(r.filtered for r in self.reports)
        errored = self.errored_count
        total = self.input_count + len(self.load_errors)
        return {
            "input": total,
            "kept": kept,
            "filtered": filtered,
            "errored": errored,
            "balanced": total == kept + filtered + errored,
            "load_errors": len(self.load_errors),
            "ops": [vars(r) for r in self.reports],
        }


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
        # Ops that read decoded frames: the context serves all of them from one decode of each video.
        self.frame_ops = [op for _, op in steps if hasattr(op, "frame_consumer")]

    @property
    def label(self) -> str:
        return " + ".join(op.name for _, op in self.steps)

    def _ensure_setup(self):
        if self._ready_pid != os.getpid():
            for _, op in self.steps:
                op.setup()
            self._ready_pid = os.getpid()
            self._logged = {}

    def _record(self, step: int, op, sample, error: Exception) -> dict:
        message = f"{type(error).__name__}: {error}"
        shown = self._logged.get(step, 0)
        if shown < LOGGED_ERRORS_PER_OP:
            videos = (sample.get(op.video_key) or [])[:3]
            logger.warning(f"step {step} {op.name}: {message} (videos: {videos})")
        elif shown == LOGGED_ERRORS_PER_OP:
            logger.warning(f"step {step} {op.name}: more errors; see the errors file and op_summary.json")
        self._logged[step] = shown + 1
        return {"op": op.name, "step": step, "error": message}

    def __call__(self, sample: dict) -> dict:
        self._ensure_setup()
        errors = list(sample.get(Fields.errors) or [])
        seconds = [0.0] * len(self.steps)
        dropped_by, kind = -1, ""
        with VideoContext(frame_ops=self.frame_ops, stats_cache=self.stats_cache) as context:
            for pos, (step, op) in enumerate(self.steps):
                start = time.perf_counter()
                try:
                    keep = True
                    if isinstance(op, Filter):
                        sample = op.compute_stats(sample, context)
                        keep = self.stats_only or bool(op.process(sample))
                    elif isinstance(op, Mapper):
                        sample = op.process(sample, context)
                    elif isinstance(op, Deduplicator):
                        sample = op.compute_hash(sample, context)
                except Exception as e:  # noqa: BLE001 - any failure of one sample is that sample's alone
                    if self.on_error == "raise":
                        raise
                    errors.append(self._record(step, op, sample, e))
                    keep = self.on_error == "keep"
                    if not keep:
                        dropped_by, kind = step, "error"
                finally:
                    seconds[pos] += time.perf_counter() - start
                if not keep:
                    if not kind:
                        dropped_by, kind = step, "filtered"
                    break
        for column in self.columns:
            sample.setdefault(column, None)
        sample[Fields.errors] = errors
        sample[Fields.dropped_by] = dropped_by
        sample[Fields.drop_kind] = kind
        sample[Fields.op_seconds] = seconds
        return sample


@contextmanager
def opencv_threads(threads: int | None):
    """Split OpenCV's thread pool (Farneback, resize) between np workers instead of oversubscribing the CPUs.

    Set in the parent, before the workers fork: calling cv2.setNumThreads inside a forked child whose parent
    had already used the pool deadlocks (pthread_cond_destroy on the inherited pool).
    """
    if not threads:
        yield
        return
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def stage_features(features: datasets.Features, ops: list) -> datasets.Features:
    """The dataset's features after a stage: every stat and column the stage's ops may write."""
    features = features.copy()
    stats = dict(features.get(Fields.stats) or {}) if isinstance(features.get(Fields.stats), dict) else {}
    for op in ops:
        if isinstance(op, Filter):
            stats.update(op.stats_features)
        elif isinstance(op, Mapper):
            features = op.output_features(features)
        elif isinstance(op, Deduplicator):
            features.update(op.hash_features)
            # A deduplicator may report per-sample stats too (video_near_deduplicator: group and distance).
            stats.update(getattr(op, "stats_features", {}))
    if stats or Fields.stats in features:
        features[Fields.stats] = stats
    features[Fields.errors] = ERROR_FEATURE
    features[Fields.dropped_by] = Value("int32")
    features[Fields.drop_kind] = Value("string")
    features[Fields.op_seconds] = List(Value("float64"))
    return features


def split_stages(ops: list) -> list[list[tuple[int, object]]]:
    """Group consecutive per-sample ops; each deduplicator gets a stage of its own."""
    indexed = list(enumerate(ops))
    stages = []
    for is_dedup, group in groupby(indexed, key=lambda item: isinstance(item[1], Deduplicator)):
        group = list(group)
        stages.extend([[item] for item in group] if is_dedup else [group])
    return stages


def _fingerprint(*parts) -> str:
    return datasets.fingerprint.Hasher.hash((__version__,) + parts)


class Runner:
    def __init__(
        self,
        np_workers: int = 1,
        on_error: str = "drop",
        use_cache: bool = True,
        stats_only: bool = False,
        stats_cache=None,
        keep_filtered: bool = False,
    ):
        self.np = max(1, np_workers)
        self.keep_filtered = keep_filtered
        self.stats_cache = stats_cache
        self.videos_digest = ""  # what the input videos are; set by run() when datasets' cache is on
        self.on_error = on_error
        self.use_cache = use_cache
        self.stats_only = stats_only

    def _workers(self, ops, rows: int) -> int | None:
        limits = [self.np] + [op.num_proc for op in ops if op.num_proc and op.num_proc > 0]
        n = min(min(limits), rows)
        return n if n > 1 else None

    def run_stage(self, dataset, steps, outcome: RunOutcome):
        ops = [op for _, op in steps]
        n_in = len(dataset)
        workers = self._workers(ops, n_in)
        features = stage_features(dataset.features, ops)
        added = [c for c in features if c not in dataset.features]
        stage = SampleStage(steps, self.on_error, self.stats_only, columns=added, stats_cache=self.stats_cache)
        configs = [(step, op.name, op.config) for step, op in steps]
        if n_in == 0:  # `map` adds no columns to an empty dataset; nothing to do but account for it
            outcome.reports.extend(OpReport(step=step, op=op.name) for step, op in steps)
            return dataset
        start = time.perf_counter()
        with opencv_threads(max(1, (os.cpu_count() or 1) // workers) if workers else None):
            marked = dataset.map(
                stage,
                features=features,
                num_proc=workers,
                load_from_cache_file=self.use_cache,
                desc=stage.label,
                new_fingerprint=_fingerprint(
                    dataset._fingerprint, configs, self.on_error, self.stats_only, self.videos_digest
                ),
            )
        wall = time.perf_counter() - start
        dropped_by = np.asarray(marked.with_format("numpy")[Fields.dropped_by])
        kinds = np.asarray(marked[Fields.drop_kind])
        seconds = np.asarray(marked.with_format("numpy")[Fields.op_seconds], dtype=float).reshape(n_in, len(steps))
        # Per-op seconds are measured in the workers; scale them to the stage's wall time so that the
        # report adds up to what the user waited, whatever np was.
        measured = seconds.sum()
        scale = wall / measured if measured > 0 else 0.0
        error_counts = self._error_counts(marked, steps)

        remaining = n_in
        for pos, (step, op) in enumerate(steps):
            filtered = int(np.sum((dropped_by == step) & (kinds == "filtered")))
            errored_dropped = int(np.sum((dropped_by == step) & (kinds == "error")))
            report = OpReport(
                step=step,
                op=op.name,
                input=remaining,
                filtered=filtered,
                errors=error_counts.get(step, 0),
                seconds=float(seconds[:, pos].sum() * scale),
            )
            remaining -= filtered + errored_dropped
            report.kept = remaining
            outcome.reports.append(report)

        if np.any(kinds == "error"):
            outcome.errored.append(
                marked.filter(
                    lambda k: k == "error",
                    input_columns=Fields.drop_kind,
                    desc="collect errors",
                    load_from_cache_file=self.use_cache,
                    new_fingerprint=_fingerprint(marked._fingerprint, "errors"),
                )
            )
        if outcome.filtered is not None and np.any(kinds == "filtered"):
            outcome.filtered.add_stage(
                marked.filter(
                    lambda k: k == "filtered",
                    input_columns=Fields.drop_kind,
                    desc="collect filtered",
                    load_from_cache_file=self.use_cache,
                    new_fingerprint=_fingerprint(marked._fingerprint, "filtered"),
                ),
                steps,
            )
        kept = marked
        if np.any(dropped_by != -1):
            kept = marked.filter(
                lambda d: d == -1,
                input_columns=Fields.dropped_by,
                desc=f"drop ({stage.label})",
                load_from_cache_file=self.use_cache,
                new_fingerprint=_fingerprint(marked._fingerprint, "kept"),
            )
        return kept.remove_columns(list(INTERNAL_COLUMNS))

    @staticmethod
    def _error_counts(marked, steps) -> dict[int, int]:
        counts: dict[int, int] = {}
        stage_steps = {step for step, _ in steps}
        for errors in marked.select_columns([Fields.errors]).with_format("arrow").iter(batch_size=10_000):
            for row in errors.column(Fields.errors).to_pylist():
                for entry in row or []:
                    if entry["step"] in stage_steps:
                        counts[entry["step"]] = counts.get(entry["step"], 0) + 1
        return counts

    def run_dedup(self, dataset, steps, outcome: RunOutcome):
        step, op = steps[0]
        hashed = self.run_stage(dataset, steps, outcome)
        if self.stats_only:  # stats-only runs drop nothing, duplicates included
            annotate = getattr(op, "annotate", None)  # but a deduplicator with stats still writes them
            return annotate(hashed) if annotate is not None and len(hashed) else hashed
        report = outcome.reports[-1]
        start = time.perf_counter()
        if outcome.filtered is not None and len(hashed) > 1:
            hashed = hashed.add_column(ROW_COLUMN, np.arange(len(hashed)))
        deduped = op.process(hashed) if len(hashed) > 1 else hashed
        if ROW_COLUMN in deduped.column_names:
            kept_rows = deduped[ROW_COLUMN]
            deduped, hashed = deduped.remove_columns(ROW_COLUMN), hashed.remove_columns(ROW_COLUMN)
            dropped = sorted(set(range(len(hashed))) - set(kept_rows))
            if dropped:
                outcome.filtered.add_dedup(hashed.select(dropped), step, op, duplicate_of(op, hashed, dropped))
        report.filtered = len(hashed) - len(deduped)
        report.kept = len(deduped)
        report.seconds += time.perf_counter() - start
        return deduped

    def run(self, dataset: datasets.Dataset, ops: list, load_errors: list | None = None) -> RunOutcome:
        outcome = RunOutcome(dataset=dataset, load_errors=list(load_errors or []), input_count=len(dataset))
        if self.keep_filtered:
            outcome.filtered = FilteredSamples()
        if self.use_cache:
            self.videos_digest = videos_fingerprint(dataset, [op.video_key for op in ops])
        for steps in split_stages(ops):
            if isinstance(steps[0][1], Deduplicator):
                dataset = self.run_dedup(dataset, steps, outcome)
            else:
                dataset = self.run_stage(dataset, steps, outcome)
            for report in outcome.reports[-len(steps) :]:
                logger.info(report.line())
        outcome.dataset = dataset
        return outcome
