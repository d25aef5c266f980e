"""Writes the run's files (named by djlite/run_paths.py). Each is written under a temporary name and renamed when
complete, so a killed run never leaves a file that looks finished.

    the result            kept samples, by the export's writer (djlite/formats/writer.py), or its shards
    the stats file        {"__dj__stats__": ...} per kept sample, same order
    the errors file       every sample dropped by an error, whole, with "__dj__errors__"
    the summary           input = kept + filtered + errored, per op and overall (written by djlite/api.py)
    the resolved recipe   the recipe with every op parameter filled in
"""

import json
import shutil
from contextlib import contextmanager

import datasets
import yaml
from loguru import logger

from djlite.errors import WRITE_ERRNOS, ExportError, OpBugError, RecipeError
from djlite.fields import HASH_COLUMNS, INTERNAL_COLUMNS, Fields
from djlite.files import atomic_path
from djlite.formats.tables import TableWriter, iter_rows, write_rows
from djlite.formats.writer import LAYOUT, Writer
from djlite.run_paths import RunPaths

# What the record of a dropped sample (errors file, filtered file, tracer) leaves out: internal marks, the hash
# columns of ops that never ran on the sample, and a training export's pointer into its frame spool (removed
# when the run ends). Noise to a user.
DROPPED_HIDDEN = frozenset({*INTERNAL_COLUMNS, *HASH_COLUMNS, Fields.export_frames})


def hidden_columns(columns, keep_stats: bool, keep_hashes: bool) -> list[str]:
    """Those of `columns` that a result (result file, WebDataset .json, `RunResult.dataset`) does not show.

    Always the errors column (a kept sample's errors, under on_error: keep, are in the stats file) and any
    internal mark; the deduplicators' hash columns unless keep_hashes; `__dj__stats__` and `__dj__meta__`
    unless keep_stats. The one rule, so that no output derives its own.
    """
    hidden = {Fields.errors, *INTERNAL_COLUMNS}
    if not keep_stats:
        hidden |= {Fields.stats, Fields.meta}
    if not keep_hashes:
        hidden |= set(HASH_COLUMNS)
    return [c for c in columns if c in hidden]


def shown(dataset: datasets.Dataset, keep_stats: bool, keep_hashes: bool) -> datasets.Dataset:
    """The dataset without its hidden_columns."""
    drop = hidden_columns(dataset.column_names, keep_stats, keep_hashes)
    return dataset.remove_columns(drop) if drop else dataset


def result_dataset(dataset: datasets.Dataset, keep_hashes: bool) -> datasets.Dataset:
    """`RunResult.dataset` of a run whose kept samples are in memory: each with its stats and meta (as in
    Data-Juicer's processed dataset), without the hidden columns and without a training export's pointer into
    its frame spool (removed with the spool)."""
    dataset = shown(dataset, keep_stats=True, keep_hashes=keep_hashes)
    return dataset.remove_columns([Fields.export_frames]) if Fields.export_frames in dataset.column_names else dataset


def write_stats(dataset: datasets.Dataset, paths: RunPaths) -> None:
    """The stats file: the stats and meta of each kept sample, in result order, and its errors where it has some
    (on_error: keep). Not written when the samples have no stats column at all."""
    stat_columns = [c for c in (Fields.stats, Fields.meta) if c in dataset.column_names]
    if not stat_columns:
        return
    columns = stat_columns + [c for c in (Fields.errors,) if c in dataset.column_names]
    rows = (
        {k: v for k, v in row.items() if k != Fields.errors or v} for row in iter_rows(dataset.select_columns(columns))
    )
    write_rows(rows, paths.stats)


def _write_table(result: datasets.Dataset, paths: RunPaths, writer: TableWriter, shard_size: int) -> list[str]:
    """The result with a table writer: one file, or one shard per `shard_size` bytes of its columns (in Arrow)."""
    if shard_size > 0 and len(result) > 1:
        shards = min(int(result.data.nbytes / shard_size) + 1, len(result))
        if shards > 1:
            shard_paths = paths.table_shards(shards)
            for i, path in enumerate(shard_paths):
                writer.write(result.shard(shards, i, contiguous=True), path)
            return shard_paths
    writer.write(result, paths.result)
    return [paths.result]


def export_kept(
    dataset: datasets.Dataset,
    writer: Writer,
    paths: RunPaths,
    shard_size: int = 0,
    keep_stats: bool = False,
    keep_hashes: bool = False,
    spool_dir: str | None = None,
) -> list[str]:
    """The kept samples in the export's format, and their stats file; returns the result files. A table shows the
    samples as a result does (keep_stats, keep_hashes); a layout sees them with their stats (the hash columns only
    with keep_hashes), and its frame spool is removed whatever happens."""
    write_stats(dataset, paths)
    if writer.kind != LAYOUT:
        return _write_table(shown(dataset, keep_stats, keep_hashes), paths, writer, shard_size)
    rows = shown(dataset, keep_stats=True, keep_hashes=keep_hashes)
    try:
        writer.setup()
        return writer.write(lambda: iter_rows(rows), paths.result)
    finally:
        if spool_dir:
            shutil.rmtree(spool_dir, ignore_errors=True)


def export_errors(errored: list[datasets.Dataset], load_errors: list[dict], paths: RunPaths) -> str:
    def rows():
        yield from load_errors
        for part in errored:
            for row in iter_rows(part):
                yield {k: v for k, v in row.items() if k not in DROPPED_HIDDEN}

    write_rows(rows(), paths.errors)
    return paths.errors


def write_json(data, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_yaml(data, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True)


def export_failure_cause(error: BaseException) -> BaseException:
    """The exception behind `error`: a worker's own exception rather than Ray's wrapper around it (RayTaskError,
    Ray Data's UserCodeException)."""
    while type(error).__module__.startswith("ray."):
        cause = getattr(error, "cause", None) or error.__cause__
        if not isinstance(cause, BaseException):
            break
        error = cause
    return error


@contextmanager
def export_failures(export_path: str):
    """Turn a failure while writing the run's files, on any executor, into an ExportError: one line naming the
    export path and the cause (logged; its traceback goes to the log file only), exit status 1, instead of a
    traceback after every op ran. A full or read-only disk stays the OSError that the CLI reports as `cannot
    write ...`; a recipe error and an op bug stay what they are."""
    try:
        yield
    except (RecipeError, ExportError, OpBugError):
        raise
    except Exception as e:
        cause = export_failure_cause(e)
        if isinstance(cause, OSError) and cause.errno in WRITE_ERRNOS:
            raise cause from None
        if isinstance(cause, OpBugError):
            raise cause from None
        text = str(cause).strip().splitlines()
        message = f"export to {export_path} failed: {type(cause).__name__}" + (f": {text[0]}" if text else "")
        logger.opt(exception=e).debug(message)
        logger.error(message)
        raise ExportError(message) from e
