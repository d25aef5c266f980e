"""What the recipe's thresholds would do: per filter, samples kept and dropped, alone and in recipe order.

The decisions come from each filter's own `process` on the stats, so they cannot drift from dj-process.
The sequence replays the runner: a sample goes through the steps in order and stops at the first filter
that drops it or, under `on_error: drop`, at the first step that failed on it (the stats pass recorded
which step failed). A sample that an earlier filter drops never reaches its error, as in dj-process. So
with the stats of a full stats pass (every sample, errors file beside it), the in-sequence counts are
exactly dj-process's per-op counts and its final kept count.

Deduplicators decide across samples, not from stats; dj-analyze does not run them (Data-Juicer's analyzer
does not either), and the sequence passes samples through them unchanged, which the report says.
"""

from dataclasses import dataclass, field

from djlite.analysis.thresholds import threshold_text
from djlite.fields import Fields
from djlite.ops.base import Deduplicator, Filter
from djlite.trace import FILTERED


@dataclass
class StepCounts:
    step: int
    op: str
    thresholds: str
    kind: str  # "filter", "mapper" or "deduplicator"
    simulated: bool = True  # False for a deduplicator: not run by dj-analyze
    alone_kept: int = 0
    alone_dropped: int = 0
    alone_errors: int = 0  # the step failed on the sample
    alone_unknown: int = 0  # no stats for this step: an earlier step failed on the sample
    seq_in: int = 0
    seq_kept: int = 0
    seq_filtered: int = 0
    seq_errors: int = 0
    seq_unknown: int = 0  # a sample a filter removed in the run that wrote the stats lacks this step's stats
    notes: list[str] = field(default_factory=list)


WHATIF_COLUMNS = (
    "step", "op", "thresholds", "alone_kept", "alone_dropped", "alone_errors", "alone_unknown",
    "seq_in", "seq_kept", "seq_filtered", "seq_errors", "seq_unknown",
)  # fmt: skip


def whatif_row(counts: StepCounts) -> list:
    """The WHATIF_COLUMNS values of one step; the "alone" columns are blank for a step that is not a filter."""
    return [
        "" if column.startswith("alone_") and counts.kind != "filter" else getattr(counts, column)
        for column in WHATIF_COLUMNS
    ]


def _kind(op) -> str:
    if isinstance(op, Filter):
        return "filter"
    if isinstance(op, Deduplicator):
        return "deduplicator"
    return "mapper"


def _failed_steps(sample: dict, steps: list[tuple[int, object]]) -> set[int]:
    """The steps whose op failed on the sample, matched by step number and op name."""
    failed = set()
    by_name: dict[str, int] = {}
    for step, op in steps:
        by_name.setdefault(op.name, step)
    names = {step: op.name for step, op in steps}
    for entry in sample.get(Fields.errors) or []:
        step, name = entry.get("step"), entry.get("op")
        if names.get(step) == name:
            failed.add(step)
        elif name in by_name:  # numbered against another op list (a stats file from dj-process)
            failed.add(by_name[name])
    return failed


def _decide(op: Filter, sample: dict) -> bool | None:
    """The filter's verdict, or None when the sample has no stats for it (or process cannot decide)."""
    if not op.has_stats(sample):
        return None
    try:
        return bool(op.process(sample))
    except Exception:  # noqa: BLE001 - the runner records a failing process as that sample's error
        return None


def what_if(steps: list[tuple[int, object]], samples: list[dict], on_error: str = "drop") -> list[StepCounts]:
    """Counts per step over `samples` (each with its stats and its recorded errors)."""
    counts = {
        step: StepCounts(step=step, op=op.name, thresholds=threshold_text(op), kind=_kind(op)) for step, op in steps
    }
    for step, op in steps:
        counts[step].simulated = not isinstance(op, Deduplicator)

    for sample in samples:
        failed = _failed_steps(sample, steps)
        verdicts = {}
        for step, op in steps:
            c = counts[step]
            if step in failed:
                c.alone_errors += 1
            elif isinstance(op, Filter):
                verdicts[step] = _decide(op, sample)
                if verdicts[step] is None:
                    c.alone_unknown += 1
                elif verdicts[step]:
                    c.alone_kept += 1
                else:
                    c.alone_dropped += 1

        for step, op in steps:
            c = counts[step]
            c.seq_in += 1
            if step in failed:
                c.seq_errors += 1
                if on_error != "keep":
                    break
            elif isinstance(op, Filter) and verdicts.get(step) is None and sample.get(FILTERED):
                # From a filtered file: an earlier filter removed it in that run, so this step never computed
                # its stats; with looser thresholds it would get here, and what it would do is unknown.
                c.seq_unknown += 1
                if not c.notes:
                    c.notes.append(
                        f"step {step} {op.name}: seq_unknown samples were removed earlier in the run that wrote the"
                        " stats, so they have no stats for this step; seq_kept from here on is a lower bound"
                    )
                break
            elif isinstance(op, Filter) and verdicts.get(step) is None:
                # Stats missing without a recorded error: dj-process would fail here, as an error.
                c.seq_errors += 1
                if on_error != "keep":
                    break
            elif isinstance(op, Filter) and not verdicts[step]:
                c.seq_filtered += 1
                break
            c.seq_kept += 1

    # A sample that stopped before a step never reached it; seq_kept counts those that went on past it.
    return [counts[step] for step, _ in steps]


def final_kept(counts: list[StepCounts], analysed: int) -> int:
    return counts[-1].seq_kept if counts else analysed
