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
- Workers are started by a fork server, never forked from this (threaded) process, and die with it; they
  never see Ctrl-C (it reaches the whole process group; this process stops them), and every wait for them has
  a deadline: djlite/executors/processes.py. What a worker needs (rows, stage, environment) is pickled once and
  sent to each; its log messages come back here and go to this process's sinks.
- With a checkpoint folder the chunk files persist: a run started again finds the chunks already written and
  computes only the rest (djlite/executors/checkpoint.py names the folders).
"""

import math
import os
import signal
import threading
import traceback
from collections import deque

import datasets
from datasets.arrow_writer import ArrowWriter
from loguru import logger
from multiprocess.connection import wait
from multiprocess.reduction import ForkingPickler

from djlite import interrupt
from djlite.errors import OpBugError, SetupError
from djlite.executors.processes import end_processes, start_fork_server, watch_main_process
from djlite.fields import Fields
from djlite.files import create_exclusive

MAX_CHUNK_ROWS = 100
CHUNKS_PER_STAGE = 64
DEFAULT_RETRIES = 2
FAILED_STARTS = 3  # workers in a row that exit before loading the stage: a broken setup


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


def _forward_logs(send) -> None:
    """In a worker: every log message goes to the main process, which writes it to its own sinks (a worker
    started by the fork server has none of them: only loguru's default one)."""

    def sink(message):
        try:
            send(("log", message.record["level"].name, str(message).rstrip("\n")))
        except OSError:  # the main process is gone or stopping: loguru would print the error with a traceback
            pass

    logger.remove()
    logger.add(sink, level=0, format="{message}")


def _worker_main(conn, progress):
    try:
        _serve(conn, progress)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # The main process closed its end: it is stopping (Ctrl-C, an error) or gone. Nothing to say: a traceback
        # from a worker here was the one line of a Ctrl-C that landed while this worker was still starting.
        return


def _serve(conn, progress):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already blocked since the process was forked: see processes.py
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    watch_main_process()
    lock = threading.Lock()

    def send(message):
        with lock:
            conn.send(message)

    try:
        # The environment first: unpickling the stage imports op modules, which may read it.
        environ, cv_threads, work = ForkingPickler.loads(conn.recv_bytes())
        os.environ.clear()
        os.environ.update(environ)  # the main process's, now (the fork server's dates from its start)
        if cv_threads:
            import cv2

            cv2.setNumThreads(cv_threads)  # a fresh process: its OpenCV pool was never used
        dataset, stage, features, folder = ForkingPickler.loads(work)
    except EOFError:  # the main process stopped before sending the work
        return
    except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it
        error = OpBugError(f"a worker process could not load the stage: {type(e).__name__}: {e}")
        send(("error", None, error, traceback.format_exc()))
        return
    _forward_logs(send)
    stage.progress = progress
    send(("ready",))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        index, span, crashed = task
        try:
            write_chunk(dataset, stage, features, folder, index, span, crashed, progress)
        except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it (an op bug, on_error: raise)
            try:
                send(("error", index, e, traceback.format_exc()))
            except Exception:  # noqa: BLE001 - an exception that does not pickle goes as its text
                send(("error", index, RuntimeError(f"{type(e).__name__}: {e}"), traceback.format_exc()))
            return
        send(("done", index))


class _Worker:
    def __init__(self, ctx, payload: bytes):
        self.conn, child = ctx.Pipe()
        self.progress = ctx.RawArray("q", [-1, -1])  # row, step: where the worker is, read when it dies
        self.process = ctx.Process(target=_worker_main, args=(child, self.progress), name="djlite-worker", daemon=True)
        try:
            self.process.start()
        finally:
            child.close()
        self.task = None
        self.ready = False  # it loaded the stage
        try:
            self.conn.send_bytes(payload)
        except OSError:  # it died at once: found dead by the pool's next wait
            pass

    def send_task(self, task) -> bool:
        """False when the worker is gone (it died while idle)."""
        try:
            self.conn.send(task)
            return True
        except OSError:
            return False

    def receive(self):
        """The worker's next message but log lines (written here as they come) and "ready" (noted): ("done", i),
        ("error", i, exc, text), ("dead",) when it exited, or None while it is still working."""
        try:
            while self.conn.poll():
                message = self.conn.recv()
                if message[0] == "log":
                    logger.log(message[1], message[2])
                    continue
                if message[0] == "ready":
                    self.ready = True
                    continue
                return message
        except (EOFError, OSError):
            return ("dead",)
        return None if self.process.is_alive() else ("dead",)

    def ask_to_stop(self) -> None:
        """Idle: asked to exit; working: killed (its chunk's temporary file is removed by the pool)."""
        if self.task is None and self.send_task(None):
            return
        try:
            self.process.kill()
        except (OSError, ValueError):
            pass


def stop_workers(pool: list[_Worker], folder: str) -> None:
    """Every worker gone, within a bounded time, and no half-written chunk left behind."""
    for worker in pool:
        worker.ask_to_stop()
    end_processes([worker.process for worker in pool])
    for worker in pool:
        worker.conn.close()
    remove_partial_chunks(folder)


def remove_partial_chunks(folder: str) -> None:
    for name in os.listdir(folder):
        if name.startswith(".chunk-") and name.endswith(".tmp"):
            try:
                os.remove(os.path.join(folder, name))
            except FileNotFoundError:
                pass


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
    remove_partial_chunks(folder)  # a chunk being written when an earlier run was killed (under the export lock)
    spans = chunk_ranges(len(dataset), chunk_rows)
    todo = deque(i for i in range(len(spans)) if not os.path.exists(chunk_path(folder, i)))
    info = {"chunks": len(spans), "reused": len(spans) - len(todo), "computed": 0, "retried": 0, "crashed_rows": 0}
    if info["reused"]:
        logger.info(f"{desc}: {info['reused']} of {len(spans)} chunks already done (checkpoint); computing the rest")
    bar = datasets.utils.tqdm(
        total=len(dataset),
        initial=len(dataset) - sum(spans[i][1] - spans[i][0] for i in todo),  # the reused chunks' rows
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


def worker_payload(dataset, stage, features, folder: str, workers: int) -> bytes:
    """What every worker of the stage gets, pickled once: this process's environment, OpenCV's thread share,
    then the rows, the stage, the features and the chunk folder."""
    try:
        work = bytes(ForkingPickler.dumps((dataset, stage, features, folder)))
    except Exception as e:  # noqa: BLE001 - an op holding a lock, an open file, a model...
        raise OpBugError(
            f"{desc_of(stage)}: the stage cannot be sent to worker processes ({type(e).__name__}: {e}); an op's "
            f"attributes must pickle: make models and open files in setup()"
        ) from e
    # OpenCV's pool (Farneback, resize) split between the workers instead of oversubscribing the CPUs.
    cv_threads = max(1, (os.cpu_count() or 1) // workers)
    return bytes(ForkingPickler.dumps((dict(os.environ), cv_threads, work)))


def server_modules(ops) -> list[str]:
    """What the fork server imports once for every worker: the modules of every registered op (a recipe
    loaded them all) and of `ops`."""
    from djlite.registry import OPERATORS

    return sorted({cls.__module__ for cls in OPERATORS.values()} | {type(op).__module__ for op in ops})


def _run_pool(dataset, stage, features, folder, workers, spans, todo, retries, info, bar):
    ctx = start_fork_server(server_modules([op for _, op in stage.steps]))
    payload = worker_payload(dataset, stage, features, folder, workers)
    crashes: dict[int, int] = {}
    crashed: dict[int, tuple[int, str]] = {}  # row -> (step, message): isolated as error records
    max_deaths = (retries + 1) * max(4, workers)
    deaths_in_a_row = 0
    failed_starts = 0
    pool: list[_Worker] = []

    def replace(pos: int, worker: _Worker) -> None:
        """A fresh worker in the place of one that exited; one that exited before it had loaded the stage is
        a broken setup, not a bad sample: a few of those in a row stop the run."""
        nonlocal failed_starts
        end_processes([worker.process])  # it exited, or is made to
        worker.conn.close()
        if worker.task is not None and not worker.ready:
            todo.appendleft(worker.task)  # no row of it was started
        failed_starts = 0 if worker.ready else failed_starts + 1
        if failed_starts >= FAILED_STARTS:
            raise WorkerDiedError(
                f"{desc_of(stage)}: {failed_starts} worker processes in a row exited while starting "
                f"({_death_cause(worker.process.exitcode)}), before loading the stage: see the error above; a script "
                f'that runs djlite with np > 1 must do it under `if __name__ == "__main__":`'
            )
        pool[pos] = _Worker(ctx, payload)

    try:
        for _ in range(min(workers, len(todo))):
            pool.append(_Worker(ctx, payload))
        while todo or any(w.task is not None for w in pool):
            interrupt.check()
            for pos, worker in enumerate(pool):
                if worker.task is None and todo:
                    index = todo.popleft()
                    start, stop = spans[index]
                    mine = {row: v for row, v in crashed.items() if start <= row < stop}
                    worker.progress[0], worker.progress[1] = start, -1
                    if not worker.send_task((index, spans[index], mine)):  # it exited while idle: not the row's fault
                        todo.appendleft(index)
                        replace(pos, worker)
                        continue
                    worker.task = index
            busy = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for pos, worker in enumerate(pool):
                if worker.task is None or (worker.conn not in ready and worker.process.sentinel not in ready):
                    continue
                message = worker.receive()
                if message is None:  # log lines only: still working
                    continue
                if message[0] == "done":
                    start, stop = spans[worker.task]
                    worker.task = None
                    info["computed"] += 1
                    deaths_in_a_row = 0
                    bar.update(stop - start)
                    continue
                if message[0] == "error":
                    _, _, error, text = message
                    logger.debug(f"worker traceback:\n{text}")
                    raise error
                if not worker.ready:
                    replace(pos, worker)
                    continue
                end_processes([worker.process])
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
                todo.appendleft(index)
                worker.task = None
                replace(pos, worker)
    finally:
        stop_workers(pool, folder)


def desc_of(stage) -> str:
    return getattr(stage, "label", "stage")
