"""The kinds of failure djlite distinguishes.

A RecipeError is the user's to fix before any data is read: the run stops with exit status 2 and a
one-line message. A SampleError belongs to one sample: the runner records it and carries on. An ExportError
comes after the work: the run's files could not be written; exit status 1 and a one-line message.
"""

import errno

WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG})
"""OSError numbers that mean a file cannot be written (a full or read-only disk, no permission, a quota or size
limit): the user's to fix, so the CLI says `cannot write <file>` in one line, and an export failure stays such
an OSError instead of becoming an ExportError."""


class RecipeError(Exception):
    """A recipe, parameter or dataset path that cannot work. The message is one line naming the value."""


class SampleError(Exception):
    """One sample cannot be processed (missing file, undecodable video, no video stream...)."""


class VideoError(SampleError):
    """A video file that cannot be opened or decoded."""


class OpBugError(RuntimeError):
    """An op failed in a way bad data does not explain (an AttributeError in its code, an undeclared stat).

    The run stops, with the traceback: turning a bug into one error record per sample would look like bad data.
    """


class ExportError(Exception):
    """Every op ran, but the run's files could not be written. The message is one line naming the export path and
    the cause; the cause's traceback goes to the log file. Earlier outputs stay as they were (djlite/output_set.py).
    """
