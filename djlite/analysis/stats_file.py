"""Reading what a run wrote: the stats file, the errors file beside it and, for thumbnails, the result file.

A stats file is `<export base>_stats.jsonl`: one JSON object per sample carrying `__dj__stats__` (and
`__dj__meta__` from tagging ops; `__dj__errors__` when the run kept errored samples). Anything else is
refused with a one-line StatsFileError naming the file and line, before any analysis starts.

The stats file has no video paths. Its rows are in the order of the result file of the same run
(`<export base>.jsonl`), so that file, given as `--dataset`, supplies the paths for thumbnails.

A dj-process stats file holds the kept samples only. When the run wrote `<export base>_filtered.jsonl`
(`export_filtered: true`), its samples are analysed too (with the stats computed up to the filter that removed
them), so the tables are about the whole dataset; without it, the report says how many filtered samples the
tables miss (from the run's <export base>_op_summary.json beside the stats file).
"""

import json
import os
from dataclasses import dataclass, field

from djlite.errors import RecipeError
from djlite.fields import Fields
from djlite.run_paths import StatsFilePaths

HINT = "a stats file is what dj-process and dj-analyze write as <export base>_stats.jsonl"


class StatsFileError(RecipeError):
    """A stats, errors or dataset file that cannot be analysed. Exit status 2, like a bad recipe."""


@dataclass
class RunRecords:
    """Everything dj-analyze knows about the samples of one run."""

    source: str  # the stats file
    rows: list[dict]  # one per analysed sample: {"__dj__stats__": {...}, "__dj__meta__": ..., "__dj__errors__": ...}
    errored: list[dict] = field(default_factory=list)  # samples dropped by an error: partial stats + errors
    load_errors: list[dict] = field(default_factory=list)  # dataset lines that could not be parsed
    errors_source: str | None = None  # the errors file read, if any
    videos: list[list[str]] | None = None  # per row, the video paths (from the result file), for thumbnails
    filtered: list[dict] = field(default_factory=list)  # rows that came from the filtered file (also in `rows`)
    filtered_source: str | None = None  # the filtered file read, if any
    filtered_missing: int = 0  # samples the run filtered that are in no file read here

    @property
    def errored_count(self) -> int:
        return len(self.errored) + len(self.load_errors)


def read_filtered_file(path: str) -> list[dict]:
    """The samples a run's filters removed, as analysis rows: stats, meta and the `__dj__filtered__` entry."""
    from djlite.trace import FILTERED

    rows = []
    for number, row in _json_lines(path, "filtered file"):
        entry = row.get(FILTERED)
        if not isinstance(entry, dict) or "op" not in entry:
            raise StatsFileError(f"{path} line {number}: a filtered-file line needs a {FILTERED!r} entry")
        stats = row.get(Fields.stats)
        rows.append(
            {
                Fields.stats: stats if isinstance(stats, dict) else {},
                Fields.meta: row.get(Fields.meta) or {},
                Fields.errors: list(row.get(Fields.errors) or []),
                FILTERED: entry,
                "_videos": row.get("videos"),
            }
        )
    return rows


