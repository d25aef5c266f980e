"""Console and file sinks: the only place djlite configures logging."""

import os
import signal
import sys
import time

from djlite.errors import EXIT_STATUS, Action, action_of


def configure_logging(work_dir: str | None, command: str, verbose: bool = False) -> str | None:
    from loguru import logger  # imported here: `--help` and `--version` never need it

    logger.remove()
    logger.add(
        sys.stderr,
        level="DEBUG" if verbose else "INFO",
        format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}",
    )
    if not work_dir:
        return None
    log_dir = os.path.join(work_dir, "log")
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, f"{command}_{time.strftime('%Y%m%d%H%M%S')}.txt")
    logger.add(path, level="DEBUG", enqueue=False)
    return path


# What stops a dj-process run as Ctrl-C does: SIGTERM (kill, a job scheduler), SIGHUP (a closed terminal or ssh
# session). Exit 130, no process, lock or temporary left.
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def run_command(command: str, body, argv: list[str], stop_signals=("SIGINT",)) -> int:
    """Run a CLI body with djlite's exit statuses and one-line messages for the failures a user can act on.

    By the taxonomy (djlite/errors.py): 2, a RecipeError (bad recipe, nothing read). 1, a SetupError (the
    machine: workers that keep dying, an OCR backend that will not load), a file that cannot be written (a full
    or read-only disk: an OSError by the errors table) or an ExportError (old outputs stay as they were).
    130: Ctrl-C (or another of `stop_signals`); files being written are left unfinished under temporary names
    that are removed, so no output looks complete when it is not. An op bug (and a sample error under
    `on_error: raise`) keeps its traceback.
    """
    from djlite import interrupt

    if not {"-h", "--help", "--version"} & set(argv):
        configure_logging(None, command)

    def on_stop(signum, frame):
        # Workers never see Ctrl-C (djlite/executors/processes.py): this process stops them, so there is one
        # message. Raised once, whichever signal: a second one during the unwinding (bounded: stopping workers,
        # removing temporaries and the export lock) would cut it short and leave those behind. Recorded too: the
        # run's loops raise it again if a library lost this one (djlite/interrupt.py).
        if interrupt.requested() or interrupt.finished():  # finished: the outputs are committed, the run is done
            return
        interrupt.request()
        raise KeyboardInterrupt

    previous = {}
    for name in stop_signals:
        signum = getattr(signal, name, None)
        if signum is None or (name == "SIGHUP" and signal.getsignal(signum) is signal.SIG_IGN):  # nohup keeps its
            continue
        previous[signum] = signal.signal(signum, on_stop)
    try:
        return body(argv)
    except BaseException as e:
        action = action_of(e)
        if action in (Action.RECIPE, Action.EXPORT):
            print(f"{command}: error: {e}", file=sys.stderr)
            return EXIT_STATUS[action]
        # Interrupted: whatever the unwinding raised on top (a pool's TimeoutError...), the answer is one line.
        if not (interrupt.requested() or isinstance(e, KeyboardInterrupt)):
            if isinstance(e, BrokenPipeError):  # `dj-process --help-op X | head`: the reader left, not an error
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
            if action is Action.ENVIRONMENT:
                if isinstance(e, OSError):
                    return _write_error(command, e)
                print(f"{command}: error: {e}", file=sys.stderr)
                return EXIT_STATUS[action]
            raise  # OP_BUG (and SAMPLE under on_error: raise): the traceback
        print(f"{command}: interrupted; no output of this run was completed", file=sys.stderr)
        # Run as `python -m`, CPython exits by killing itself with SIGINT (status -2, not 130) when the
        # KeyboardInterrupt came out of exec() of a string (code that dataclasses and namedtuple generate at
        # import, where a Ctrl-C during start-up lands), caught or not; evaluating a string resets that.
        exec("pass")
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        interrupt.clear()


def _write_error(command: str, e: OSError) -> int:
    target = f" {e.filename}" if e.filename else ""
    print(f"{command}: error: cannot write{target}: {e.strerror}; earlier outputs are unchanged", file=sys.stderr)
    return 1
