"""Run a recipe from Python: `djlite.run("recipe.yaml", np=2)` or `djlite.run({"dataset_path": ..., ...})`."""

import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import datasets
from loguru import logger

from djlite.core.accounting import RunOutcome
from djlite.dataset import dataset_files, datasets_caching, load_recipe_dataset
from djlite.errors import RecipeError
from djlite.executors.local import Runner
from djlite.executors.pool import server_modules
from djlite.executors.processes import start_fork_server
from djlite.exporter import export_errors, export_kept, result_dataset, write_json, write_yaml
from djlite.files import remove_stale_temporaries
from djlite.formats.layout import with_export_frames
from djlite.formats.writer import make_writer
from djlite.output_set import export_lock, output_set, recover
from djlite.outputs import prepare_outputs
from djlite.recipe import Recipe, load_recipe
from djlite.run_paths import RunPaths
from djlite.stats_cache import StatsCache
from djlite.trace import remove_stale_filtered, write_filtered, write_trace


@dataclass
class RunResult:
    recipe: Recipe
    outcome: RunOutcome
    summary: dict
    result_paths: list[str]
    stats_path: str | None
    errors_path: str
    summary_path: str

    @property
    def failed_ops(self) -> list:
        """Reports of the ops that errored on every sample they received: the run failed (dj-process exits 1)."""
        return self.outcome.failed_ops

    @property
    def dataset(self) -> datasets.Dataset:
        return self.outcome.dataset


def _cap_workers(requested: int) -> int:
    cpus = os.cpu_count() or 1
    if requested > cpus:
        logger.info(f"np={requested} is more than the {cpus} CPUs here; using np={cpus}")
        return cpus
    return requested


def input_identity(recipe: Recipe) -> str:
    """What the run's input is, for naming its checkpoints: every dataset file's path, size and mtime, and the
    keys that change how rows are read. (The videos' identity is added by the runner.)"""
    files = dataset_files(recipe.dataset_path)
    stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
    return repr((stats, recipe.text_keys, recipe.video_key))


def _run_local(recipe: Recipe, paths: RunPaths, stats_only: bool) -> tuple[RunOutcome, list[str], str]:
    writer = make_writer(recipe)
    ops, spool_dir = with_export_frames(recipe.ops, writer, paths)
    scratch = None
    if not recipe.use_checkpoint and recipe.np > 1:
        scratch = tempfile.mkdtemp(prefix=f".djlite-chunks-{os.getpid()}-", dir=recipe.work_dir)
    if _cap_workers(recipe.np) > 1:  # the worker server imports djlite while the dataset loads
        start_fork_server(server_modules(ops))
    try:
        with datasets_caching(recipe.use_cache):
            dataset, load_errors = load_recipe_dataset(recipe)
            stats_cache = StatsCache(recipe.stats_cache_dir) if recipe.use_cache else None
            if stats_cache is not None:
                logger.info(stats_cache.describe())
                stats_cache.close()  # each worker opens its own connection
            runner = Runner(
                _cap_workers(recipe.np),
                recipe.on_error,
                recipe.use_cache,
                stats_only=stats_only,
                stats_cache=stats_cache,
                keep_filtered=recipe.export_filtered or recipe.open_tracer,
                checkpoint_dir=paths.checkpoint_dir if recipe.use_checkpoint else None,
                checkpoint_key=input_identity(recipe) if recipe.use_checkpoint else "",
                scratch_dir=scratch,
                chunk_rows=recipe.chunk_rows,
                worker_retries=recipe.worker_retries,
            )
            outcome = runner.run(dataset, ops, load_errors)
            # Exported before the scratch chunk files the result is read from are removed.
            result_paths = export_kept(
                outcome.dataset,
                writer,
                paths,
                shard_size=recipe.export_shard_size,
                keep_stats=recipe.keep_stats_in_res_ds,
                keep_hashes=recipe.keep_hashes_in_res_ds,
                spool_dir=spool_dir,
            )
            exported = (result_paths, *_export_errors_and_traces(recipe, paths, outcome))
            outcome.dataset = result_dataset(outcome.dataset, recipe.keep_hashes_in_res_ds)
            return (outcome, *exported)
    finally:
        if spool_dir:
            shutil.rmtree(spool_dir, ignore_errors=True)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _export_errors_and_traces(recipe: Recipe, paths: RunPaths, outcome: RunOutcome) -> tuple[str]:
    """The errors file, and with export_filtered / open_tracer the filtered file and the tracer's files."""
    err_path = export_errors(outcome.errored, outcome.load_errors, paths)
    if recipe.export_filtered:
        write_filtered(outcome.filtered, paths)
    if recipe.open_tracer:
        write_trace(outcome.filtered, recipe.ops, paths, recipe.op_list_to_trace, recipe.trace_num)
    return (err_path,)