def _filtered_by_run(stats_path: str) -> int:
    """How many samples the run that wrote the stats file filtered, from its summary (0 if unknown)."""
    summary = StatsFilePaths(stats_path).summary
    try:
        with open(summary, encoding="utf-8") as f:
            return int(json.load(f).get("filtered") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _json_lines(path: str, what: str):
    """(line number, parsed object) for each non-empty line; a line that is not a JSON object is an error."""
    if not os.path.isfile(path):
        raise StatsFileError(f"{what} not found: {path}")
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise StatsFileError(f"{path} line {number}: not JSON, so not a {what} ({HINT})") from None
            if not isinstance(row, dict):
                raise StatsFileError(f"{path} line {number}: a {what} line is a JSON object, got {type(row).__name__}")
            yield number, row


def read_stats_file(path: str) -> list[dict]:
    """The rows of a stats file, each with a dict under `__dj__stats__` (an empty one if only meta is there)."""
    rows = []
    for number, row in _json_lines(path, "stats file"):
        stats, meta = row.get(Fields.stats), row.get(Fields.meta)
        if stats is None and meta is None:
            keys = ", ".join(list(row)[:5]) or "none"
            raise StatsFileError(f"{path} line {number}: not a stats file: no {Fields.stats!r} (keys: {keys}); {HINT}")
        if not isinstance(stats if stats is not None else {}, dict) or not isinstance(meta or {}, dict):
            raise StatsFileError(f"{path} line {number}: {Fields.stats!r} must be a JSON object; {HINT}")
        rows.append(
            {Fields.stats: stats or {}, Fields.meta: meta or {}, Fields.errors: list(row.get(Fields.errors) or [])}
        )
    return rows


def read_errors_file(path: str) -> tuple[list[dict], list[dict]]:
    """(samples dropped by an op's error, dataset lines that could not be loaded) from an errors file."""
    errored, load_errors = [], []
    for number, row in _json_lines(path, "errors file"):
        errors = row.get(Fields.errors)
        if not isinstance(errors, list) or not errors:
            raise StatsFileError(f"{path} line {number}: an errors-file line needs a non-empty {Fields.errors!r} list")
        if all(isinstance(e, dict) and e.get("op") == "load" for e in errors):
            load_errors.append(row)
            continue
        stats = row.get(Fields.stats)
        errored.append(
            {
                Fields.stats: stats if isinstance(stats, dict) else {},
                Fields.meta: row.get(Fields.meta) or {},
                Fields.errors: errors,
            }
        )
    return errored, load_errors


def read_video_lists(path: str, video_key: str, expected_rows: int) -> list[list[str]]:
    """Per row of a result file (jsonl, json or parquet), its video paths, made absolute against its folder."""
    if not os.path.isfile(path):
        raise StatsFileError(f"dataset for thumbnails not found: {path}")
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=[video_key] if video_key in pq.read_schema(path).names else [])
        rows = table.to_pylist() if table.num_columns else [{}] * table.num_rows
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            try:
                rows = json.load(f)
            except ValueError:
                raise StatsFileError(f"{path}: not a JSON array of samples") from None
        if not isinstance(rows, list):
            raise StatsFileError(f"{path}: not a JSON array of samples")
    else:
        rows = [row for _, row in _json_lines(path, "dataset")]
    if len(rows) != expected_rows:
        raise StatsFileError(
            f"{path} has {len(rows)} samples but the stats file has {expected_rows}: thumbnails need the result file "
            f"of the same run (<export base>.jsonl beside <export base>_stats.jsonl)"
        )
    base_dir = os.path.dirname(os.path.abspath(path))
    out = []
    for row in rows:
        videos = row.get(video_key) if isinstance(row, dict) else None
        if isinstance(videos, str):
            videos = [videos]
        out.append([v if os.path.isabs(v) else os.path.normpath(os.path.join(base_dir, v)) for v in videos or []])
    return out


def load_run_records(stats_path: str, dataset_path: str | None = None, video_key: str = "videos") -> RunRecords:
    """The stats file, the errors file beside it when there is one, and video paths when a dataset is given."""
    records = RunRecords(source=stats_path, rows=read_stats_file(stats_path))
    errors_path = StatsFilePaths(stats_path).errors
    if os.path.isfile(errors_path):
        records.errored, records.load_errors = read_errors_file(errors_path)
        records.errors_source = errors_path
    if dataset_path:
        records.videos = read_video_lists(dataset_path, video_key, len(records.rows))
    filtered_path = StatsFilePaths(stats_path).filtered
    if os.path.isfile(filtered_path):
        records.filtered = read_filtered_file(filtered_path)
        records.filtered_source = filtered_path
        if records.videos is not None:
            records.videos += [_video_list(row.pop("_videos"), filtered_path) for row in records.filtered]
        for row in records.filtered:
            row.pop("_videos", None)
        records.rows += records.filtered
    else:
        records.filtered_missing = _filtered_by_run(stats_path)
    return records


def _video_list(videos, source: str) -> list[str]:
    if isinstance(videos, str):
        videos = [videos]
    base_dir = os.path.dirname(os.path.abspath(source))
    return [v if os.path.isabs(v) else os.path.normpath(os.path.join(base_dir, v)) for v in videos or []]
