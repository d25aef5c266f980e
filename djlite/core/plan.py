"""The run's plan, the same for every executor: the recipe's ops as the executor runs them, the export's frame
spooler placed among them. (The stages are cut from these ops by djlite/core/stage.py, `split_stages`.)"""

import uuid
from dataclasses import dataclass

from djlite.formats.spool import ExportFrames
from djlite.formats.writer import Writer
from djlite.run_paths import RunPaths


@dataclass
class Plan:
    ops: list
    spool_dir: str | None  # a training export's frame spool, removed when the run ends


def with_export_frames(ops: list, writer: Writer, paths: RunPaths) -> tuple[list, str | None]:
    """The ops with the export's frame spooler placed right after the last op that reads frames (so it joins
    that op's stage and shares its decode); else after the last per-sample op. (ops, spool folder)."""
    if not writer.needs_frames:
        return ops, None
    from djlite.ops.base import Deduplicator

    # Unique per run: a stage loaded from the datasets cache must never point into a spool already removed.
    spool_dir = paths.spool_dir(uuid.uuid4().hex)
    op = ExportFrames(layout=writer, spool_dir=spool_dir)
    readers = [i for i, o in enumerate(ops) if o.reads_frames and not isinstance(o, Deduplicator)]
    if readers:
        at = readers[-1] + 1
    else:
        per_sample = [i for i, o in enumerate(ops) if not isinstance(o, Deduplicator)]
        at = per_sample[-1] + 1 if per_sample else 0
    return ops[:at] + [op] + ops[at:], spool_dir


def plan_run(ops: list, writer: Writer, paths: RunPaths) -> Plan:
    return Plan(*with_export_frames(ops, writer, paths))
