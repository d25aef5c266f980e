"""A Ctrl-C that no library can lose.

dj-process's SIGINT handler (djlite/cli/logging.py) raises KeyboardInterrupt wherever the main thread is, and
library code may lose it: when it lands while PyAV builds the end-of-file error that ends `container.demux()`,
PyAV raises that error instead and catches it, and the run went on to the end (one run in about a hundred
interrupted at random moments). So the handler also records the request, and the run's loops check it
between samples, chunks and export batches: an interrupt that was lost is raised again there.
"""

_requested = False


def request() -> None:
    global _requested
    _requested = True


def requested() -> bool:
    return _requested


def clear() -> None:
    global _requested
    _requested = False


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C (or SIGTERM) came: the first one may have been lost on its way."""
    if _requested:
        raise KeyboardInterrupt
