"""Why was it dropped: the filtered-samples file and Data-Juicer's tracer.

`export_filtered: true` writes `<export base>_filtered.jsonl`: every sample a filter or a deduplicator
removed, whole (its own keys and `__dj__stats__`), with

    "__dj__filtered__": {"op": "video_motion_score_filter", "step": 4,
                         "stats": {"video_motion_score": [0.03]},      # the values that decided it
                         "thresholds": {"min_score": 0.25, "max_score": 1.79e308}}

(a deduplicator's entry has `"duplicate_of"`: the text and videos of the kept sample it duplicates). With the
result file and the errors file, every input line is in exactly one of the three: `kept + filtered + errored =
input`, line by line.

`open_tracer: true` writes Data-Juicer's trace files to `<work_dir>/trace/`: `filter-<op>.jsonl` (the first
`trace_num` samples each filter removed, whole) and `duplicate-<op>.jsonl` (`{"dup1": kept, "dup2": removed}`
pairs) for the ops named in `op_list_to_trace` (all when empty). Data-Juicer's `mapper-<op>.jsonl` (text
before and after) is not written: no djlite mapper changes the text.
"""

import os

import datasets
from loguru import logger

from djlite.exporter import DROPPED_HIDDEN
from djlite.fields import Fields
from djlite.formats.tables import iter_rows, write_rows
from djlite.run_paths import TRACE_KINDS, RunPaths

FILTERED = "__dj__filtered__"


def _thresholds(op) -> dict:
    """A filter's bounds and non-default decision flags; a deduplicator's parameters (threshold, keep...)."""
    from djlite.ops.base import Filter
    from djlite.stats_cache import NON_STAT_PARAMS

    config = op.config
    if isinstance(op, Filter):
        names = op.threshold_params - set(op.range_flags)  # the flags are shown below, where not the default
    else:
        names = set(config) - NON_STAT_PARAMS
    out = {name: config[name] for name in sorted(names) if name in config}
    for flag in ("any_or_all", "reversed_range"):
        if flag in config and config[flag] not in ("any", False):
            out[flag] = config[flag]
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in out.items()}


def duplicate_of(positions: list[int], selection, dataset: datasets.Dataset, keys=("text", "videos")) -> list:
    """For each removed row, the text and videos of the kept sample of its duplicate group (None if unknown).

    From the Selection's groups (`pairs`, asked for in full): the group member the step kept.
    """
    kept = set(selection.kept)
    kept_of: dict[int, int] = {}
    for members in selection.pairs.values():
        keeper = next((m for m in members if m in kept), None)
        if keeper is not None:
            kept_of.update({m: keeper for m in members if m != keeper})
    wanted = sorted({kept_of[p] for p in positions if p in kept_of})
    columns = [c for c in dict.fromkeys(keys) if c in dataset.column_names]
    found = dict(zip(wanted, iter_rows(dataset.select_columns(columns).select(wanted)))) if wanted else {}
    return [found.get(kept_of.get(p)) for p in positions]


class FilteredSamples:
    """The samples removed in one run, by stage, as the runner hands them over (Arrow datasets, not rows)."""

    def __init__(self):
        self.parts: list[tuple[datasets.Dataset, dict, dict | None]] = []  # (rows, {step: op}, {row: dup of})

    def add_stage(self, marked: datasets.Dataset, steps) -> None:
        """Rows a filter of the stage removed (marked with the step that removed them)."""
        self.parts.append((marked, dict(steps), None))

    def add_selection(self, dropped: datasets.Dataset, step: int, op, duplicate_of: list | None) -> None:
        """Rows a deduplicator or selector removed (with the stats its step wrote)."""
        self.parts.append((dropped, {step: op}, {"step": step, "of": duplicate_of}))

    def __len__(self) -> int:
        return sum(len(part) for part, _, _ in self.parts)

    def rows(self, only_ops: set[str] | None = None):
        """Each removed sample whole, with its `__dj__filtered__` entry; internal and hash columns left out."""
        hidden = DROPPED_HIDDEN | {Fields.errors}  # errors: put back below where the sample has some
        for part, ops, dedup in self.parts:
            per_step: dict[int, tuple] = {}  # step -> (stat keys, thresholds): the op's config read once, not per row
            for position, row in enumerate(iter_rows(part)):
                step = dedup["step"] if dedup else row.get(Fields.dropped_by)
                op = ops[step]
                if only_ops is not None and op.name not in only_ops:
                    continue
                if step not in per_step:
                    keys = getattr(op, "stats_keys", None) or list(getattr(op, "stats_features", {}))
                    per_step[step] = (keys, _thresholds(op))
                keys, thresholds = per_step[step]
                stats = row.get(Fields.stats) or {}
                entry = {"op": op.name, "step": step, "stats": {k: stats.get(k) for k in keys if k in stats}}
                entry["thresholds"] = dict(thresholds)
                if dedup and dedup["of"] is not None:
                    entry["duplicate_of"] = dedup["of"][position]
                out = {k: v for k, v in row.items() if k not in hidden}
                if row.get(Fields.errors):
                    out[Fields.errors] = row[Fields.errors]  # on_error: keep, then removed by a later filter
                out[FILTERED] = entry
                yield out


def write_filtered(filtered: FilteredSamples, paths: RunPaths) -> str:
    path = paths.filtered
    count = write_rows(filtered.rows(), path)
    logger.info(f"filtered samples ({count}), each with the op, step and stats that removed it: {path}")
    return path


def remove_stale_filtered(paths: RunPaths) -> None:
    """A filtered file from an earlier run with export_filtered would not match this run's result."""
    path = paths.filtered
    if os.path.exists(path):
        os.remove(path)
        logger.info(f"removed {path} from an earlier run (this run has export_filtered: false)")


def write_trace(filtered: FilteredSamples, ops: list, paths: RunPaths, op_list_to_trace, trace_num: int) -> list[str]:
    """Data-Juicer's tracer files for the traced ops; returns the paths written."""
    from djlite.ops.base import DatasetStep, Deduplicator, Filter

    folder = paths.trace_dir
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # an earlier run's files would read as this run's
        if name.endswith(".jsonl") and name.startswith(tuple(f"{kind}-" for kind in TRACE_KINDS)):
            os.remove(os.path.join(folder, name))
    traced = set(op_list_to_trace or [op.name for op in ops])
    by_op: dict[str, list] = {}
    for row in filtered.rows(only_ops=traced):
        shown = by_op.setdefault(row[FILTERED]["op"], [])
        if len(shown) < trace_num:
            shown.append(row)
    written = []
    for op in dict.fromkeys(op for op in ops if op.name in traced):
        rows = by_op.get(op.name, [])
        if isinstance(op, Deduplicator):
            path = paths.trace_file("duplicate", op.name)
            rows = [{"dup1": r[FILTERED].get("duplicate_of"), "dup2": r} for r in rows]
        elif isinstance(op, (Filter, DatasetStep)):  # a selector's removed samples are traced like a filter's
            path = paths.trace_file("filter", op.name)
        else:
            continue
        name = os.path.basename(path)
        if not rows:
            logger.info(f"tracer: {op.name} removed no sample; no {name}")
            continue
        if len(rows) < trace_num:
            logger.info(f"tracer: {op.name} removed {len(rows)} samples, fewer than trace_num={trace_num}")
        write_rows(rows, path)
        written.append(path)
    return written
