"""The local executor: ops in order over a `datasets.Dataset`, np worker processes, nothing lost.

Consecutive per-sample ops form one stage (djlite/core/stage.py), run as a single `Dataset.map`: each sample
goes through every op of the stage with one shared VideoContext, so its videos are opened and decoded once
for all of them. The stage marks each sample kept, filtered or errored; one `filter` removes the dropped
rows, and the marks give the per-op accounting (djlite/core/accounting.py). A deduplicator's or selector's
dataset-level step is applied by djlite/core/selection.py, as on Ray.
"""

import atexit
import os
import shutil
import tempfile
import time

import datasets
from loguru import logger

from djlite import __version__
from djlite.core.accounting import MARK_COLUMNS, OpReport, RunOutcome, StageMarks, count_marks
from djlite.core.selection import apply_selection_locally
from djlite.core.stage import SampleStage, missing_produced_file, split_stages, stage_features
from djlite.dataset import dataset_files, datasets_caching
from djlite.executors.base import Executor, register_executor
from djlite.executors.pool import DEFAULT_RETRIES, default_chunk_rows, run_chunks, server_modules
from djlite.executors.processes import start_fork_server
from djlite.exporter import export_errors, export_kept, result_dataset
from djlite.fields import INTERNAL_COLUMNS, Fields
from djlite.ops.base import DatasetStep, Deduplicator
from djlite.stats_cache import StatsCache, videos_fingerprint
from djlite.trace import FilteredSamples, duplicate_of


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
        checkpoint_dir: str | None = None,
        checkpoint_key: str = "",
        scratch_dir: str | None = None,
        chunk_rows: int = 0,
        worker_retries: int = DEFAULT_RETRIES,
    ):
        self.np = max(1, np_workers)
        self.on_error = on_error
        self.use_cache = use_cache
        self.stats_only = stats_only
        self.stats_cache = stats_cache  # djlite.stats_cache.StatsCache, or None
        self.keep_filtered = keep_filtered  # collect the removed samples (filtered file, tracer)
        self.videos_digest = ""  # what the input videos are; set by run() when datasets' cache is on
        # Resume (use_checkpoint): each stage's chunk files persist under checkpoint_dir, in a folder named by
        # what the stage's input is (checkpoint_key: the dataset's identity) and the ops up to and including it.
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_key = checkpoint_key
        # np > 1 without checkpoints: the chunk files live here for the run (default: a temporary folder).
        self.scratch_dir = scratch_dir
        self.chunk_rows = chunk_rows
        self.worker_retries = worker_retries
        self.chunk_info: list[dict] = []  # per stage run through chunks: chunks reused, computed, retried
        self._stage_folder: str | None = None

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
        fingerprint = _fingerprint(dataset._fingerprint, configs, self.on_error, self.stats_only, self.videos_digest)
        marked = self._marked(dataset, stage, features, workers, fingerprint, reuse=True)
        # A stored result (datasets' cache, a checkpoint) names the files its ops wrote; one deleted since
        # (a user removed outputs/) makes the stage run again, which writes them again.
        reused = bool(self.checkpoint_dir) if workers or self.checkpoint_dir else self.use_cache
        gone = missing_produced_file(marked, ops) if reused else None
        if gone is not None:
            logger.info(f"{stage.label}: the stored result names {gone}, which is gone; running the stage again")
            marked = self._marked(dataset, stage, features, workers, fingerprint, reuse=False)
        wall = time.perf_counter() - start
        step_ids = [step for step, _ in steps]
        marks = StageMarks.empty(len(steps))
        for batch in marked.select_columns(MARK_COLUMNS).with_format("arrow").iter(batch_size=10_000):
            marks.add(count_marks(batch, step_ids))
        outcome.reports.extend(marks.reports(steps, wall))

        dropped_by_error = int(marks.dropped_by_error.sum())
        if dropped_by_error:
            outcome.errored.append(self._rows_dropped_as(marked, "error"))
            outcome.errored_samples += dropped_by_error
        if outcome.filtered is not None and marks.filtered.sum():
            outcome.filtered.add_stage(self._rows_dropped_as(marked, "filtered"), steps)
        kept = marked
        if marks.filtered.sum() + dropped_by_error:
            kept = marked.filter(
                lambda d: d == -1,
                input_columns=Fields.dropped_by,
                desc=f"drop ({stage.label})",
                load_from_cache_file=self.use_cache,
                new_fingerprint=_fingerprint(marked._fingerprint, "kept"),
            )
        return kept.remove_columns(list(INTERNAL_COLUMNS))

    def _marked(self, dataset, stage, features, workers: int | None, fingerprint: str, reuse: bool):
        """The stage's marked rows: through the worker pool's chunks, or one `Dataset.map`; `reuse`: a stored
        result (checkpoint chunks, datasets' cache) may serve them."""
        if workers or self.checkpoint_dir:
            if not reuse and self._stage_folder is not None:
                shutil.rmtree(self._stage_folder, ignore_errors=True)
            return self._run_chunks(dataset, stage, features, workers or 1, fingerprint)
        # A stage ending in a one-to-many mapper emits any number of rows per sample: a batched map.
        fan_out = {"batched": True, "batch_size": 1} if stage.fans_out else {}
        return dataset.map(
            stage.map_batch if stage.fans_out else stage,
            **fan_out,
            features=features,
            load_from_cache_file=self.use_cache and reuse,
            desc=stage.label,
            new_fingerprint=fingerprint,
        )

    def _rows_dropped_as(self, marked, kind: str):
        """The stage's rows dropped as `kind` ("error" or "filtered"), with their marks."""
        return marked.filter(
            lambda k: k == kind,
            input_columns=Fields.drop_kind,
            desc=f"collect {kind}",
            load_from_cache_file=self.use_cache,
            new_fingerprint=_fingerprint(marked._fingerprint, "errors" if kind == "error" else kind),
        )

    def _run_chunks(self, dataset, stage, features, workers: int, fingerprint: str):
        """The stage through djlite's own worker pool, chunk by chunk (djlite/executors/pool.py)."""
        folder = self._stage_folder
        if folder is None:
            if self.scratch_dir is None:
                self.scratch_dir = tempfile.mkdtemp(prefix=f".djlite-chunks-{os.getpid()}-")
                atexit.register(shutil.rmtree, self.scratch_dir, True)
            folder = tempfile.mkdtemp(prefix="stage-", dir=self.scratch_dir)
        chunk_rows = self.chunk_rows or default_chunk_rows(len(dataset))
        marked, info = run_chunks(
            dataset, stage, features, folder, workers, chunk_rows, desc=stage.label, retries=self.worker_retries
        )
        self.chunk_info.append({"stage": stage.label, **info})
        # Concatenated chunk files get a fresh fingerprint; the stage's own keeps later steps' cache names stable.
        marked._fingerprint = fingerprint
        return marked

    def stage_folders(self, ops) -> list[str | None]:
        """Per stage, its checkpoint folder (None without checkpoints): named by the stage's position and a key
        chained from the input's identity through every op up to and including the stage."""
        if not self.checkpoint_dir:
            return [None] * len(split_stages(ops))
        # The videos' identity (path, size, mtime) too: a video replaced between a kill and the resume is redone.
        key, folders = _fingerprint(self.checkpoint_key, self.videos_digest), []
        for i, steps in enumerate(split_stages(ops)):
            configs = [(step, op.name, op.config) for step, op in steps]
            key = _fingerprint(key, configs, self.on_error, self.stats_only, self.chunk_rows)
            folders.append(os.path.join(self.checkpoint_dir, f"stage-{i:02d}-{key[:16]}"))
        return folders

    def _drop_stale_checkpoints(self, folders: list[str | None]) -> None:
        """Stage folders of other recipes or inputs in this checkpoint folder can never be used again."""
        if not self.checkpoint_dir or not os.path.isdir(self.checkpoint_dir):
            return
        current = {os.path.basename(f) for f in folders if f}
        for name in os.listdir(self.checkpoint_dir):
            if name.startswith("stage-") and name not in current:
                shutil.rmtree(os.path.join(self.checkpoint_dir, name), ignore_errors=True)

    def run_dataset_step(self, dataset, steps, outcome: RunOutcome):
        """A deduplicator (its hashing stage, then its step) or a selector (its step alone)."""
        step, op = steps[0]
        if isinstance(op, Deduplicator):
            dataset = self.run_stage(dataset, steps, outcome)
            report = outcome.reports[-1]
        else:
            report = OpReport(step=step, op=op.name, input=len(dataset), kept=len(dataset))
            outcome.reports.append(report)
        if not len(dataset):
            return dataset
        start = time.perf_counter()
        before = len(dataset)
        before_rows = dataset
        removed = [] if outcome.filtered is not None else None
        # Every duplicate group is asked for when removed samples are kept, to say what each duplicates.
        show_num = before if removed is not None else 0
        dataset, _ = apply_selection_locally(dataset, op, show_num=show_num, drop=not self.stats_only, removed=removed)
        for rows, positions, selection in removed or []:
            of = duplicate_of(positions, selection, before_rows, keys=(op.text_key, op.video_key))
            outcome.filtered.add_selection(rows, step, op, of)
        report.filtered = before - len(dataset)
        report.kept = len(dataset)
        report.seconds += time.perf_counter() - start
        return dataset

    def run(self, dataset: datasets.Dataset, ops: list, load_errors: list | None = None) -> RunOutcome:
        outcome = RunOutcome(input_count=len(dataset), load_errors=list(load_errors or []))
        if self.keep_filtered:
            outcome.filtered = FilteredSamples()
        if self.use_cache or self.checkpoint_dir:
            self.videos_digest = videos_fingerprint(dataset, [op.video_key for op in ops])
        folders = self.stage_folders(ops)
        self._drop_stale_checkpoints(folders)
        for steps, folder in zip(split_stages(ops), folders, strict=True):
            self._stage_folder = folder
            if isinstance(steps[0][1], DatasetStep):
                dataset = self.run_dataset_step(dataset, steps, outcome)
            else:
                dataset = self.run_stage(dataset, steps, outcome)
            for report in outcome.reports[-len(steps) :]:
                logger.info(report.line())
        outcome.dataset = dataset
        return outcome


