"""Applying a dataset-level step (deduplicator, selector): the same code for the local and the Ray executor.

1. `narrow_table`: the op's `input_columns` (a name that is not a top-level column is read from
   `__dj__stats__`), one row per sample in dataset order. The Ray executor gathers the same columns from its
   blocks, sorted by row index, and calls the same function on them.
2. `op.select(table) -> Selection`: pure; row positions to keep and per-row stats.
3. `write_selection_stats`: merges the Selection's stats into the `__dj__stats__` of a batch of rows, given
   each row's position; the executor then keeps the rows of `selection.kept` (local: `Dataset.select`, Ray: a
   filter on the row index). A stats-only run writes the stats and keeps every row.
"""

import datasets
import pyarrow as pa

from djlite.fields import Fields


def narrow_table(table: pa.Table, columns: list[str]) -> pa.Table:
    """The columns a dataset-level step reads, from a table of samples (top-level columns or stat keys)."""
    arrays, names = [], []
    stats = table[Fields.stats] if Fields.stats in table.column_names else None
    for name in columns:
        if name in table.column_names:
            arrays.append(table[name])
        elif stats is not None and name in [f.name for f in stats.type]:
            arrays.append(pa.chunked_array([chunk.field(name) for chunk in stats.chunks], stats.type.field(name).type))
        else:
            raise KeyError(f"column or stat {name!r} is not in the dataset (columns: {', '.join(table.column_names)})")
        names.append(name)
    return pa.table(arrays, names=names)


def check_selection(op, selection, rows: int) -> None:
    """An op's Selection must name valid, distinct rows and give every declared stat for every row."""
    kept = selection.kept
    if len(set(kept)) != len(kept) or any(not 0 <= i < rows for i in kept):
        raise ValueError(f"{op.name}.select returned invalid row positions for a table of {rows} rows")
    for key, values in selection.stats.items():
        if key not in op.stats_features:
            raise KeyError(f"{op.name}.select wrote stat {key!r}, which its stats_features do not declare")
        if len(values) != rows:
            raise ValueError(f"{op.name}.select gave {len(values)} values of {key!r} for {rows} rows")


def features_after(features: datasets.Features, op) -> datasets.Features:
    """The dataset's features once the op's per-row stats are written."""
    if not op.stats_features:
        return features
    features = features.copy()
    stats = features.get(Fields.stats)
    features[Fields.stats] = dict(stats if isinstance(stats, dict) else {}, **op.stats_features)
    return features


def write_selection_stats(batch: pa.Table, positions, selection, features: datasets.Features) -> pa.Table:
    """`batch` with the Selection's stats merged into each row's `__dj__stats__` (`positions`: each row's)."""
    if not selection.stats:
        return batch
    old = batch[Fields.stats].to_pylist() if Fields.stats in batch.column_names else [None] * len(batch)
    merged = [
        dict(row or {}, **{key: values[int(p)] for key, values in selection.stats.items()})
        for row, p in zip(old, positions)
    ]
    stats_type = features.arrow_schema.field(Fields.stats).type
    array = pa.array(merged, type=stats_type)
    if Fields.stats in batch.column_names:
        return batch.set_column(batch.column_names.index(Fields.stats), Fields.stats, array)
    return batch.append_column(pa.field(Fields.stats, stats_type), array)


def apply_selection_locally(
    dataset: datasets.Dataset, op, show_num: int = 0, drop: bool = True, removed: list | None = None
):
    """(dataset after the op's step, traced pairs). With drop=False (stats-only runs) every row stays.

    `removed`: a list to which (the dropped rows with their stats, their positions, the Selection) is appended,
    for the filtered-samples file and the tracer.
    """
    table = dataset.with_format("arrow")[:]
    selection = op.select(narrow_table(table, op.input_columns), show_num=show_num)
    check_selection(op, selection, len(dataset))
    if selection.stats:
        features = features_after(dataset.features, op)
        dataset = (
            dataset.with_format("arrow")
            .map(
                lambda batch, indices: write_selection_stats(batch, indices, selection, features),
                with_indices=True,
                batched=True,
                features=features,
                desc=f"{op.name} stats",
                new_fingerprint=datasets.fingerprint.Hasher.hash(
                    (dataset._fingerprint, op.name, op.config, "selection-stats")
                ),
            )
            .with_format(None)
        )
    if drop and selection.kept != list(range(len(dataset))):
        if removed is not None:
            gone = sorted(set(range(len(dataset))) - set(selection.kept))
            removed.append((dataset.select(gone), gone, selection))
        dataset = dataset.select(selection.kept)
    return dataset, selection.pairs