def run(config: str | dict | Recipe, stats_only: bool = False, **overrides) -> RunResult:
    """Load, process and export; returns the kept dataset, the accounting and the paths written.

    `overrides`, over a recipe file or dict: global keys (`np=2`, `export_extra_args={"fps": 12}`, merged key by
    key), an op's parameters as a mapping (`video_duration_filter={"min_duration": 2}`, merged into every step
    of that op) or one at a time (`**{"video_duration_filter.min_duration": 2}`, `**{"process.0.min_duration": 2}`).
    """
    if isinstance(config, Recipe):
        if overrides:
            raise RecipeError(
                f"overrides {', '.join(overrides)} go with a recipe file or dict; for a built Recipe, change its "
                "fields (dataclasses.replace)"
            )
        recipe = config
    elif isinstance(config, dict):
        recipe = load_recipe(data=config, overrides=overrides)
    else:
        recipe = load_recipe(config, overrides=overrides)
    prepare_outputs(recipe)  # a read-only or full export folder fails here, before the work
    os.makedirs(recipe.work_dir, exist_ok=True)
    for op in recipe.ops:  # ops that write files (frames) put them under the run's work dir unless told otherwise
        if op.work_dir is None:
            op.work_dir = recipe.work_dir
    paths = recipe.paths
    with export_lock(paths):
        recover(paths)
        remove_stale_temporaries(paths.folder, paths.work_dir)
        with output_set(paths, previous=paths.previous()):
            result = _run_recipe(recipe, paths, stats_only)
    # known only now that the set is committed
    result.stats_path = paths.stats if os.path.exists(paths.stats) else None
    return result


def _run_recipe(recipe: Recipe, paths: RunPaths, stats_only: bool) -> RunResult:
    started = time.perf_counter()
    if recipe.executor_type == "ray":
        from djlite.executors.ray.executor import run_on_ray

        if recipe.use_checkpoint:
            # Ray retries a killed task itself; resuming a killed driver needs fixed partitions (not yet).
            logger.warning("use_checkpoint works with the local executor only; this Ray run starts from the beginning")

        outcome, result_paths, err_path = run_on_ray(recipe, paths, stats_only=stats_only)
    else:
        outcome, result_paths, err_path = _run_local(recipe, paths, stats_only)
    if not recipe.export_filtered:
        remove_stale_filtered(paths)
    summary = outcome.summary()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    write_json(summary, paths.summary)
    write_yaml(recipe.resolved(), paths.resolved_recipe)
    logger.info(
        f"input={summary['input']} kept={summary['kept']} filtered={summary['filtered']} "
        f"errored={summary['errored']} seconds={summary['seconds']}"
    )
    for report in outcome.failed_ops:
        logger.error(
            f"step {report.step} {report.op} failed on all {report.input} samples it received; "
            f"see {err_path} for the errors"
        )
    if not summary["balanced"]:
        logger.error(
            "accounting does not balance: input + created - consumed != kept + filtered + errored; please report this"
        )
    return RunResult(
        recipe=recipe,
        outcome=outcome,
        summary=summary,
        result_paths=result_paths,
        stats_path=None,
        errors_path=err_path,
        summary_path=paths.summary,
    )
