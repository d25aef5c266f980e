"""The accounting both executors share: a stage's marks -> per-op in / kept / filtered / errors / seconds, and
the run's outcome and summary.

For every op: in = kept + filtered + errors that dropped the sample; for the run: input = kept + filtered +
errored. Per-op seconds are measured in the workers (the shared decode charged to the ops that use it, see
djlite/video/context.py) and scaled so that a stage's ops add up to the stage's wall time, whatever np was.
"""

from dataclasses import dataclass, field

import datasets
import numpy as np
import pyarrow as pa

from djlite.fields import Fields

MARK_COLUMNS = [Fields.dropped_by, Fields.drop_kind, Fields.errors, Fields.op_seconds]


@dataclass
class OpReport:
    step: int
    op: str
    input: int = 0
    kept: int = 0
    filtered: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"op={self.op} in={self.input} kept={self.kept} filtered={self.filtered} "
            f"errors={self.errors} seconds={self.seconds:.2f}"
        )

    @property
    def failed_everywhere(self) -> bool:
        """The op errored on every sample it received: not bad data, a broken setup or op."""
        return self.input > 0 and self.errors >= self.input


@dataclass
class StageMarks:
    """The marks of one stage, added up over every batch (block) of marked samples."""

    rows: int
    filtered: np.ndarray  # per step of the stage: samples it filtered out
    dropped_by_error: np.ndarray  # per step: samples dropped because it raised
    errors: np.ndarray  # per step: errors recorded (also those kept under on_error: keep)
    seconds: np.ndarray  # per step: seconds measured in the workers

    @classmethod
    def empty(cls, steps: int) -> "StageMarks":
        zeros = np.zeros(steps, np.int64)
        return cls(0, zeros.copy(), zeros.copy(), zeros.copy(), np.zeros(steps, np.float64))

    def add(self, other: "StageMarks") -> "StageMarks":
        self.rows += other.rows
        self.filtered += other.filtered
        self.dropped_by_error += other.dropped_by_error
        self.errors += other.errors
        self.seconds += other.seconds
        return self

    def reports(self, steps, wall: float) -> list[OpReport]:
        """Per-op accounting of the stage, `wall` its wall time."""
        measured = float(self.seconds.sum())
        scale = wall / measured if measured > 0 else 0.0
        remaining, reports = self.rows, []
        for pos, (step, op) in enumerate(steps):
            report = OpReport(
                step=step,
                op=op.name,
                input=remaining,
                filtered=int(self.filtered[pos]),
                errors=int(self.errors[pos]),
                seconds=float(self.seconds[pos] * scale),
            )
            remaining -= int(self.filtered[pos] + self.dropped_by_error[pos])
            report.kept = remaining
            reports.append(report)
        return reports


def count_marks(batch: pa.Table, steps: list[int]) -> StageMarks:
    """The per-step counts of one batch of marked samples (`steps`: the recipe step numbers of the stage)."""
    position = {step: pos for pos, step in enumerate(steps)}
    marks = StageMarks.empty(len(steps))
    marks.rows = len(batch)
    if not len(batch):
        return marks
    rows = zip(
        batch[Fields.dropped_by].to_pylist(),
        batch[Fields.drop_kind].to_pylist(),
        batch[Fields.errors].to_pylist(),
        batch[Fields.op_seconds].to_pylist(),
    )
    for dropped_by, kind, entries, per_step in rows:
        if dropped_by in position:
            (marks.filtered if kind == "filtered" else marks.dropped_by_error)[position[dropped_by]] += 1
        for entry in entries or []:
            if entry["step"] in position:
                marks.errors[position[entry["step"]]] += 1
        marks.seconds += np.asarray(per_step, dtype=np.float64)
    return marks


@dataclass
class RunOutcome:
    """What a run did, whichever executor ran it: the accounting, the kept samples and the errored ones.

    `dataset`: the kept samples; the local executor sets it, the Ray executor leaves it to be read back from the
    exported result files (`result_paths`) on first use. `errored`: per stage with errors, the samples an error
    dropped (local: `datasets.Dataset`s; Ray exports them itself and only counts them here).
    """

    input_count: int
    load_errors: list[dict] = field(default_factory=list)  # dataset lines that could not be parsed
    reports: list[OpReport] = field(default_factory=list)
    errored: list = field(default_factory=list)
    errored_samples: int = 0
    kept_count: int | None = None
    result_paths: list[str] = field(default_factory=list)
    result_format: str = "jsonl"
    # The samples filters and deduplicators removed (djlite.trace.FilteredSamples), when the recipe asks for
    # the filtered file or the tracer; None otherwise.
    filtered: object = None
    _dataset: datasets.Dataset | None = field(default=None, repr=False)

    @property
    def dataset(self) -> datasets.Dataset:
        """The kept samples (with a Ray run: read back from the exported result files)."""
        if self._dataset is None:
            builder = "parquet" if self.result_format == "parquet" else "json"
            self._dataset = datasets.load_dataset(builder, data_files=self.result_paths, split="train")
        return self._dataset

    @dataset.setter
    def dataset(self, value: datasets.Dataset) -> None:
        self._dataset = value

    @property
    def kept(self) -> int:
        return len(self._dataset) if self.kept_count is None else self.kept_count

    @property
    def errored_count(self) -> int:
        return self.errored_samples + len(self.load_errors)

    @property
    def failed_ops(self) -> list[OpReport]:
        return [r for r in self.reports if r.failed_everywhere]

    def summary(self) -> dict:
        kept = self.kept
        filtered = sum(r.filtered for r in self.reports)
        errored = self.errored_count
        total = self.input_count + len(self.load_errors)
        return {
            "input": total,
            "kept": kept,
            "filtered": filtered,
            "errored": errored,
            "balanced": total == kept + filtered + errored,
            "load_errors": len(self.load_errors),
            "ops": [vars(r) for r in self.reports],
        }
