"""A deduplicator's or selector's dataset-level step on Ray: the same step as the local executor's.

The row index and the columns the op reads (`input_columns`; `__dj__stats__` when it reads a stat), nothing
else, are gathered to the driver and sorted into dataset order; `djlite.core.selection.narrow_table` makes
the op's table exactly as locally; the op's pure `select` runs once there. Its Selection then goes back to
the blocks: each block writes the per-row stats (`write_selection_stats`, the local executor's function) and
keeps the rows of `selection.kept` by row index; a selector's pick order becomes the new row index (0..k-1 in
pick order) and is restored with a sort, so later steps and the export see the rows in the local runner's order.
Memory on the driver: those columns only (a few kB per sample for a near-duplicate signature of a long video).
"""

import datasets
import numpy as np
import pyarrow as pa

from djlite.core.selection import check_selection, features_after, narrow_table, write_selection_stats
from djlite.executors.ray.blocks import ROW_INDEX, concat_blocks
from djlite.fields import Fields


def gathered_columns(op, features: datasets.Features) -> list[str]:
    top_level = [c for c in op.input_columns if c in features]
    reads_stats = len(top_level) < len(op.input_columns)
    return [ROW_INDEX, *top_level, *([Fields.stats] if reads_stats and Fields.stats in features else [])]


def select_on_driver(dataset, op, features: datasets.Features, show_num: int = 0):
    """(row indices of the input in dataset order, the op's Selection over them)."""
    columns = gathered_columns(op, features)
    batches = dataset.select_columns(columns).iter_batches(batch_format="pyarrow", batch_size=None)
    gathered = datasets.Features({c: features[c] for c in columns})
    table = concat_blocks([batch for batch in batches if len(batch)], gathered)
    table = table.take(np.argsort(table[ROW_INDEX].to_numpy(), kind="stable"))
    selection = op.select(narrow_table(table, op.input_columns), show_num=show_num)
    check_selection(op, selection, len(table))
    return table[ROW_INDEX].to_numpy().astype(np.int64), selection


def apply_to_block(batch: pa.Table, row_indices, selection, features, kept_rows, ranks) -> pa.Table:
    if not len(batch):
        return batch
    rows = batch[ROW_INDEX].to_numpy()
    batch = write_selection_stats(batch, np.searchsorted(row_indices, rows), selection, features)
    if kept_rows is None:
        return batch
    at = np.searchsorted(kept_rows, rows)
    at_clipped = np.minimum(at, max(len(kept_rows) - 1, 0))
    present = (kept_rows[at_clipped] == rows) if len(kept_rows) else np.zeros(len(rows), bool)
    batch = batch.filter(pa.array(present))
    if ranks is not None:
        # A selector's pick order becomes the dataset order: every later step (a deduplicator's first
        # occurrence, the driver's gather of a training export) sorts by the row index, as the local runner's
        # rows are in pick order after the selector.
        position = batch.schema.get_field_index(ROW_INDEX)
        batch = batch.set_column(position, ROW_INDEX, pa.array(ranks[at_clipped[present]], pa.int64()))
    return batch


def apply_selection_on_ray(dataset, op, features: datasets.Features, drop: bool = True):
    """(the dataset after the op's step, lazy; its features; rows dropped)."""
    row_indices, selection = select_on_driver(dataset, op, features)
    after = features_after(features, op)
    kept = np.asarray(selection.kept, dtype=np.int64)
    dropping = drop and len(kept) != len(row_indices)
    reordered = drop and bool(np.any(np.diff(kept) < 0))
    if not selection.stats and not dropping and not reordered:
        return dataset, after, 0
    kept_rows, ranks = None, None
    if dropping or reordered:
        picked = row_indices[kept]
        order = np.argsort(picked, kind="stable")
        kept_rows = picked[order]
        ranks = order.astype(np.int64) if reordered else None  # rank of each sorted kept row in pick order
    out = dataset.map_batches(
        apply_to_block,
        fn_kwargs={
            "row_indices": row_indices,
            "selection": selection,
            "features": after,
            "kept_rows": kept_rows,
            "ranks": ranks,
        },
        batch_format="pyarrow",
        batch_size=None,
    )
    if reordered:
        out = out.sort(ROW_INDEX)
    return out, after, len(row_indices) - len(kept) if drop else 0
