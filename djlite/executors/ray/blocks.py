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
    """Encode sample dicts exactly as `Dataset.map` does for the local runner: same features, same Arrow types.

    The columns come in the order of `features`, whatever the order of the first row's keys (`from_list` would
    take that one: an errored sample and a clip made from another carry their keys in different orders).
    """
    keys = [*features, *(k for k in (rows[0] if rows else ()) if k not in features)]
    return datasets.Dataset.from_dict({k: [row.get(k) for row in rows] for k in keys}, features=features).data.table


def unified_schema(schemas: list[pa.Schema], features: datasets.Features | None = None) -> pa.Schema:
    """One schema for tables whose columns differ in order, presence or type (null beside typed).

    The columns of `features` come first, in its order and with its Arrow types; any other column follows, its
    type unified by name across the tables (`pa.unify_schemas`, permissive: null promotes to the other type).
    """
    declared = list(features.arrow_schema) if features is not None else []
    names = {field.name for field in declared}
    others = [pa.schema([field for field in schema if field.name not in names]) for schema in schemas]
    rest = list(pa.unify_schemas(others, promote_options="permissive")) if others else []
    return pa.schema(declared + rest)


def concat_blocks(tables: list[pa.Table], features: datasets.Features | None = None) -> pa.Table:
    """Blocks as one table in `unified_schema`: each block's columns selected in one order, a missing column
    added as nulls, a column cast to the unified type. Blocks of one stage can differ in all three (a block
    whose first row is an errored sample versus one whose first row is a clip; an empty block Ray hands over
    without columns), and `pa.concat_tables` accepts none of it."""
    schema = unified_schema([table.schema for table in tables], features)

    def column(table: pa.Table, field: pa.Field):
        if field.name not in table.column_names:
            return pa.nulls(len(table), field.type)
        values = table[field.name]
        return values if values.type == field.type else values.cast(field.type)

    aligned = [pa.Table.from_arrays([column(t, f) for f in schema], schema=schema) for t in tables]
    return pa.concat_tables(aligned) if aligned else schema.empty_table()


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


def _count_rows(block: pa.Table) -> int:
    return len(block)


def _renumber(block: pa.Table, first: int) -> pa.Table:
    if not len(block):
        return block
    position = block.schema.get_field_index(ROW_INDEX)
    return block.set_column(position, ROW_INDEX, pa.array(np.arange(first, first + len(block), dtype=np.int64)))


def renumber_rows(ray, dataset):
    """The dataset with ROW_INDEX = 0..n-1 in its (preserved) order: after a one-to-many stage, where every clip
    carried its parent's index, so that the deduplicators' first-occurrence order and the export stay exact."""
    refs = dataset.to_arrow_refs()
    counter = ray.remote(_count_rows).options(num_cpus=0)
    counts = ray.get([counter.remote(ref) for ref in refs])
    renumber = ray.remote(_renumber).options(num_cpus=0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int) if counts else []
    return ray.data.from_arrow_refs([renumber.remote(ref, int(s)) for ref, s in zip(refs, starts)])
