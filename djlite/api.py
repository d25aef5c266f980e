"""Run a recipe from Python: `djlite.run("recipe.yaml", np=2)` or `djlite.run({"dataset_path": ..., ...})`."""

import os
import shutil
import time
from dataclasses import dataclass

import datasets
from loguru import logger

from djlite.core.accounting import RunOutcome
from djlite.dataset import datasets_caching, load_recipe_dataset
from djlite.executors.local import Runner
from djlite.exporter import export_errors, export_result, stats_path, write_json, write_yaml
from djlite.fields import Fields
from djlite.formats.export import export_layout_result, make_layout, with_export_frames
from djlite.recipe import Recipe, load_recipe
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


def _plain(value):
    """Tuples and other YAML-unfriendly values become lists and strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _cap_workers(requested: int) -> int:
    cpus = os.cpu_count() or 1
    if requested > cpus:
        logger.info(f"np={requested} is more than the {cpus} CPUs here; using np={cpus}")
        return cpus
    return requested


def _run_local(recipe: Recipe, stats_only: bool) -> tuple[RunOutcome, list[str], str]:
    layout = make_layout(recipe)
    ops, spool_dir = with_export_frames(recipe.ops, layout, recipe.export_path)
    try:
        with datasets_caching(recipe.use_cache):
            dataset, load_errors = load_recipe_dataset(recipe)
            runner = Runner(
                _cap_workers(recipe.np),
                recipe.on_error,
                recipe.use_cache,
                stats_only=stats_only,
                stats_cache=StatsCache(recipe.stats_cache_dir) if recipe.use_cache else None,
                keep_filtered=recipe.export_filtered or recipe.open_tracer,
            )
            outcome = runner.run(dataset, ops, load_errors)
        if layout is not None:
            result_paths = export_layout_result(outcome.dataset, layout, recipe, spool_dir)
            if Fields.export_frames in outcome.dataset.column_names:  # it points into the spool, now removed
                outcome.dataset = outcome.dataset.remove_columns([Fields.export_frames])
            err_path = export_errors(outcome.errored, outcome.load_errors, recipe.export_path)
            return outcome, result_paths, err_path
    finally:
        if spool_dir:
            shutil.rmtree(spool_dir, ignore_errors=True)

    result_paths = export_result(
        outcome.dataset,
        recipe.export_path,
        export_type=recipe.export_type,
        shard_size=recipe.export_shard_size,
        keep_stats=recipe.keep_stats_in_res_ds,
        keep_hashes=recipe.keep_hashes_in_res_ds,
    )
    err_path = export_errors(outcome.errored, outcome.load_errors, recipe.export_path)
    if recipe.export_filtered:
        write_filtered(outcome.filtered, recipe.export_path)
    if recipe.open_tracer:
        write_trace(outcome.filtered, recipe.ops, recipe.work_dir, recipe.op_list_to_trace, recipe.trace_num)
    return outcome, result_paths, err_path


def run(config: str | dict | Recipe, stats_only: bool = False, **overrides) -> RunResult:
    """Load, process and export; returns the kept dataset, the accounting and the paths written."""
    if isinstance(config, Recipe):
        recipe = config
    elif isinstance(config, dict):
        recipe = load_recipe(data=config, overrides=overrides)
    else:
        recipe = load_recipe(config, overrides=overrides)
    os.makedirs(recipe.work_dir, exist_ok=True)
    for op in recipe.ops:  # ops that write files (frames) put them under the run's work dir unless told otherwise
        if op.work_dir is None:
            op.work_dir = recipe.work_dir
    started = time.perf_counter()

    if recipe.executor_type == "ray":
        from djlite.executors.ray.executor import run_on_ray

        outcome, result_paths, err_path = run_on_ray(recipe, stats_only=stats_only)
    else:
        outcome, result_paths, err_path = _run_local(recipe, stats_only)
    if not recipe.export_filtered:
        remove_stale_filtered(recipe.export_path)
    summary = outcome.summary()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary_path = os.path.join(recipe.work_dir, "op_summary.json")
    write_json(summary, summary_path)
    write_yaml(_plain(recipe.resolved()), os.path.join(recipe.work_dir, "recipe_resolved.yaml"))
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
        logger.error("accounting does not balance: input != kept + filtered + errored; please report this")
    written_stats = stats_path(recipe.export_path)
    return RunResult(
        recipe=recipe,
        outcome=outcome,
        summary=summary,
        result_paths=result_paths,
        stats_path=written_stats if os.path.exists(written_stats) else None,
        errors_path=err_path,
        summary_path=summary_path,
    )
