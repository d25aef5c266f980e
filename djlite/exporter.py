"""Writes the run's files. Each is written under a temporary name and renamed when complete, so a killed
run never leaves a file that looks finished.

    <export>.jsonl | .json | .parquet   kept samples (or <base>-<i>-of-<n>.<ext> shards)
    <base>_stats.jsonl                  {"__dj__stats__": ...} per kept sample, same order
    <base>_errors.jsonl                 every sample dropped by an error, whole, with "__dj__errors__"
    <work_dir>/op_summary.json          input = kept + filtered + errored, per op and overall
    <work_dir>/recipe_resolved.yaml     the recipe with every op parameter filled in
"""

import json
import math
import os
import re
from contextlib import contextmanager

import datasets
import jsonlines
import yaml

from djlite import interrupt
from djlite.fields import HASH_COLUMNS, INTERNAL_COLUMNS, Fields
from djlite.output_set import commit_file, exclusive_temp

BATCH_ROWS = 1000


@contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside `path` (created exclusively, see djlite/output_set.py); rename it to `path`
    only if the block completes, or, inside `output_set(...)`, when the whole set is committed."""
    tmp = exclusive_temp(path)
    try:
        yield tmp
        commit_file(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def export_base(export_path: str) -> str:
    return os.path.splitext(export_path)[0]


def stats_path(export_path: str) -> str:
    return export_base(export_path) + "_stats.jsonl"


def errors_path(export_path: str) -> str:
    return export_base(export_path) + "_errors.jsonl"


def _dumps(row: dict) -> str:
    """One row as JSON text that is valid JSON (no bare NaN) and encodable as UTF-8."""
    try:
        text = json.dumps(row, ensure_ascii=False, allow_nan=False, default=_json_default)
    except ValueError:  # NaN or Infinity (a stat that could not be computed): JSON has null for that
        text = json.dumps(_nan_to_null(row), ensure_ascii=False, allow_nan=False, default=_json_default)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate; \u escapes keep it, losslessly, in valid JSON
        text = json.dumps(_nan_to_null(row), ensure_ascii=True, allow_nan=False, default=_json_default)
    return text


def _nan_to_null(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_null(v) for v in value]
    return value


def _json_default(value):
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    return str(value)


def iter_rows(dataset: datasets.Dataset):
    for batch in dataset.with_format("arrow").iter(batch_size=BATCH_ROWS):
        interrupt.check()
        yield from batch.to_pylist()


def write_rows(rows, path: str, fmt: str = "jsonl") -> int:
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        if fmt == "jsonl":
            with jsonlines.Writer(f, dumps=_dumps, flush=False) as writer:
                for row in rows:
                    writer.write(row)
                    count += 1
            return count
        f.write("[")
        for row in rows:
            f.write(("," if count else "") + "\n" + _dumps(row))
            count += 1
        f.write("\n]\n")
    return count


def write_dataset(dataset: datasets.Dataset, path: str, fmt: str) -> None:
    if fmt == "parquet":
        with atomic_path(path) as tmp:
            dataset.to_parquet(tmp)
    else:
        write_rows(iter_rows(dataset), path, fmt)


def shard_paths(export_path: str, shards: int) -> list[str]:
    folder, name = os.path.split(export_path)
    stem, suffix = name.split(".", 1)[0], os.path.splitext(name)[1]
    width = len(str(shards)) + 1
    return [os.path.join(folder, f"{stem}-{i:0{width}d}-of-{shards:0{width}d}{suffix}") for i in range(shards)]


def result_files(export_path: str) -> list[str]:
    """The files a run on `export_path` may have written: result (or its shards), stats and errors."""
    folder, name = os.path.split(export_path)
    stem, suffix = name.split(".", 1)[0], os.path.splitext(name)[1]
    shard = re.compile(rf"^{re.escape(stem)}-\d+-of-\d+{re.escape(suffix)}$")
    shards = (
        [os.path.join(folder, n) for n in os.listdir(folder or ".") if shard.match(n)] if os.path.isdir(folder) else []
    )
    return [export_path, stats_path(export_path), errors_path(export_path), *sorted(shards)]


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


def write_stats(dataset: datasets.Dataset, export_path: str) -> None:
    """`<base>_stats.jsonl`: the stats and meta of each kept sample, in result order, and its errors where it has
    some (on_error: keep). Not written when the samples have no stats column at all."""
    stat_columns = [c for c in (Fields.stats, Fields.meta) if c in dataset.column_names]
    if not stat_columns:
        return
    columns = stat_columns + [c for c in (Fields.errors,) if c in dataset.column_names]
    rows = (
        {k: v for k, v in row.items() if k != Fields.errors or v} for row in iter_rows(dataset.select_columns(columns))
    )
    write_rows(rows, stats_path(export_path))


def export_result(
    dataset: datasets.Dataset,
    export_path: str,
    export_type: str | None = None,
    shard_size: int = 0,
    keep_stats: bool = False,
    keep_hashes: bool = False,
) -> list[str]:
    """Write the kept samples and their stats file; return the paths of the result files."""
    fmt = export_type or os.path.splitext(export_path)[1].lstrip(".")
    write_stats(dataset, export_path)
    result = shown(dataset, keep_stats, keep_hashes)

    if shard_size > 0 and len(result) > 1:
        shards = min(int(result.data.nbytes / shard_size) + 1, len(result))
        if shards > 1:
            paths = shard_paths(export_path, shards)
            for i, path in enumerate(paths):
                write_dataset(result.shard(shards, i, contiguous=True), path, fmt)
            return paths
    write_dataset(result, export_path, fmt)
    return [export_path]


def export_errors(errored: list[datasets.Dataset], load_errors: list[dict], export_path: str) -> str:
    # Internal marks and the hash columns of ops that never ran on the sample are noise to a user.
    internal = set(INTERNAL_COLUMNS) | set(HASH_COLUMNS) | {Fields.export_frames}

    def rows():
        yield from load_errors
        for part in errored:
            for row in iter_rows(part):
                yield {k: v for k, v in row.items() if k not in internal}

    path = errors_path(export_path)
    write_rows(rows(), path)
    return path


def write_json(data, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_yaml(data, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True)
