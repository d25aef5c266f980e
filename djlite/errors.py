"""The one taxonomy of djlite's failures: every exception class djlite defines is a `DjliteError`, and its
family's `action` says what happens when it reaches the runner or the CLI.

| action      | what happens                                                     | family      |
|-------------|------------------------------------------------------------------|-------------|
| RECIPE      | exit status 2, one line, before any data is read                 | RecipeError |
| SAMPLE      | recorded for that sample (errors file, per-op count); run goes on | SampleError |
| OP_BUG      | the run stops, with the traceback                                | OpBugError  |
| ENVIRONMENT | the run stops, one line, exit status 1                           | SetupError  |
| EXPORT      | exit status 1, one line; earlier outputs stay as they were       | ExportError |

The members of each family, where they live (tests/test_errors.py checks that this list is the whole of it):
- RecipeError: ExportPathBusyError and UnsafeJournalError (output_set), StatsFileError (analysis.stats_file),
  MissingDependencyError (analysis.plots);
- SampleError: VideoError (here), LineError (jsonl_lines), RecordError (formats.mediasequence),
  CorruptRecordError (formats.tfrecord), DecodeError (formats.example), Yt8mImportError and _BadRecord
  (formats.yt8m);
- OpBugError: OpDeclarationError (registry);
- SetupError: WorkerDiedError (executors.pool), OCRBackendError (ocr).

A class may keep the builtin base it had before the taxonomy (LineError is also a ValueError, OpBugError a
RuntimeError...), so that code catching the builtin still does; its action comes from its djlite family only.
A missing extra found when the recipe is built is a RecipeError (the fix, a pip install, comes before the run);
one found only once the run is going (an OCR backend's model file) is a SetupError.

Builtin exceptions. Third-party code raises its own types, which djlite wraps into the taxonomy where they
happen (djlite/video/ turns PyAV and OS errors about a video into a VideoError naming the file). Where an op's
own code, or a library inside it, raises a builtin, `action_of` maps it by this one table (BUILTIN_ACTIONS),
first match; "on a sample" is inside an op working on one sample (djlite/core/stage.py), "elsewhere" is the CLI:

| builtin                                  | on a sample | elsewhere   | why                                        |
|------------------------------------------|-------------|-------------|--------------------------------------------|
| OSError, errno in FULL_DISK_ERRNOS       | ENVIRONMENT | ENVIRONMENT | no later sample could be written either    |
| OSError, errno in WRITE_ERRNOS (others)  | SAMPLE      | ENVIRONMENT | on a sample: one file (no permission, too  |
|                                          |             |             | large); at the CLI: `cannot write X`       |
| OSError (any other), EOFError            | SAMPLE      | OP_BUG      | a file the sample names is missing, cut or |
|                                          |             |             | unreadable                                 |
| ValueError (UnicodeError too)            | SAMPLE      | OP_BUG      | a value of the sample that the op cannot   |
|                                          |             |             | use (djlite's own helpers raise ValueError)|
| an exception of the `av` or `cv2` module | SAMPLE      | OP_BUG      | the decoder or OpenCV rejecting the        |
|                                          |             |             | sample's bytes or pixels                   |
| anything else (AttributeError, TypeError,| OP_BUG      | OP_BUG      | bad data does not explain it               |
| KeyError, NameError, ImportError...)     |             |             |                                            |

Why the builtin rows stay: djlite/video/ already wraps what it reads (every video op, run on each file of the
shared bad-video set, fails with a VideoError or SampleError only), so these rows serve op code and the
libraries it calls on a sample's values and side files (embedding sidecars, label maps, OpenCV on frames);
dropping one would turn those sample errors into op bugs that stop the run.

OP_BUG inside an op: an OpBugError raised by djlite or the op itself stops the run wherever it comes; a builtin
mapped to OP_BUG stops it with an OpBugError when it happens before the op has handled any sample in
that worker; a later one is recorded like a sample error (a bug that shows only on rare input), and an op that
errored on every sample fails the run at the end (djlite/core/stage.py, djlite/api.py). On Ray, an error that
stops the run reaches the driver inside Ray's wrapper, with the traceback. A KeyboardInterrupt is no error: the
CLI stops with exit status 130.
"""

