"""One runner stage on Ray Data: the local runner's SampleStage mapped over batches, then its accounting.

The per-sample work is `djlite.runner.SampleStage` itself, so the two executors cannot drift: the same ops in
the same order, one shared VideoContext per sample, the same kept / filtered / errored marks. A stage with an
op that loads a model (`uses_model = True`) runs in an actor pool, so the model loads once per actor; the whole
stage goes there, not only that op, because splitting it would decode each video twice. Other stages run as
Ray tasks. Both are retried by Ray when their worker process dies; a sample's own exception is not retried,
the stage records it.
"""

import uuid
import warnings
from dataclasses import dataclass

import datasets
import numpy as np
import pyarrow as pa

from djlite.executors.ray_blocks import MAX_ROWS_PER_BLOCK, rows_to_table
from djlite.fields import Fields
from djlite.runner import OpReport, SampleStage

# A sample that kills its worker every time (a decoder crash) would otherwise be retried forever.
WORKER_RETRIES = 3
_CACHED_STAGES = 8
_worker_stages: dict[str, SampleStage] = {}


def _stage_in_this_worker(key: str, stage: SampleStage) -> SampleStage:
    # Ray unpickles a task's arguments for every task. Keeping the first copy per worker process sets the ops up
    # once per process and keeps the error-log limit per process, as the local runner's workers do.
    if key not in _worker_stages:
        while len(_worker_stages) >= _CACHED_STAGES:
            _worker_stages.pop(next(iter(_worker_stages)))
        _worker_stages[key] = stage
    return _worker_stages[key]


def run_stage_on_batch(batch: pa.Table, stage: SampleStage, features: datasets.Features) -> pa.Table:
    return rows_to_table([stage(row) for row in batch.to_pylist()], features)


def stage_task(batch: pa.Table, key: str, stage: SampleStage, features: datasets.Features) -> pa.Table:
    return run_stage_on_batch(batch, _stage_in_this_worker(key, stage), features)


class StageActor:
    """A stage that owns its models for the actor's lifetime."""

    def __init__(self, stage: SampleStage, features: datasets.Features):
        self.stage = stage
        self.features = features

    def __call__(self, batch: pa.Table) -> pa.Table:
        return run_stage_on_batch(batch, self.stage, self.features)


def map_stage(ray, dataset, stage: SampleStage, features: datasets.Features, cpus: int):
    """The lazy Ray dataset of marked samples."""
    from ray.util.annotations import RayDeprecationWarning

    ops = [op for _, op in stage.steps]
    cpus_per_worker = max(float(op.cpu_required or 1) for op in ops)
    gpus = max(float(op.gpu_required or 0) for op in ops)
    limits = [op.num_proc for op in ops if op.num_proc and op.num_proc > 0]
    resources = {"num_cpus": cpus_per_worker, **({"num_gpus": gpus} if gpus > 0 else {})}
    # One batch per block (blocks are already small), so a stage late in the recipe, when few samples remain
    # in many blocks, still spreads over every worker. Ray wants an explicit batch size for GPU workers.
    batch_size = MAX_ROWS_PER_BLOCK if gpus > 0 else None
    with warnings.catch_warnings():
        # Retry limits are not among map_batches' named parameters yet; ray_remote_args still carry them.
        warnings.simplefilter("ignore", RayDeprecationWarning)
        if any(op.uses_model for op in ops):
            fits = cpus // cpus_per_worker
            if gpus > 0:
                fits = min(fits, ray.cluster_resources().get("GPU", 0) // gpus)
            size = min(limits) if limits else max(1, int(fits))
            return dataset.map_batches(
                StageActor,
                fn_constructor_args=(stage, features),
                batch_format="pyarrow",
                batch_size=batch_size,
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size),
                max_task_retries=WORKER_RETRIES,
                **resources,
            )
        return dataset.map_batches(
            stage_task,
            fn_kwargs={"key": uuid.uuid4().hex, "stage": stage, "features": features},
            batch_format="pyarrow",
            batch_size=batch_size,
            compute=ray.data.TaskPoolStrategy(size=min(limits)) if limits else None,
            max_retries=WORKER_RETRIES,
            **resources,
        )


@dataclass
class StageMarks:
    """The marks of one stage, added up over every block."""

    rows: int
    filtered: np.ndarray  # per step of the stage: samples it filtered out
    dropped_by_error: np.ndarray  # per step: samples dropped because it raised
    errors: np.ndarray  # per step: errors recorded (also those kept under on_error: keep)
    seconds: np.ndarray  # per step: seconds measured in the workers

    @classmethod
    def empty(cls, steps: int) -> "StageMarks":
        zeros = np.zeros(steps, np.int64)
        return cls(0, zeros.copy(), zeros.copy(), zeros.copy(), np.zeros(steps, np.float64))

    def add(self, other: "StageMarks") -> None:
        self.rows += other.rows
        self.filtered += other.filtered
        self.dropped_by_error += other.dropped_by_error
        self.errors += other.errors
        self.seconds += other.seconds

    def reports(self, steps, wall: float) -> list[OpReport]:
        """Per-op accounting, exactly as the local runner derives it from the same marks."""
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
    """The per-step counts of one block of marked samples."""
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


def count_blocks(blocks: list, steps: list[int]) -> StageMarks:
    import ray

    total = StageMarks.empty(len(steps))
    for block in blocks:
        total.add(count_marks(ray.get(block), steps))
    return total


def collect_marks(ray, marked, steps, cpus: int) -> StageMarks:
    """Add up the marks of a materialised stage where its blocks are, with at most `cpus` small tasks.

    They take no CPU: counting is instant, and it must not wait for the stage's actors to give their CPUs
    back (Ray releases an actor pool's CPUs seconds after its last batch).
    """
    step_ids = [step for step, _ in steps]
    blocks = marked.to_arrow_refs()
    groups = [blocks[i :: max(1, cpus)] for i in range(min(max(1, cpus), len(blocks)))]
    counter = ray.remote(count_blocks).options(num_cpus=0)
    total = StageMarks.empty(len(step_ids))
    for marks in ray.get([counter.remote(group, step_ids) for group in groups]):
        total.add(marks)
    return total
