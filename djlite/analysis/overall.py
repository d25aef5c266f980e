"""The overall table: per stat, count, mean, std, min, p10, p25, p50, p75, p90 and max.

As in Data-Juicer's OverallAnalysis, list stats are exploded: a sample with several videos contributes
one value per video, and an empty list contributes nothing. `std` is the sample standard deviation
(ddof=1) and percentiles interpolate linearly, which is what pandas' `describe` (Data-Juicer's) gives.
Where djlite differs: one row per stat (Data-Juicer writes describe's layout, one column per stat), fixed
percentiles p10..p90 (Data-Juicer: 25/50/75 plus the recipe's `percentiles`), and two more columns,
`samples` (how many samples have a value) and `errored_samples` (how many lack it because of an error),
so that a stat computed on fewer samples than the dataset holds says so.
"""

import csv
import math
from dataclasses import dataclass

import numpy as np

from djlite.analysis.stats_file import RunRecords
from djlite.fields import Fields
from djlite.files import atomic_path

PERCENTILES = (10, 25, 50, 75, 90)
COLUMNS = ("stat", "count", "mean", "std", "min", *(f"p{p}" for p in PERCENTILES), "max", "samples", "errored_samples")


@dataclass
class StatValues:
    """Every value of one stat, exploded, with where each came from."""

    name: str
    values: np.ndarray  # float64
    rows: np.ndarray  # index of the sample (row of the stats file)
    positions: np.ndarray  # index in the sample's list (its video), -1 for a scalar stat
    samples: int = 0  # samples with at least one value
    errored_samples: int = 0  # samples without a value because of an error
    placeholders: int = 0  # values that mean "not measured" (motion score -1), left out of `values`


def stat_placeholders() -> dict[str, set[float]]:
    """{stat: values meaning "not measured"} declared by the registered filters (`stats_placeholders`)."""
    from djlite.registry import OPERATORS, load_builtin_ops

    load_builtin_ops()
    out: dict[str, set[float]] = {}
    for cls in OPERATORS.values():
        for stat, value in (getattr(cls, "stats_placeholders", None) or {}).items():
            out.setdefault(stat, set()).add(float(value))
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))


def _stat_mapping(row: dict) -> dict:
    merged = dict(row.get(Fields.meta) or {})
    merged.update(row.get(Fields.stats) or {})
    return merged


def stat_names(records: RunRecords, declared: list[str] = ()) -> list[str]:
    """The recipe's stat keys first (in recipe order), then any other key found in the file."""
    names = list(dict.fromkeys(declared))
    for row in records.rows:
        for key in _stat_mapping(row):
            if key not in names:
                names.append(key)
    return names


def collect_values(records: RunRecords, name: str) -> StatValues:
    # Only numbers are summarised; strings and nested values (tags from tagging ops) are left out, and so are
    # placeholders (the motion score's -1 for fewer than two frames), which are counted instead.
    values, rows, positions, samples, placeholders = [], [], [], 0, 0
    skip = stat_placeholders().get(name, set())
    for index, row in enumerate(records.rows):
        value = _stat_mapping(row).get(name)
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(-1, value)]
        counted = False
        for position, item in items:
            if isinstance(item, bool):
                item = int(item)
            if _is_number(item) and float(item) in skip:
                placeholders += 1
            elif _is_number(item):
                values.append(float(item))
                rows.append(index)
                positions.append(position)
                counted = True
        samples += counted
    # Samples dropped by an error are not analysed at all; one kept despite an error (on_error: keep) lacks
    # only the stats of the op that failed.
    errored = records.errored_count + sum(
        1 for r in records.rows if r.get(Fields.errors) and _stat_mapping(r).get(name) is None
    )
    return StatValues(
        name=name,
        values=np.asarray(values, dtype=np.float64),
        rows=np.asarray(rows, dtype=np.int64),
        positions=np.asarray(positions, dtype=np.int64),
        samples=samples,
        errored_samples=errored,
        placeholders=placeholders,
    )


def summarize(stat: StatValues) -> dict:
    v = stat.values
    row = {"stat": stat.name, "count": int(v.size)}
    if v.size:
        quantiles = np.percentile(v, PERCENTILES)
        row.update(
            mean=float(v.mean()),
            std=float(v.std(ddof=1)) if v.size > 1 else math.nan,
            min=float(v.min()),
            **{f"p{p}": float(q) for p, q in zip(PERCENTILES, quantiles)},
            max=float(v.max()),
        )
    else:
        row.update({c: math.nan for c in COLUMNS[2:-2]})
    row.update(samples=stat.samples, errored_samples=stat.errored_samples, placeholders=stat.placeholders)
    return row


def _csv_cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def md_number(value) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_overall_csv(table: list[dict], path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in table:
            writer.writerow([_csv_cell(row[c]) for c in COLUMNS])


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(md_number(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def overall_markdown(table: list[dict], records: RunRecords) -> str:
    errors_note = (
        f"errors read from `{records.errors_source}`"
        if records.errors_source
        else "no errors file beside the stats file, so errored samples are unknown"
    )
    lines = [
        "# Overall statistics",
        "",
        f"Stats file: `{records.source}`",
        "",
        f"- analysed samples: {len(records.rows)}",
        f"- errored samples (dropped by an error, not analysed): {records.errored_count}"
        f" ({len(records.load_errors)} unreadable dataset lines); {errors_note}",
        f"- kept despite an error (on_error: keep): {sum(1 for r in records.rows if r.get(Fields.errors))}",
        "",
        "A sample with several videos contributes one value per video. std has ddof=1; percentiles interpolate"
        " linearly.",
        "",
        markdown_table(list(COLUMNS), [[row[c] for c in COLUMNS] for row in table]),
        "",
    ]
    lines += [f"- {note}" for note in overall_notes(table, records)]
    return "\n".join(lines) + ("\n" if lines[-1] else "")


def overall_notes(table: list[dict], records: RunRecords) -> list[str]:
    """What the table leaves out: placeholder values, and filtered samples a dj-process stats file lacks."""
    notes = [
        f"{row['stat']}: {row['placeholders']} placeholder values (not measured, e.g. motion score -1 for fewer "
        "than two frames) left out of count, mean and percentiles"
        for row in table
        if row.get("placeholders")
    ]
    if records.filtered_source:
        notes.append(
            f"includes the {len(records.filtered)} filtered samples of `{records.filtered_source}` (their stats up"
            " to the filter that removed them)"
        )
    elif records.filtered_missing:
        notes.append(
            f"this stats file holds only the samples the run kept: {records.filtered_missing} filtered samples are"
            " not in it, so these tables describe the survivors. Re-run dj-process with `export_filtered: true`"
            " (their stats go to <export base>_filtered.jsonl, which dj-analyze reads) or use dj-analyze --config"
        )
    return notes