import enum
import errno


class Action(enum.Enum):
    """What a failure makes djlite do (the table above)."""

    RECIPE = "recipe"  # exit status 2 and one line, before any data is read
    SAMPLE = "sample"  # recorded for the sample (errors file); the run goes on
    OP_BUG = "op bug"  # the run stops, with the traceback
    ENVIRONMENT = "environment"  # the run stops, one line, exit status 1
    EXPORT = "export"  # exit status 1 and one line; earlier outputs unchanged


EXIT_STATUS = {Action.RECIPE: 2, Action.ENVIRONMENT: 1, Action.EXPORT: 1}
"""The CLI's exit status for the actions it answers with one line; the others reach it only as a traceback
(OP_BUG, and SAMPLE under `on_error: raise`)."""

FULL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
"""OSError numbers that mean nothing more can be written here (a full or read-only disk, a spent quota)."""

WRITE_ERRNOS = FULL_DISK_ERRNOS | {errno.EACCES, errno.EPERM, errno.EFBIG}
"""OSError numbers that mean a file cannot be written (also: no permission, a size limit): the user's to fix, so
the CLI says `cannot write <file>` in one line, and an export failure stays such an OSError instead of becoming
an ExportError."""


class DjliteError(Exception):
    """Every exception class djlite defines. `action` (set by each family) says what the runner and CLI do."""

    action: Action

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "action", None), Action):
            raise TypeError(f"{cls.__name__}: a DjliteError needs an action (djlite.errors.Action)")


class RecipeError(DjliteError):
    """A recipe, parameter or dataset path that cannot work. The message is one line naming the value."""

    action = Action.RECIPE


class SampleError(DjliteError):
    """One sample cannot be processed (missing file, undecodable video, no video stream...)."""

    action = Action.SAMPLE


class VideoError(SampleError):
    """A video file that cannot be opened or decoded."""


class OpBugError(DjliteError, RuntimeError):
    """An op failed in a way bad data does not explain (an AttributeError in its code, an undeclared stat).

    The run stops, with the traceback: turning a bug into one error record per sample would look like bad data.
    """

    action = Action.OP_BUG


class SetupError(DjliteError):
    """The machine cannot do the run: a package or model file missing once the run is going, workers that keep
    dying. Not the recipe's fault nor one sample's: the run stops with one line naming what to fix."""

    action = Action.ENVIRONMENT


class ExportError(DjliteError):
    """Every op ran, but the run's files could not be written. The message is one line naming the export path and
    the cause; the cause's traceback goes to the log file. Earlier outputs stay as they were (djlite/output_set.py).
    """

    action = Action.EXPORT


def _errno_in(numbers):
    return lambda e: isinstance(e, OSError) and e.errno in numbers


def _from_module(*modules):
    return lambda e: type(e).__module__.split(".")[0] in modules


# (matches, action inside an op on a sample, action anywhere else): the builtin table of the docstring.
BUILTIN_ACTIONS = (
    (_errno_in(FULL_DISK_ERRNOS), Action.ENVIRONMENT, Action.ENVIRONMENT),
    (_errno_in(WRITE_ERRNOS), Action.SAMPLE, Action.ENVIRONMENT),
    (lambda e: isinstance(e, (OSError, EOFError)), Action.SAMPLE, Action.OP_BUG),
    (lambda e: isinstance(e, ValueError), Action.SAMPLE, Action.OP_BUG),
    (_from_module("av", "cv2"), Action.SAMPLE, Action.OP_BUG),
)


def action_of(error: BaseException, on_sample: bool = False) -> Action:
    """What `error` makes djlite do: its family's action, or for a builtin the table above (`on_sample`: raised
    inside an op working on one sample)."""
    if isinstance(error, DjliteError):
        return error.action
    for matches, inside, elsewhere in BUILTIN_ACTIONS:
        if matches(error):
            return inside if on_sample else elsewhere
    return Action.OP_BUG
