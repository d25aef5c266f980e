"""A tiny export format from outside djlite, as a user would add one: one file that registers itself.

`export_type: csv_lines` (or an export path ending in .csvl) writes one line per kept sample, `id,text,videos`
with the videos joined by `|`. `seen_before_commit` records, for each file it wrote, whether the final name
already existed when its write returned (it must not: the run's output set renames it with the others).
"""

import os

from djlite.files import atomic_path
from djlite.formats.tables import TableWriter, iter_rows
from djlite.formats.writer import register_writer

seen_before_commit: dict[str, bool] = {}


@register_writer("csv_lines")
class CsvLinesWriter(TableWriter):
    suffix = ".csvl"

    def write(self, dataset, path):
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for row in iter_rows(dataset):
                f.write(f"{row.get('id', '')},{row.get('text', '')},{'|'.join(row.get('videos') or [])}\n")
        seen_before_commit[path] = os.path.exists(path)


@register_writer("failing_lines")
class FailingLinesWriter(TableWriter):
    """A format whose writer fails on the data (as yt8m does on a label without an integer index)."""

    suffix = ".faill"
    claims_suffix = False

    def write(self, dataset, path):
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write("half a file\n")
            raise ValueError("label 'dog' has no integer index\n(a second line the one-line message leaves out)")
