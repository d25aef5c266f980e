"""A run's output files as one set: exclusive temporaries, one commit for all of them, a lock on the export path.

- Temporaries come from djlite/files.py: created exclusively, never through a link, with the user's umask,
  named `.<name>.tmp-djlite-<pid>-<random>`.
- Inside `output_set(...)`, `atomic_path` (djlite/files.py) defers each rename: the files are all written
  first, then a journal listing every rename (and the files of the previous set that the new set replaces,
  such as surplus shards) is written atomically, then the renames are done and the journal is removed. A
  run killed before the journal exists leaves the old set whole; killed after, the next run on the export
  path finishes the renames before it starts (`recover`). Either way a reader never sees a mixed set once
  the next run has begun, and never a half-written file.
- `export_lock` takes an exclusive flock on `.<export name>.lock` beside the export path for the whole run:
  a second run on the same path refuses at once with one line instead of interleaving its files.
- Which files belong to the set is RunPaths' answer (`RunPaths.owns`, djlite/run_paths.py): the files it names
  for the run. Each function takes the run's RunPaths, or an export path (its RunPaths with the defaults).
"""

import errno
import fcntl
import json
import os
from contextlib import contextmanager

from loguru import logger

from djlite.errors import RecipeError
from djlite.files import TMP_MARK, deferring_commits, replace_with_bytes
from djlite.run_paths import RunPaths


class ExportPathBusyError(RecipeError):
    """Another run holds the export path's lock."""


class OutputSet:
    """Renames deferred until every file of the set is written; see the module docstring."""

    def __init__(self, journal: str, members=None):
        self.journal = journal
        self.members = members or (lambda path: True)  # which final paths belong to the set
        self.renames: list[tuple[str, str]] = []
        self.removals: list[str] = []

    def add(self, tmp: str, final: str) -> None:
        self.renames = [(t, f) for t, f in self.renames if f != final]
        self.renames.append((tmp, final))

    def replace_previous(self, paths) -> None:
        """Files of the previous set that the new set does not rewrite and must not outlive it."""
        finals = {f for _, f in self.renames}
        self.removals = sorted(p for p in paths if p not in finals and os.path.exists(p))

    def commit(self) -> None:
        plan = json.dumps({"renames": self.renames, "removals": self.removals})
        replace_with_bytes(self.journal, plan.encode("utf-8"), durable=True)
        _apply_journal(self.journal, self.members)

    def discard(self) -> None:
        for tmp, _ in self.renames:
            if os.path.exists(tmp):
                os.remove(tmp)
        self.renames = []


class UnsafeJournalError(RecipeError):
    """A commit journal names a file that is not this run's own output or temporary: nothing of it is done."""


def check_journal(journal: str, plan, members) -> list[tuple[str, str]]:
    """The journal's renames and removals, if every one names this run's own files: a rename from a temporary
    (a hidden file with djlite's mark, in its output's folder) to one of the run's outputs, a removal of one of
    its outputs. A journal is only ever written by djlite, so anything else was planted: refused whole."""

    def refuse(what) -> UnsafeJournalError:
        return UnsafeJournalError(
            f"{journal}: refusing the commit journal, it names {what}, which is not an output of this run "
            "(djlite never writes that); delete the journal if you did not put it there"
        )

    if not isinstance(plan, dict) or not isinstance(plan.get("renames"), list):
        raise refuse("no list of renames")
    renames, removals = [], plan.get("removals", [])
    for entry in plan["renames"]:
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(p, str) for p in entry)):
            raise refuse(repr(entry)[:200])
        tmp, final = (os.path.abspath(p) for p in entry)
        if not members(final):
            raise refuse(final)
        folder = os.path.dirname(final)
        tmp_folder, tmp_name = os.path.split(tmp)
        if tmp_folder != folder or not (tmp_name.startswith(".") and TMP_MARK in tmp_name):
            raise refuse(tmp)
        renames.append((tmp, final))
    if not isinstance(removals, list):
        raise refuse("no list of removals")
    for path in removals:
        if not isinstance(path, str) or not members(os.path.abspath(path)):
            raise refuse(repr(path)[:200])
    return renames + [(None, os.path.abspath(p)) for p in removals]


def _apply_journal(journal: str, members) -> None:
    with open(journal, encoding="utf-8") as f:
        plan = json.load(f)
    steps = check_journal(journal, plan, members)  # before any of it is done
    for tmp, final in steps:
        if tmp is None:
            if os.path.lexists(final):
                os.remove(final)
        elif os.path.exists(tmp):
            os.replace(tmp, final)
    os.remove(journal)


def run_paths(paths: RunPaths | str) -> RunPaths:
    return paths if isinstance(paths, RunPaths) else RunPaths(paths)


def journal_path(paths: RunPaths | str) -> str:
    return run_paths(paths).journal


def recover(paths: RunPaths | str) -> None:
    """Finish the commit of a run killed in the middle of it (under the export lock)."""
    paths = run_paths(paths)
    journal = paths.journal
    if os.path.exists(journal):
        try:
            _apply_journal(journal, paths.owns)
            logger.info("finished committing the outputs of an earlier run that was killed while renaming them")
        except (OSError, ValueError, KeyError) as e:
            # The journal itself is written atomically, so this is a manual edit or a vanished temporary.
            logger.warning(f"could not finish the earlier run's commit ({e}); removing its journal {journal}")
            os.remove(journal)


@contextmanager
def output_set(paths: RunPaths | str, previous=()):
    """Every `atomic_path` of the run's outputs inside the block is committed together when the block completes;
    `previous` (files of an earlier set, `RunPaths.previous`) not rewritten by then are removed with the commit."""
    paths = run_paths(paths)
    outputs = OutputSet(paths.journal, paths.owns)
    try:
        with deferring_commits(outputs):
            yield outputs
            outputs.replace_previous(previous)
            outputs.commit()
    finally:
        outputs.discard()


@contextmanager
def export_lock(paths: RunPaths | str):
    """Hold `.<export name>.lock` for the run; a second run on the same export path refuses with one line.

    The lock file is removed when the run ends (nothing is left beside the outputs). Removing a lock file is
    safe only with the check below: a run that locked a file which the holder then removed sees that the path
    no longer names its file, and tries again on the new one.
    """
    paths = run_paths(paths)
    os.makedirs(paths.folder, exist_ok=True)
    path = paths.lock
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise RecipeError(f"export lock {path} is a symlink; remove it") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ExportPathBusyError(
                f"export_path {paths.export_path} is in use by another run (pid {holder}); wait for it to finish "
                f"or choose another export_path"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file we locked: lock the current one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        try:
            os.unlink(path)  # still holding the lock, so no other run holds this file
        except FileNotFoundError:
            pass
        os.close(fd)
