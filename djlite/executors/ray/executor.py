"""executor_type: ray: the recipe on Ray Data, with exactly the local runner's results.

The flow mirrors djlite/executors/local.py, stage for stage, with the same shared parts (djlite/core/):
  - load: the same loader as the local runner (same parsing, bad lines, media paths, Arrow types), on the
    driver; the rows (metadata only, the videos stay on disk) go to Ray as blocks of at most a few hundred
    samples, each row carrying its index in the dataset;
  - a stage of consecutive per-sample ops: `SampleStage` mapped over batches (stage.py), materialised,
    its marks added up per block by the same `count_marks` into the same per-op accounting; the kept rows
    continue, the errored rows are set aside for the errors file;
  - a deduplicator or selector: its hashing stage as above, then the op's pure `select` on the driver over
    the narrow table of its columns, applied to the blocks by row index (selection.py);
  - export: parallel parts assembled into the local runner's files (export.py).

Where it differs from the local runner: `np` does not apply to the processing (Ray decides parallelism from
the cluster's CPUs and each op's `num_proc` / `cpu_required` / `gpu_required`); `use_cache` turns on the
per-video stats cache (djlite.stats_cache, one per machine of the cluster), not datasets' cache; and
`RunResult.dataset` is the exported result read back from disk, so it has the columns the export kept. Where
it differs from Data-Juicer's Ray mode: every deduplicator works (not only the `ray_*` ones), samples that
fail are recorded instead of dropped silently, stats go to `<base>_stats.jsonl` and `keep_stats_in_res_ds:
false` removes them from the result.
"""

import sys
import time
from contextlib import contextmanager

import datasets
from loguru import logger

from djlite.core.accounting import OpReport, RunOutcome
from djlite.core.stage import SampleStage, split_stages, stage_features
from djlite.errors import SampleError
from djlite.executors.base import Executor, register_executor
from djlite.executors.ray.blocks import (
    ROW_INDEX,
    concat_blocks,
    renumber_rows,
    rows_per_block,
    rows_where,
    split_table,
    to_hf_dataset,
    with_row_index,
    without,
)
from djlite.executors.ray.export import export_errors_on_ray, export_on_ray
from djlite.executors.ray.selection import apply_selection_on_ray
from djlite.executors.ray.session import cluster_cpus, ray_session, require_ray
from djlite.executors.ray.stage import collect_marks, map_stage
from djlite.exporter import export_kept, result_dataset
from djlite.fields import INTERNAL_COLUMNS, Fields
from djlite.formats.writer import LAYOUT
from djlite.ops.base import DatasetStep, Deduplicator
from djlite.stats_cache import StatsCache


def first_error(errored) -> SampleError:
    """The error of the first errored sample in dataset order, as the local runner's on_error: raise stops at."""
    first = None
    for batch in errored.select_columns([ROW_INDEX, Fields.errors]).iter_batches(batch_format="pyarrow"):
        for row in batch.to_pylist():
            if first is None or row[ROW_INDEX] < first[ROW_INDEX]:
                first = row
    entry = first[Fields.errors][-1]
    return SampleError(f"step {entry['step']} {entry['op']}: {entry['error']}")


class RayExecutor:
    """Runs ops over a loaded `datasets.Dataset` on the Ray instance `ray` is connected to."""

    def __init__(self, ray, on_error: str = "drop", stats_only: bool = False, stats_cache=None):
        self.ray = ray
        self.on_error = on_error
        self.stats_only = stats_only
        self.stats_cache = stats_cache  # djlite.stats_cache.StatsCache (per machine of the cluster), or None
        self.cpus = cluster_cpus(ray)
        self.reports: list[OpReport] = []
        self.errored: list = []  # per stage with errors: (lazy Ray dataset of its errored rows, their features)
        self.errored_samples = 0

    def run_stage(self, dataset, features, steps):
        """Run one stage; return the kept rows (lazy) and their features."""
        ops = [op for _, op in steps]
        # on_error: raise runs the stage as "drop" and raises the first error afterwards: an exception raised in a
        # worker reaches the driver as Ray's wrapper, with the op's exception only as traceback text.
        stage_policy = "drop" if self.on_error == "raise" else self.on_error
        marked_features = stage_features(features, ops)
        added = [c for c in marked_features if c not in features]
        stage = SampleStage(steps, stage_policy, self.stats_only, columns=added, stats_cache=self.stats_cache)
        start = time.perf_counter()
        marked = map_stage(self.ray, dataset, stage, marked_features, self.cpus).materialize()
        wall = time.perf_counter() - start
        marks = collect_marks(self.ray, marked, steps, self.cpus)
        self.reports.extend(marks.reports(steps, wall))

        dropped_by_error = int(marks.dropped_by_error.sum())
        if dropped_by_error:
            errored = marked.map_batches(
                rows_where,
                fn_kwargs={"column": Fields.drop_kind, "value": "error", "drop": []},
                batch_format="pyarrow",
                batch_size=None,
            )
            if self.on_error == "raise":
                raise first_error(errored)
            self.errored.append((errored, marked_features))
            self.errored_samples += dropped_by_error
        kept_features = without(marked_features, INTERNAL_COLUMNS)
        if marks.filtered.sum() + dropped_by_error:
            kept = marked.map_batches(
                rows_where,
                fn_kwargs={"column": Fields.dropped_by, "value": -1, "drop": list(INTERNAL_COLUMNS)},
                batch_format="pyarrow",
                batch_size=None,
            )
        else:
            kept = marked.drop_columns(list(INTERNAL_COLUMNS))
        if stage.fans_out:
            kept = renumber_rows(self.ray, kept)
        return kept, kept_features

    def run_dataset_step(self, dataset, features, steps):
        """A deduplicator (its hashing stage, then its step) or a selector (its step alone)."""
        step, op = steps[0]
        if isinstance(op, Deduplicator):
            dataset, features = self.run_stage(dataset, features, steps)
            report = self.reports[-1]
        else:
            rows = dataset.count()
            report = OpReport(step=step, op=op.name, input=rows, kept=rows)
            self.reports.append(report)
        if not report.kept:
            return dataset, features
        start = time.perf_counter()
        dataset, features, dropped = apply_selection_on_ray(dataset, op, features, drop=not self.stats_only)
        report.filtered = dropped
        report.kept -= dropped
        report.seconds += time.perf_counter() - start
        return dataset, features

    def run(self, dataset: datasets.Dataset, ops: list):
        """Return the kept samples (a lazy Ray dataset carrying ROW_INDEX) and their features."""
        table, features = with_row_index(dataset)
        blocks = split_table(table, rows_per_block(len(table), self.cpus))
        current = self.ray.data.from_arrow(blocks)
        for steps in split_stages(ops):
            if isinstance(steps[0][1], DatasetStep):
                current, features = self.run_dataset_step(current, features, steps)
            else:
                current, features = self.run_stage(current, features, steps)
            for report in self.reports[-len(steps) :]:
                logger.info(report.line())
        return current, features


