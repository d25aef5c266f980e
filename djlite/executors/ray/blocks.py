"""Moving samples between `datasets` (the local runner's format) and Ray Data's Arrow blocks.

Every block row carries ROW_INDEX, its position in the loaded dataset. Ray keeps block order here (the
executor sets `preserve_order`), but the row index is what the deduplicators rely on to keep the first
occurrence in dataset order, whatever order blocks finish in.
"""

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets.table import InMemoryTable

ROW_INDEX = "__djlite_row__"
MAX_ROWS_PER_BLOCK = 256
BLOCKS_PER_CPU = 4


def rows_per_block(rows: int, cpus: int) -> int:
    """Small blocks: one video sample costs milliseconds to seconds, so balance matters more than overhead."""
    wanted_blocks = max(1, cpus * BLOCKS_PER_CPU)
    return max(1, min(MAX_ROWS_PER_BLOCK, -(-rows // wanted_blocks)))


def with_row_index(dataset: datasets.Dataset) -> tuple[pa.Table, datasets.Features]:
    """The loaded dataset as one Arrow table with ROW_INDEX appended, and its features."""
    if dataset._indices is not None:
        dataset = dataset.flatten_indices()
    table = dataset.data.table
    table = table.append_column(ROW_INDEX, pa.array(np.arange(len(dataset), dtype=np.int64)))
    features = dataset.features.copy()
    features[ROW_INDEX] = datasets.Value("int64")
    return table.replace_schema_metadata(features.arrow_schema.metadata), features


def split_table(table: pa.Table, block_rows: int) -> list[pa.Table]:
    return [table.slice(start, block_rows) for start in range(0, len(table), block_rows)] or [table]


def rows_to_table(rows: list[dict], features: datasets.Features) -> pa.Table:
    """Encode sample dicts exactly as `Dataset.map` does for the local runner: same features, same Arrow types."""
    return datasets.Dataset.from_list(rows, features=features).data.table


def to_hf_dataset(table: pa.Table, features: datasets.Features) -> datasets.Dataset:
    """An in-memory `datasets.Dataset` over an Arrow table whose columns are those of `features`."""
    if not len(table):  # Ray may hand over an empty block without the dataset's columns
        table = features.arrow_schema.empty_table()
    table = table.select(list(features)).replace_schema_metadata(None)
    return datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))


def without(features: datasets.Features, columns) -> datasets.Features:
    return datasets.Features({k: v for k, v in features.items() if k not in set(columns)})


def rows_where(batch: pa.Table, column: str, value, drop: list[str]) -> pa.Table:
    """The rows whose `column` equals `value`, without the `drop` columns."""
    kept = batch.filter(pc.equal(batch[column], pa.scalar(value, batch.schema.field(column).type)))
    return kept.drop_columns([c for c in drop if c in kept.column_names])


def rows_not_in(batch: pa.Table, row_indices: np.ndarray) -> pa.Table:
    """The rows whose ROW_INDEX is not among `row_indices`."""
    if not len(row_indices):
        return batch
    mask = np.isin(batch[ROW_INDEX].to_numpy(), row_indices, invert=True)
    return batch.filter(pa.array(mask))
