"""One runner stage on Ray Data: the local runner's SampleStage mapped over batches, then its accounting.

The per-sample work is `djlite.core.stage.SampleStage` itself, so the two executors cannot drift: the same ops in
the same order, one shared VideoContext per sample, the same kept / filtered / errored marks. A stage with an
op that loads a model (`uses_model = True`) runs in an actor pool, so the model loads once per actor; the whole
stage goes there, not only that op, because splitting it would decode each video twice. Other stages run as
Ray tasks. Both are retried by Ray when their worker process dies; a sample's own exception is not retried,
the stage records it.
"""

import uuid
import warnings

import datasets
import pyarrow as pa

from djlite.core.accounting import MARK_COLUMNS, StageMarks, count_marks
from djlite.core.stage import SampleStage
from djlite.executors.ray.blocks import MAX_ROWS_PER_BLOCK, rows_to_table

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


def count_blocks(blocks: list, steps: list[int]) -> StageMarks:
    import ray

    total = StageMarks.empty(len(steps))
    for ref in blocks:
        block = ray.get(ref)  # an empty block may come without the dataset's columns
        total.add(count_marks(block.select(MARK_COLUMNS) if len(block) else block, steps))
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
