"""The table formats: the kept samples as the rows of one file (jsonl, json, parquet), and how Ray's parts join.

A table writer (`TableWriter`) writes one file from a `datasets.Dataset` of rows as the result shows them; the run
(djlite/exporter.py) writes the stats file beside it and cuts shards, and under Ray the driver joins the parts
its workers wrote with `concat` (bytes appended unless the format says otherwise). `reader` names the `datasets`
builder that reads the file back (RunResult.dataset of a Ray run). The JSON text of a row (`_dumps`: valid JSON,
no bare NaN, always UTF-8-encodable) is the one every jsonl file of a run is written with.
"""

import json
import math
import os

import datasets
import jsonlines

from djlite import interrupt
from djlite.files import atomic_path
from djlite.formats.writer import TABLE, Writer, register_writer

BATCH_ROWS = 1000
COPY_CHUNK = 1 << 20


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


def _copy(src: str, dst, skip_head: int = 0, skip_tail: int = 0) -> None:
    size = os.path.getsize(src) - skip_head - skip_tail
    with open(src, "rb") as f:
        f.seek(skip_head)
        while size > 0:
            chunk = f.read(min(COPY_CHUNK, size))
            dst.write(chunk)
            size -= len(chunk)


def concat_bytes(parts: list[str], path: str) -> None:
    """Files appended byte for byte (jsonl: the lines of every part, in order)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for part in parts:
            _copy(part, out)


def concat_json(parts: list[str], path: str) -> None:
    """Join json arrays written by write_rows ("[" + "\\n{row}," ... + "\\n]\\n") into one array."""
    head, tail = len(b"["), len(b"\n]\n")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(b"[")
        first = True
        for part in parts:
            if os.path.getsize(part) <= head + tail:
                continue  # an empty array
            if not first:
                out.write(b",")
            _copy(part, out, head, tail)
            first = False
        out.write(b"\n]\n")


def concat_parquet(parts: list[str], path: str) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        writer = None
        try:
            for part in parts:
                source = pq.ParquetFile(part)
                writer = writer or pq.ParquetWriter(tmp, source.schema_arrow)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group))
        finally:
            if writer is not None:
                writer.close()


class TableWriter(Writer):
    """A table format: `write(dataset, path)` writes the rows to one file through `atomic_path`."""

    kind = TABLE
    reader: str | None = None

    @classmethod
    def from_recipe(cls, recipe, base_dir=None) -> "TableWriter":
        return cls()  # a table format has no options; export_extra_args are a layout's

    @classmethod
    def file_suffix(cls, export_path: str) -> str:
        return os.path.splitext(export_path)[1]  # shards take the export path's own extension

    def write(self, dataset: datasets.Dataset, path: str) -> None:
        raise NotImplementedError

    def concat(self, parts: list[str], path: str) -> None:
        concat_bytes(parts, path)


@register_writer("jsonl")
class JsonlWriter(TableWriter):
    suffix = ".jsonl"
    reader = "json"

    def write(self, dataset, path):
        write_rows(iter_rows(dataset), path, "jsonl")


@register_writer("json")
class JsonWriter(TableWriter):
    suffix = ".json"
    reader = "json"

    def write(self, dataset, path):
        write_rows(iter_rows(dataset), path, "json")

    def concat(self, parts, path):
        concat_json(parts, path)


@register_writer("parquet")
class ParquetWriter(TableWriter):
    suffix = ".parquet"
    reader = "parquet"

    def write(self, dataset, path):
        with atomic_path(path) as tmp:
            dataset.to_parquet(tmp)

    def concat(self, parts, path):
        concat_parquet(parts, path)
