"""A Ctrl-C that no library can lose.

dj-process's SIGINT handler (djlite/cli/logging.py) raises KeyboardInterrupt wherever the main thread is, and
library code may lose it: when it lands while PyAV builds the end-of-file error that ends `container.demux()`,
PyAV raises that error instead and catches it, and the run went on to the end (one run in about a hundred
interrupted at random moments). So the handler also records the request, and the run's loops check it
between samples, chunks and export batches: an interrupt that was lost is raised again there.

Once a run's outputs are committed (`finish`), a stop signal no longer interrupts it: the run is complete,
and what is left (its last log lines, exiting) goes on to exit status 0.
"""

_requested = False
_finished = False


def request() -> None:
    global _requested
    _requested = True


def requested() -> bool:
    return _requested


def finish() -> None:
    """The run's outputs are committed: from now on a stop signal is not an interruption."""
    global _finished
    _finished = True


def finished() -> bool:
    return _finished


def clear() -> None:
    global _requested, _finished
    _requested = _finished = False


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C (or SIGTERM) came: the first one may have been lost on its way."""
    if _requested:
        raise KeyboardInterrupt
