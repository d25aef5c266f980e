"""A stage's rows in chunks, each written to its own Arrow file by a pool of worker processes the executor owns.

Why not `Dataset.map(num_proc=...)`: when one of its workers dies (the OOM killer, a decoder that segfaults)
the whole run stops with "One of the subprocesses has abruptly died", and its workers outlive a killed parent.
Here:

- The rows are cut into chunks of `chunk_rows`; a worker writes a chunk to `chunk-NNNNNN.arrow` under a
  temporary name and renames it when complete, so a chunk file on disk is always whole. The stage's output is
  the chunk files concatenated in order: the same rows, in the same order, as one `map` would give.
- Each worker publishes the row and step it is working on in shared memory. When a worker dies, the row it
  was on is charged with the crash and its chunk goes back in the queue (a fresh worker takes it). A row that
  crashed its worker more than `retries` times becomes an error record `worker died while processing` at the
  step it was in, and its chunk is redone without it: the run goes on.
- Workers die with their parent: PR_SET_PDEATHSIG on Linux, plus a watchdog thread that notices a new parent
  pid elsewhere. They ignore SIGINT (Ctrl-C reaches the whole process group; the parent stops them).
- With a checkpoint folder the chunk files persist: a run started again finds the chunks already written and
  computes only the rest (djlite/executors/checkpoint.py names the folders).
"""

import ctypes
import math
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import deque
from multiprocessing.connection import wait

import datasets
from datasets.arrow_writer import ArrowWriter
from loguru import logger

from djlite.errors import SetupError
from djlite.fields import Fields
from djlite.files import create_exclusive

MAX_CHUNK_ROWS = 100
CHUNKS_PER_STAGE = 64
DEFAULT_RETRIES = 2
PR_SET_PDEATHSIG = 1


class WorkerDiedError(SetupError, RuntimeError):
    """Workers kept dying without finishing any chunk: not one bad sample but a broken environment."""


def default_chunk_rows(rows: int) -> int:
    """About 64 chunks per stage, at most 100 rows each: small enough that a kill loses little work, large
    enough that per-chunk overhead (a file, a message) stays negligible next to decoding videos."""
    return max(1, min(MAX_CHUNK_ROWS, math.ceil(rows / CHUNKS_PER_STAGE)))


def chunk_ranges(rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_rows, rows)) for start in range(0, rows, chunk_rows)]


def chunk_path(folder: str, index: int) -> str:
    return os.path.join(folder, f"chunk-{index:06d}.arrow")


def crashed_sample(stage, sample: dict, step: int, message: str) -> dict:
    """The marks a sample gets when it crashed its worker every time: an error at the step it was in."""
    op = dict(stage.steps)[step]
    sample = dict(sample)
    for column in stage.columns:
        sample.setdefault(column, None)
    sample[Fields.errors] = list(sample.get(Fields.errors) or []) + [{"op": op.name, "step": step, "error": message}]
    keep = stage.on_error == "keep"
    sample[Fields.dropped_by] = -1 if keep else step
    sample[Fields.drop_kind] = "" if keep else "error"
    sample[Fields.op_seconds] = [0.0] * len(stage.steps)
    sample[Fields.rows_in] = 1  # the input sample itself, not a clip
    sample[Fields.created_by] = -1
    return sample


def write_chunk(dataset, stage, features, folder: str, index: int, span, crashed=None, progress=None) -> str:
    """Run the stage over rows [start, stop) and write them to the chunk's file, atomically."""
    start, stop = span
    crashed = crashed or {}
    tmp = create_exclusive(folder, f".chunk-{index:06d}-", ".tmp")
    try:
        writer = ArrowWriter(features=features, path=tmp)
        try:
            for row, sample in enumerate(dataset.select(range(start, stop)), start):
                if progress is not None:
                    progress[0], progress[1] = row, stage.steps[0][0]
                if row in crashed:
                    rows = [crashed_sample(stage, sample, *crashed[row])]
                else:
                    rows = stage.rows(sample)  # more than one where the stage ends in a one-to-many mapper
                for out in rows:
                    writer.write(out)
            writer.finalize()
        finally:
            writer.close()
        final = chunk_path(folder, index)
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker die when the process that started it does (kill -9 included)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the watchdog below still does it, within a second
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="djlite-parent-watchdog", daemon=True).start()


def _worker_main(conn, progress, parent_pid, dataset, stage, features, folder):
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stage.progress = progress
    while True:
        task = conn.recv()
        if task is None:
            return
        index, span, crashed = task
        try:
            write_chunk(dataset, stage, features, folder, index, span, crashed, progress)
        except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it (an op bug, on_error: raise)
            try:
                conn.send(("error", index, e, traceback.format_exc()))
            except Exception:  # noqa: BLE001 - an exception that does not pickle goes as its text
                conn.send(("error", index, RuntimeError(f"{type(e).__name__}: {e}"), traceback.format_exc()))
            return
        conn.send(("done", index))