def cap_workers(requested: int) -> int:
    cpus = os.cpu_count() or 1
    if requested > cpus:
        logger.info(f"np={requested} is more than the {cpus} CPUs here; using np={cpus}")
        return cpus
    return requested


def input_identity(recipe) -> str:
    """What the run's input is, for naming its checkpoints: every dataset file's path, size and mtime, and the
    keys that change how rows are read. (The videos' identity is added by the runner.)"""
    files = dataset_files(recipe.dataset_path)
    stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
    return repr((stats, recipe.text_keys, recipe.video_key))


@register_executor
class LocalExecutor(Executor):
    """executor_type: default: the `Runner` on this machine, np worker processes, a `datasets.Dataset` result."""

    name = "default"
    supports = frozenset({"use_checkpoint", "export_filtered", "open_tracer"})

    def __init__(self, recipe, paths, stats_only: bool = False):
        super().__init__(recipe, paths, stats_only)
        self.scratch = None
        self._caching = None
        self.np = 1  # the recipe's np, capped to the CPUs here (prepare)

    def prepare(self, ops: list) -> None:
        recipe = self.recipe
        self.np = cap_workers(recipe.np)
        if not recipe.use_checkpoint and self.np > 1:
            self.scratch = tempfile.mkdtemp(prefix=f".djlite-chunks-{os.getpid()}-", dir=recipe.work_dir)
        if self.np > 1:  # the worker server imports djlite while the dataset loads
            start_fork_server(server_modules(ops))
        # datasets' cache setting holds from the load to the end of the export (the stages' map and filter).
        self._caching = datasets_caching(recipe.use_cache)
        self._caching.__enter__()

    def run(self, dataset, ops: list, load_errors: list[dict]) -> RunOutcome:
        recipe, paths = self.recipe, self.paths
        stats_cache = StatsCache(recipe.stats_cache_dir) if recipe.use_cache else None
        if stats_cache is not None:
            logger.info(stats_cache.describe())
            stats_cache.close()  # each worker opens its own connection
        runner = Runner(
            self.np,
            recipe.on_error,
            recipe.use_cache,
            stats_only=self.stats_only,
            stats_cache=stats_cache,
            keep_filtered=recipe.export_filtered or recipe.open_tracer,
            checkpoint_dir=paths.checkpoint_dir if recipe.use_checkpoint else None,
            checkpoint_key=input_identity(recipe) if recipe.use_checkpoint else "",
            scratch_dir=self.scratch,
            chunk_rows=recipe.chunk_rows,
            worker_retries=recipe.worker_retries,
        )
        return runner.run(dataset, ops, load_errors)

    def export(self, kept: RunOutcome, writer, spool_dir: str | None) -> tuple[RunOutcome, str]:
        recipe, paths, outcome = self.recipe, self.paths, kept
        # Exported before the scratch chunk files the result is read from are removed (close).
        outcome.result_paths = export_kept(
            outcome.dataset,
            writer,
            paths,
            shard_size=recipe.export_shard_size,
            keep_stats=recipe.keep_stats_in_res_ds,
            keep_hashes=recipe.keep_hashes_in_res_ds,
            spool_dir=spool_dir,
        )
        errors_path = export_errors(outcome.errored, outcome.load_errors, paths)
        outcome.dataset = result_dataset(outcome.dataset, recipe.keep_hashes_in_res_ds)
        return outcome, errors_path

    def close(self) -> None:
        if self._caching is not None:
            self._caching.__exit__(None, None, None)
            self._caching = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
