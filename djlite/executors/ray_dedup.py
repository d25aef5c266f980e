"""Deduplicators on Ray: which hashed samples are later occurrences of an earlier one, and what the op wrote.

Exact deduplicators (those with `dedup_key(row)`, e.g. video_deduplicator) go through a distributed group-by on
the key: within each group every row but the one with the lowest row index is a duplicate, so the first
occurrence in dataset order is kept, as `process(dataset)` keeps it locally. Only the duplicates' row indices
come back to the driver. Such an op's `process` must only drop rows.

Any other deduplicator (video_near_deduplicator groups signatures by similarity, which no key can express)
takes the fallback: the row index and the op's hash columns (`hash_features`), nothing else, are gathered to
the driver in dataset order; the op's own `process(dataset)` runs there on that narrow table; the rows it
dropped are the duplicates, and any column it wrote (the near-duplicate op writes its stats) is carried back
to the kept rows by row index, stats merged into each row's `__dj__stats__`. Contract for such an op:
`process` decides from its `hash_features` alone. Memory on the driver: those columns only, the size of a
signature per sample (a few kB for a near-duplicate signature of a long video).

A stats-only run (dj-analyze) drops no duplicate, as the local runner; an op with an `annotate(dataset)`
(the near-duplicate op's stats) runs it through the same fallback instead of `process`.
"""

import json
from dataclasses import dataclass

import datasets
import numpy as np
import pyarrow as pa

from djlite.executors.ray_blocks import ROW_INDEX, rows_to_table, to_hf_dataset, without
from djlite.fields import Fields

KEY = "__djlite_dedup_key__"


@dataclass
class DedupResult:
    duplicates: np.ndarray  # row indices to drop, sorted
    written: pa.Table | None = None  # ROW_INDEX + the columns process(dataset) wrote, for the kept rows
    features: datasets.Features | None = None  # the features after the op, when it wrote columns


def is_exact(op) -> bool:
    return callable(getattr(op, "dedup_key", None))


def keyed_rows(batch: pa.Table, op) -> pa.Table:
    """ROW_INDEX and the op's key as text, for the rows that have a key (None = never a duplicate)."""
    keys = []
    for row in batch.select(list(op.hash_features)).to_pylist():
        key = op.dedup_key(row)
        keys.append(None if key is None else json.dumps(key))
    keyed = pa.table({ROW_INDEX: batch[ROW_INDEX], KEY: pa.array(keys, pa.string())})
    return keyed.filter(keyed[KEY].is_valid())


def later_occurrences(group: pa.Table) -> pa.Table:
    """Every row of one key's group except its first in dataset order."""
    rows = np.sort(group[ROW_INDEX].to_numpy())
    return pa.table({ROW_INDEX: pa.array(rows[1:], pa.int64())})


def _row_indices(dataset) -> np.ndarray:
    parts = [
        batch[ROW_INDEX].to_numpy()
        for batch in dataset.select_columns([ROW_INDEX]).iter_batches(batch_format="pyarrow", batch_size=None)
    ]
    return np.sort(np.concatenate(parts).astype(np.int64)) if parts else np.zeros(0, np.int64)


def dedup_by_group_by(hashed, op, partitions: int) -> DedupResult:
    keyed = hashed.map_batches(keyed_rows, fn_kwargs={"op": op}, batch_format="pyarrow", batch_size=None)
    later = keyed.groupby(KEY, num_partitions=partitions).map_groups(later_occurrences, batch_format="pyarrow")
    return DedupResult(_row_indices(later))


def dedup_on_driver(hashed, op, features: datasets.Features, method=None) -> DedupResult:
    """Run `method` (default: the op's process) on the narrow table on the driver."""
    columns = [ROW_INDEX, *op.hash_features]
    parts = list(hashed.select_columns(columns).iter_batches(batch_format="pyarrow", batch_size=None))
    table = pa.concat_tables(parts)
    table = table.take(np.argsort(table[ROW_INDEX].to_numpy(), kind="stable"))
    narrow = to_hf_dataset(table, without(features, set(features) - set(columns)))
    kept = (method or op.process)(narrow)
    duplicates = np.setdiff1d(table[ROW_INDEX].to_numpy(), np.asarray(kept[ROW_INDEX], dtype=np.int64))
    written = [c for c in kept.column_names if c not in columns]
    if not written:
        return DedupResult(duplicates)
    after = features.copy()
    for column in written:
        if column == Fields.stats and isinstance(features.get(column), dict):
            after[column] = dict(features[column], **kept.features[column])
        else:
            after[column] = kept.features[column]
    return DedupResult(duplicates, kept.select_columns([ROW_INDEX, *written]).with_format("arrow")[:], after)


def dedup(hashed, op, features: datasets.Features, partitions: int) -> DedupResult:
    if is_exact(op):
        return dedup_by_group_by(hashed, op, partitions)
    return dedup_on_driver(hashed, op, features)


def keep_and_update(batch: pa.Table, written: pa.Table, features: datasets.Features) -> pa.Table:
    """The rows of `batch` present in `written` (sorted by ROW_INDEX), with its columns merged in."""
    known = written[ROW_INDEX].to_numpy()
    rows = batch[ROW_INDEX].to_numpy()
    at = np.minimum(np.searchsorted(known, rows), max(len(known) - 1, 0))
    present = (known[at] == rows) if len(known) else np.zeros(len(rows), bool)
    updates = written.take(pa.array(at[present])).drop_columns([ROW_INDEX]).to_pylist()
    out = []
    for row, update in zip(batch.filter(pa.array(present)).to_pylist(), updates):
        for column, value in update.items():
            if column == Fields.stats and isinstance(row.get(column), dict):
                row[column] = dict(row[column], **(value or {}))
            else:
                row[column] = value
        out.append(row)
    return rows_to_table(out, features)
