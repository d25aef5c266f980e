"""Run a recipe from Python: `djlite.run("recipe.yaml", np=2)` or `djlite.run({"dataset_path": ..., ...})`."""

import os
import shutil
import time
from dataclasses import dataclass

import datasets
from loguru import logger

from djlite.core.accounting import RunOutcome
from djlite.core.plan import plan_run
from djlite.errors import RecipeError
from djlite.executors.base import make_executor
from djlite.exporter import export_failures, write_json, write_yaml
from djlite.files import remove_stale_temporaries
from djlite.formats.writer import make_writer
from djlite.output_set import export_lock, output_set, recover
from djlite.outputs import prepare_outputs
from djlite.recipe import Recipe, load_recipe
from djlite.run_paths import RunPaths
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


def _execute(recipe: Recipe, paths: RunPaths, stats_only: bool) -> tuple[RunOutcome, str]:
    """The one run, whichever executor (djlite/executors/base.py): plan, load, run, export; then the filtered
    file and the tracer's files where the recipe asks for them (refused at validation where unsupported).
    (outcome, errors file path)."""
    executor = make_executor(recipe, paths, stats_only)
    writer = make_writer(recipe)
    plan = plan_run(recipe.ops, writer, paths)
    try:
        executor.prepare(plan.ops)
        dataset, load_errors = executor.load()
        with executor.session():
            kept = executor.run(dataset, plan.ops, load_errors)
            with export_failures(recipe.export_path):  # any executor: one line, exit 1, not a traceback
                outcome, err_path = executor.export(kept, writer, plan.spool_dir)
        if recipe.export_filtered:
            write_filtered(outcome.filtered, paths)
        if recipe.open_tracer:
            write_trace(outcome.filtered, recipe.ops, paths, recipe.op_list_to_trace, recipe.trace_num)
        return outcome, err_path
    finally:
        if plan.spool_dir:
            shutil.rmtree(plan.spool_dir, ignore_errors=True)
        executor.close()


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
    outcome, err_path = _execute(recipe, paths, stats_only)
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
        result_paths=outcome.result_paths,
        stats_path=None,
        errors_path=err_path,
        summary_path=paths.summary,
    )
