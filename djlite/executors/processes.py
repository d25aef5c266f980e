"""Worker processes that start safely and stop within a bounded time.

Why not fork: forking a process that runs threads (tqdm's monitor, loguru, onnxruntime's pools, whatever an
op or a notebook started) copies the locks those threads hold at that instant, with no thread left to release
them. The child can then block forever on its first log line or allocation, and a parent that waits for it
without a timeout waits forever too (a Ctrl-C'd run hung 33-48 minutes that way, holding the export lock).

- Workers come from a fork server (`multiprocess`'s forkserver: its dill pickles more than pickle does): a
  fresh interpreter started with exec, which imports djlite's modules once (`start_fork_server`) and then
  only forks. It runs no Python thread and no op code. The only other threads in it are the native pools that
  importing numpy/OpenCV/pyarrow starts, and those libraries make fork safe themselves (OpenBLAS stops its pool
  in a pthread_atfork handler; jemalloc takes its locks around fork). A worker starts in milliseconds with
  djlite imported, as a copy of a process that never held a lock it could not give back.
- SIGINT is blocked from birth: the server (and multiprocess's resource tracker) are started with it blocked,
  and every process forked from them inherits the mask, so the Ctrl-C that a terminal sends to the whole
  process group never raises in a worker, not even while it is still starting. The main process stops them.
- A worker kills itself when the main process is gone (kill -9 included): `watch_main_process` waits on the
  pipe whose other end only the main process holds.
- `end_processes` never waits without a deadline: join, then terminate, then kill, then give up with a warning.
  At exit the fork server and the resource tracker (children of this process) are ended and reaped the same
  way, so that no process of a run outlives it.

Spawn/forkserver workers do not inherit the main process's memory: what a worker needs is sent to it, pickled
(ops are cheap and picklable by contract; heavy objects are made in `setup()`). A script that calls djlite
with np > 1 is re-imported in each worker as `__mp_main__`, as for any multiprocessing program: keep its run
under `if __name__ == "__main__":`.
"""

import atexit
import os
import signal
import threading
import time
from contextlib import contextmanager

import multiprocess
from loguru import logger
from multiprocess.connection import wait

# Imported by the server so that workers start with them loaded: the pool and the stage machinery.
SERVER_MODULES = ("djlite.executors.pool", "djlite.core.stage")
START_METHOD = "forkserver"
TERMINATE_SECONDS = 2.0
KILL_SECONDS = 2.0

_preload: set[str] = set()
_server_lock = threading.Lock()
_stop_registered = False


@contextmanager
def sigint_blocked():
    """SIGINT blocked in this thread, hence in processes started from it (the mask survives fork and exec).
    A Ctrl-C arriving meanwhile is delivered when the block ends (or at once to another thread)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start_fork_server(modules=()):
    """The worker context, its fork server running (started once per process; later calls only check it).

    `modules` (the ops' modules) are imported by the server along with SERVER_MODULES. Call it early: the
    server imports in the background while this process goes on, and the first worker waits only for what is
    left of that."""
    from multiprocess import forkserver, resource_tracker

    global _stop_registered
    context = multiprocess.get_context(START_METHOD)
    with _server_lock:
        if not _stop_registered:
            atexit.register(stop_fork_server)
            _stop_registered = True
        _preload.update(SERVER_MODULES)
        _preload.update(m for m in modules if m and m != "__main__")
        context.set_forkserver_preload(sorted(_preload))  # used when the server (re)starts
        # The resource tracker blocks SIGINT around its own start and then unblocks it: started first, so that
        # its unblocking cannot come between the block below and the server's start.
        resource_tracker.ensure_running()
        with sigint_blocked():
            forkserver.ensure_running()
    return context


def watch_main_process() -> None:
    """In a worker: SIGKILL this process as soon as the main process is gone (its end of our pipe closed)."""
    sentinel = multiprocess.parent_process().sentinel

    def watch():
        wait([sentinel])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="djlite-main-watchdog", daemon=True).start()


def _wait_dead(processes, deadline: float) -> list:
    """Those of `processes` still alive at `deadline` (or sooner, once all are dead)."""
    alive = [p for p in processes if p.is_alive()]
    while alive:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait([p.sentinel for p in alive], timeout=min(left, 0.5))
        alive = [p for p in alive if p.is_alive()]
    return alive


def end_processes(processes, grace: float = 5.0) -> None:
    """Wait for `processes` to exit (they were asked to, or killed) for at most `grace` seconds in all; then
    SIGTERM, then SIGKILL the rest, a bounded wait after each. Never hangs: a process that survives SIGKILL
    (stuck in the kernel) is reported and forgotten, so that no exit handler waits for it either."""
    alive = _wait_dead(list(processes), time.monotonic() + grace)
    for send, seconds in (("terminate", TERMINATE_SECONDS), ("kill", KILL_SECONDS)):
        if not alive:
            return
        for process in alive:
            try:
                getattr(process, send)()
            except (OSError, ValueError):  # gone meanwhile, or already closed
                pass
        alive = _wait_dead(alive, time.monotonic() + seconds)
    for process in alive:
        logger.warning(f"worker pid {process.pid} did not exit after SIGKILL; leaving it")
        # multiprocess's exit handler joins every child it knows of, without a timeout: not this one.
        multiprocess.process._children.discard(process)


def _reaped(pid: int, seconds: float) -> bool:
    """Whether the child `pid` exited (and is reaped now) within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return True
        except ChildProcessError:  # not ours, or reaped already
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _end_child(pid: int, close_fd: int | None) -> None:
    """Close our end of the helper's pipe (it exits on EOF), then SIGTERM, then SIGKILL: a bounded wait each."""
    if close_fd is not None:
        try:
            os.close(close_fd)
        except OSError:
            pass
        if _reaped(pid, TERMINATE_SECONDS):
            return
    for sig, seconds in ((signal.SIGTERM, TERMINATE_SECONDS), (signal.SIGKILL, KILL_SECONDS)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            _reaped(pid, 0)
            return
        if _reaped(pid, seconds):
            return
    logger.warning(f"helper process pid {pid} did not exit after SIGKILL; leaving it")


def stop_fork_server() -> None:
    """End the fork server and the resource tracker (run at exit; the workers are gone by then). multiprocess
    leaves them to exit by themselves once this process is gone, and reaps nothing: a run would end with
    them still there (zombies where nothing reaps orphans). The server is idle and holds nothing: SIGTERM."""
    from multiprocess import forkserver, resource_tracker

    with _server_lock:
        server = forkserver._forkserver
        pid = getattr(server, "_forkserver_pid", None)
        if pid:
            _end_child(pid, None)
            alive_fd = getattr(server, "_forkserver_alive_fd", None)
            if alive_fd is not None:
                try:
                    os.close(alive_fd)
                except OSError:
                    pass
            server._forkserver_pid = server._forkserver_alive_fd = server._forkserver_address = None
        tracker = resource_tracker._resource_tracker
        pid, fd = getattr(tracker, "_pid", None), getattr(tracker, "_fd", None)
        if pid and fd is not None:
            tracker._pid = tracker._fd = None
            _end_child(pid, fd)  # it exits on EOF, after releasing anything still registered
