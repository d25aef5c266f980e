"""Writing a file so that no reader ever sees it half-written: exclusive temporaries, renames, stale clean-up.

Every file djlite writes (a run's outputs, clips, frame JPEGs, reports) starts as a temporary beside its target
and is renamed when complete. This module is that mechanism alone, below everything that writes files (media
code included); which files make up a run's output set, and committing them together, is djlite/output_set.py.

- Temporaries are created exclusively (O_CREAT|O_EXCL, as mkstemp does: a planted file or symlink at the name
  is never opened, let alone followed) and carry the writer's pid: `.<name>.tmp-djlite-<pid>-<random>`.
  Unlike mkstemp's 0600, their mode is the user's umask's (0644 under umask 022; the kernel applies it, and a
  default ACL of the folder), so a trainer running as another user can read the outputs.
- `commit_file` renames a finished temporary, or hands the rename to whoever `deferring_commits` installed
  (djlite/output_set.py's set of a run's outputs, which renames them all at once).
- `remove_stale_temporaries` removes temporaries (and scratch folders) left by writers whose process is gone.
"""

import errno
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from contextvars import ContextVar

from loguru import logger

TMP_MARK = ".tmp-djlite-"
# Our temporaries, those of earlier djlite versions (`.<name>.tmp<pid>`), and np>1 scratch folders.
STALE_PATTERNS = (
    re.compile(r"^\..+\.tmp-djlite-(\d+)-"),
    re.compile(r"^\..+\.tmp(\d+)$"),
    re.compile(r"^\.djlite-chunks-(\d+)-"),
)

_EXCLUSIVE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NAME_TRIES = 100

# Whoever defers renames (a run's output set): an object with members(final) -> bool and add(tmp, final).
_deferred: ContextVar = ContextVar("djlite_deferred_commits", default=None)


def create_exclusive(folder: str, prefix: str, suffix: str = "") -> str:
    """A new, empty file `<folder>/<prefix><random><suffix>`: mkstemp's exclusive creation, but with the mode
    that the user's umask gives (mode 0666 asked for, so the kernel applies the umask), not 0600. Every file a
    run writes starts here."""
    for _ in range(_NAME_TRIES):
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(path, _EXCLUSIVE_FLAGS, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, f"no free temporary name after {_NAME_TRIES} tries", f"{folder}/{prefix}*")


def exclusive_temp(path: str) -> str:
    """A new, empty file beside `path`, created exclusively and never through a link (see create_exclusive)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return create_exclusive(folder, f".{os.path.basename(path)}{TMP_MARK}{os.getpid()}-")


@contextmanager
def deferring_commits(collector):
    """Inside the block, `commit_file` hands the rename of every final path that `collector.members` accepts to
    `collector.add(tmp, final)` instead of renaming at once."""
    token = _deferred.set(collector)
    try:
        yield collector
    finally:
        _deferred.reset(token)


def commit_file(tmp: str, final: str) -> None:
    """Rename a finished temporary to its final path now, or, inside `deferring_commits` when `final` belongs to
    the collector, when the collector commits. Every writer of a run's outputs ends here."""
    collector = _deferred.get()
    if collector is not None and collector.members(final):
        collector.add(tmp, final)
    else:
        os.replace(tmp, final)


@contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside `path` (created exclusively); rename it to `path` only if the block
    completes, or, inside a run's `output_set(...)` (djlite/output_set.py), when the whole set is committed."""
    tmp = exclusive_temp(path)
    try:
        yield tmp
        commit_file(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def replace_with_bytes(path: str, data: bytes, durable: bool = False) -> None:
    """Write `data` to `path` through an exclusive temporary (never a predictable name a planted symlink could
    redirect) renamed over it at once; no output set defers it. `durable`: on disk (fsync) before the rename."""
    tmp = exclusive_temp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(*folders: str) -> int:
    """Remove temporaries and scratch folders whose writing process no longer exists; return how many."""
    removed = 0
    for folder in {os.path.abspath(f) for f in folders if f and os.path.isdir(f)}:
        for name in os.listdir(folder):
            match = next((m for m in (p.match(name) for p in STALE_PATTERNS) if m), None)
            if not match or _pid_alive(int(match.group(1))):
                continue
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
            removed += 1
    if removed:
        logger.info(f"removed {removed} temporary file(s) left by earlier runs that were killed")
    return removed