@contextmanager
def ray_data_settings(ray):
    """This run's Ray Data settings, restored afterwards (the context is shared by the whole process)."""
    context = ray.data.DataContext.get_current()
    previous = context.execution_options.preserve_order, context.shuffle_strategy, context.enable_progress_bars
    # Progress bars on a terminal; without one Ray Data would log a multi-line progress report every few seconds.
    context.enable_progress_bars = sys.stderr.isatty()
    # Blocks come out in dataset order, so the result files list samples as the local runner does.
    context.execution_options.preserve_order = True
    # The dedup group-by shuffles two narrow columns; the sort-based shuffle runs as plain tasks, where the
    # hash shuffle reserves CPUs for aggregator actors (several seconds of start-up, and CPUs taken from
    # the video work on a small cluster).
    context.shuffle_strategy = "sort_shuffle_pull_based"
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.shuffle_strategy, context.enable_progress_bars = previous


def gather_in_order(kept, features) -> datasets.Dataset:
    """The kept rows on the driver, in dataset order (metadata and spool pointers only, no pixels)."""
    import numpy as np

    tables = list(kept.iter_batches(batch_format="pyarrow", batch_size=None))
    columns = without(features, [ROW_INDEX])
    if not tables:
        return datasets.Dataset.from_dict({k: [] for k in columns}, features=columns)
    table = concat_blocks(tables, features)
    table = table.take(np.argsort(table[ROW_INDEX].to_numpy(), kind="stable"))
    return to_hf_dataset(table, columns)


@register_executor
class RayDataExecutor(Executor):
    """executor_type: ray: the planned ops on Ray Data (`RayExecutor`), table formats exported in parallel parts,
    training layouts on the driver from the spool the workers filled."""

    name = "ray"
    display = "Ray"
    supports = frozenset()  # no resume (Ray retries tasks itself), no filtered file, no tracer yet

    def prepare(self, ops: list) -> None:
        require_ray()  # before any data is read: a missing extra is a recipe problem

    @contextmanager
    def session(self):
        with ray_session(self.recipe.ray_address) as ray, ray_data_settings(ray):
            self.ray = ray
            yield

    def run(self, dataset, ops: list, load_errors: list[dict]):
        recipe = self.recipe
        cache = StatsCache(recipe.stats_cache_dir) if recipe.use_cache else None
        self.stages = RayExecutor(self.ray, recipe.on_error, self.stats_only, stats_cache=cache)
        logger.info(f"Ray: {self.stages.cpus} CPUs in the cluster")
        self.input_count, self.load_errors = len(dataset), list(load_errors)
        return self.stages.run(dataset, ops)

    def export(self, kept, writer, spool_dir: str | None):
        recipe, paths, executor = self.recipe, self.paths, self.stages
        kept, features = kept
        if writer.kind == LAYOUT:
            # Training layouts are written on the driver from the spool the workers filled (one machine).
            kept_rows = gather_in_order(kept, features)
            result_paths = export_kept(
                kept_rows, writer, paths, keep_hashes=recipe.keep_hashes_in_res_ds, spool_dir=spool_dir
            )
            kept_count = len(kept_rows)
        else:
            result_paths, kept_count = export_on_ray(
                self.ray,
                kept,
                features,
                paths,
                writer,
                recipe.export_shard_size,
                recipe.keep_stats_in_res_ds,
                recipe.keep_hashes_in_res_ds,
            )
        errored, errored_features = [d for d, _ in executor.errored], [f for _, f in executor.errored]
        errors_path = export_errors_on_ray(errored, errored_features, self.load_errors, paths)
        outcome = RunOutcome(
            input_count=self.input_count,
            load_errors=self.load_errors,
            reports=executor.reports,
            errored_samples=executor.errored_samples,
            kept_count=kept_count,
            result_paths=result_paths,
            result_format=getattr(writer, "reader", None) or writer.name,
        )
        if writer.kind == LAYOUT:  # else the exported result, read back when asked for
            outcome.dataset = result_dataset(kept_rows, recipe.keep_hashes_in_res_ds)
        return outcome, errors_path
