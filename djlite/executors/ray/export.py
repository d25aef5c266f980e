"""The run's files from Ray: the same names and contents as the local runner's (djlite/exporter.py).

Each block of kept samples is written by a Ray task, in parallel, with the local exporter itself
(`export_kept` on that block, with the export's table writer), into a hidden parts folder beside the export
path. The driver then assembles them in dataset order, copying bytes without parsing rows:
  - export_shard_size 0: one result file, `<export_path>`, joined by the writer's `concat` (jsonl/json parts
    concatenated; parquet parts rewritten row group by row group into one file);
  - export_shard_size > 0: the blocks are first repartitioned into one shard per `export_shard_size` bytes
    of result columns (in Arrow, as the local runner counts them), and each part becomes
    `<stem>-<i>-of-<n><ext>`, committed with the run's other files;
  - `<base>_stats.jsonl`: the parts' stats files concatenated, same order as the result.
The errors file is small (errored samples only) and is written on the driver by the local exporter.
A training layout is not written here: the driver gathers its rows and writes it (djlite/exporter.py).
Workers write to the export folder, so on a multi-node cluster it must be on storage every node sees.
"""

import os
import shutil

import numpy as np
import pyarrow as pa

from djlite.executors.ray.blocks import ROW_INDEX, concat_blocks, to_hf_dataset, without
from djlite.exporter import export_errors, export_kept, hidden_columns
from djlite.files import commit_file, exclusive_temp
from djlite.formats.tables import TableWriter, concat_bytes
from djlite.run_paths import RunPaths


def write_part(block: pa.Table, features, path: str, writer: TableWriter, keep_stats: bool, keep_hashes: bool) -> int:
    part = to_hf_dataset(block, without(features, [ROW_INDEX]))
    export_kept(part, writer, RunPaths(path), keep_stats=keep_stats, keep_hashes=keep_hashes)
    return len(part)


def result_columns(features, keep_stats: bool, keep_hashes: bool) -> list[str]:
    """The columns the result file keeps, by the local exporter's rules."""
    drop = {ROW_INDEX, *hidden_columns(features, keep_stats, keep_hashes)}
    return [c for c in features if c not in drop]


def shard_count(dataset, features, shard_size: int, keep_stats: bool, keep_hashes: bool) -> int:
    """How many shards the local exporter would write: one per `shard_size` bytes of result columns."""
    rows = dataset.count()
    if shard_size <= 0 or rows <= 1:
        return 1
    nbytes = dataset.select_columns(result_columns(features, keep_stats, keep_hashes)).size_bytes()
    return min(int(nbytes / shard_size) + 1, rows)


def export_on_ray(
    ray,
    dataset,
    features,
    paths: RunPaths,
    writer: TableWriter,
    shard_size: int,
    keep_stats: bool,
    keep_hashes: bool,
) -> tuple[list[str], int]:
    """Write the kept samples and their stats file; return the result paths and the number of rows written."""
    parts_dir = paths.parts_dir(os.getpid())
    os.makedirs(parts_dir, exist_ok=True)
    try:
        dataset = dataset.materialize()
        shards = shard_count(dataset, features, shard_size, keep_stats, keep_hashes)
        if shards > 1:
            dataset = dataset.repartition(shards).materialize()
        blocks = dataset.to_arrow_refs()
        parts = paths.part_files(parts_dir, len(blocks))
        task = ray.remote(write_part)
        rows = sum(
            ray.get([task.remote(b, features, p, writer, keep_stats, keep_hashes) for b, p in zip(blocks, parts)])
        )
        if not parts:  # nothing kept: the local exporter's empty files, from the schema alone
            parts = paths.part_files(parts_dir, 1)
            write_part(features.arrow_schema.empty_table(), features, parts[0], writer, keep_stats, keep_hashes)

        part_stats = [RunPaths(p).stats for p in parts]
        if os.path.exists(part_stats[0]):
            concat_bytes(part_stats, paths.stats)
        if shards > 1:
            shard_paths = paths.table_shards(len(parts))
            for part, path in zip(parts, shard_paths):
                # Out of the parts folder (removed below) into a temporary beside the shard, committed with the set.
                tmp = exclusive_temp(path)
                os.replace(part, tmp)
                commit_file(tmp, path)
            return shard_paths, rows
        writer.concat(parts, paths.result)
        return [paths.result], rows
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)


def export_errors_on_ray(errored: list, features_of: list, load_errors: list[dict], paths: RunPaths) -> str:
    """The errors file, by the local exporter, from the errored samples of each stage (few, gathered here)."""
    parts = []
    for dataset, features in zip(errored, features_of):
        tables = list(dataset.iter_batches(batch_format="pyarrow", batch_size=None))
        if tables:
            table = concat_blocks(tables, features)
            table = table.take(np.argsort(table[ROW_INDEX].to_numpy(), kind="stable"))
            parts.append(to_hf_dataset(table, without(features, [ROW_INDEX])))
    return export_errors(parts, load_errors, paths)