class _Worker:
    def __init__(self, ctx, dataset, stage, features, folder):
        self.conn, child = ctx.Pipe()
        self.progress = ctx.RawArray("q", [-1, -1])  # row, step: where the worker is, read when it dies
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, self.progress, os.getpid(), dataset, stage, features, folder),
            name="djlite-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.task = None

    def stop(self, kill: bool = False):
        if self.process.is_alive():
            if kill:
                self.process.kill()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _death_cause(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"


def run_chunks(
    dataset,
    stage,
    features,
    folder: str,
    workers: int,
    chunk_rows: int,
    desc: str = "",
    retries: int = DEFAULT_RETRIES,
) -> tuple[datasets.Dataset, dict]:
    """The stage over every row of `dataset`, as the concatenation of its chunk files; plus what was done:
    {"chunks", "reused", "computed", "retried", "crashed_rows"}."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # a chunk being written when an earlier run was killed (under the export lock)
        if name.startswith(".chunk-") and name.endswith(".tmp"):
            os.remove(os.path.join(folder, name))
    spans = chunk_ranges(len(dataset), chunk_rows)
    todo = deque(i for i in range(len(spans)) if not os.path.exists(chunk_path(folder, i)))
    info = {"chunks": len(spans), "reused": len(spans) - len(todo), "computed": 0, "retried": 0, "crashed_rows": 0}
    if info["reused"]:
        logger.info(f"{desc}: {info['reused']} of {len(spans)} chunks already done (checkpoint); computing the rest")
    bar = datasets.utils.tqdm(
        total=len(dataset),
        initial=sum(spans[i][1] - spans[i][0] for i in range(len(spans)) if i not in set(todo)),
        desc=desc,
        unit=" examples",
    )
    try:
        if workers <= 1:
            for index in todo:
                write_chunk(dataset, stage, features, folder, index, spans[index])
                info["computed"] += 1
                bar.update(spans[index][1] - spans[index][0])
        else:
            _run_pool(dataset, stage, features, folder, workers, spans, todo, retries, info, bar)
    finally:
        bar.close()
    files = [chunk_path(folder, i) for i in range(len(spans))]
    return datasets.concatenate_datasets([datasets.Dataset.from_file(f) for f in files]), info


def _run_pool(dataset, stage, features, folder, workers, spans, todo, retries, info, bar):
    ctx = multiprocessing.get_context("fork")
    crashes: dict[int, int] = {}
    crashed: dict[int, tuple[int, str]] = {}  # row -> (step, message): isolated as error records
    max_deaths = (retries + 1) * max(4, workers)
    deaths_in_a_row = 0
    pool = [_Worker(ctx, dataset, stage, features, folder) for _ in range(min(workers, len(todo)))]
    try:
        while todo or any(w.task is not None for w in pool):
            for worker in pool:
                if worker.task is None and todo:
                    index = todo.popleft()
                    start, stop = spans[index]
                    mine = {row: v for row, v in crashed.items() if start <= row < stop}
                    worker.progress[0], worker.progress[1] = start, -1
                    worker.conn.send((index, spans[index], mine))
                    worker.task = index
            busy = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for pos, worker in enumerate(pool):
                if worker.task is None or (worker.conn not in ready and worker.process.sentinel not in ready):
                    continue
                message = None
                try:
                    if worker.conn.poll():
                        message = worker.conn.recv()
                except (EOFError, OSError):
                    message = None
                if message is not None and message[0] == "done":
                    start, stop = spans[worker.task]
                    worker.task = None
                    info["computed"] += 1
                    deaths_in_a_row = 0
                    bar.update(stop - start)
                    continue
                if message is not None and message[0] == "error":
                    _, _, error, text = message
                    logger.debug(f"worker traceback:\n{text}")
                    raise error
                worker.process.join(timeout=5)
                if worker.process.is_alive():  # pipe closed without the process exiting: treat as dead
                    worker.process.kill()
                    worker.process.join()
                deaths_in_a_row += 1
                index, cause = worker.task, _death_cause(worker.process.exitcode)
                row, step = int(worker.progress[0]), int(worker.progress[1])
                if step < 0:
                    step = stage.steps[0][0]
                if deaths_in_a_row > max_deaths:
                    raise WorkerDiedError(
                        f"{desc_of(stage)}: workers died {deaths_in_a_row} times in a row without finishing a chunk "
                        f"(last: {cause}); not a bad sample but a broken setup: see the log"
                    )
                crashes[row] = crashes.get(row, 0) + 1
                videos = (dataset[row].get(dict(stage.steps)[step].video_key) or [])[:3]
                if crashes[row] > retries:
                    crashed[row] = (step, f"WorkerDied: worker died while processing ({cause})")
                    info["crashed_rows"] += 1
                    logger.warning(
                        f"row {row} (videos: {videos}) crashed its worker {crashes[row]} times ({cause}); "
                        f"it becomes an error record and the run goes on"
                    )
                else:
                    logger.warning(
                        f"worker pid {worker.process.pid} died ({cause}) on row {row} (videos: {videos}); "
                        f"retrying chunk {index} ({crashes[row]} of {retries} retries)"
                    )
                info["retried"] += 1
                worker.conn.close()
                todo.appendleft(index)
                pool[pos] = _Worker(ctx, dataset, stage, features, folder)
    finally:
        for worker in pool:
            worker.stop(kill=worker.task is not None)


def desc_of(stage) -> str:
    return getattr(stage, "label", "stage")
