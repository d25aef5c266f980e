"""A persistent cache of per-video stats, so that changing a threshold re-runs a recipe without decoding.

What is cached: each VideoFilter's `video_stats` per video, and video_near_deduplicator's frame signatures
(ops that set `per_video_cache`). Not cached: mappers' outputs and video_deduplicator's packet md5 (it reads
the packets, without decoding).

A filter's stats depend on the video and on the parameters that shape the computation (sampling_fps, size,
the OCR backend...), never on its thresholds (the min_*/max_* that bound a stat), `any_or_all`, the interval
flags or `reversed_range`, which only decide from the stats; each op declares which of its parameters those are
(`threshold_params`, djlite/ops/base.py). So an entry is keyed on:

- the op: its name, `stats_version` (bumped when an op's computation changes), djlite's version and the
  stat-affecting parameters (`stat_params`);
- the video: its absolute path, size and modification time (ns), so a replaced, rewritten or deleted video is
  recomputed (a content hash would cost a full read of every file on every run).

The cache is one SQLite file (WAL mode, so the np workers and concurrent runs read and write it safely) under
`$DJLITE_CACHE_DIR` (default `~/.cache/djlite`), shared by dj-process and dj-analyze: a dj-process run after a
dj-analyze stats pass on the same data finds every stat. `use_cache: false` turns it off with datasets'
cache. The runner consults it per video before any frame is asked for: a sample whose stats are all cached
never opens its videos. Errors are not cached: a failing video is tried again on the next run.
"""

import hashlib
import json
import math
import os
import sqlite3

from loguru import logger

from djlite import __version__

CACHE_ENV = "DJLITE_CACHE_DIR"
CACHE_FILE = "stats.sqlite"
# Parameters of every op that say where to look or how to schedule, never what a stat is.
NON_STAT_PARAMS = frozenset(
    {
        "text_key",
        "video_key",
        "num_proc",
        "batch_size",
        "skip_op_error",
        "accelerator",
        "cpu_required",
        "gpu_required",
        "mem_required",
        "work_dir",
    }
)


# An entry's key, in the order of StatsCache._entry's key tuple.
_KEY = "op=? AND path=? AND size=? AND mtime_ns=?"


def default_cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "djlite")


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return repr(value)


def stat_params(op) -> dict:
    """The op's parameters that can change its stats: all but bookkeeping and the op's `threshold_params`."""
    left_out = NON_STAT_PARAMS | op.threshold_params
    return {k: _plain(v) for k, v in sorted(op.config.items()) if k not in left_out}


def op_key(op) -> str:
    """What the op computes, as a short digest: the same for two recipes that differ only in thresholds."""
    what = {
        "op": op.name,
        "stats_version": getattr(op, "stats_version", 1),
        "djlite": __version__,
        "params": stat_params(op),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def video_identity(path: str) -> tuple[str, int, int] | None:
    """(absolute path, size, mtime_ns); None when the file cannot be stat'ed (it is then never cached)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


class StatsCache:
    """Per-video stats keyed on (op_key, path, size, mtime_ns). Picklable: connects lazily in each process."""

    def __init__(self, folder: str | None = None):
        self.folder = os.path.abspath(folder or default_cache_dir())
        self.path = os.path.join(self.folder, CACHE_FILE)
        self._conn = None
        self._pid = None
        self._op_keys: dict[int, str] = {}
        self.hits = 0
        self.misses = 0
        self.broken = False
        self._warned_damaged = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_conn=None, _pid=None, _op_keys={})
        return state

    def _connection(self):
        if self.broken:
            return None
        if self._conn is None or self._pid != os.getpid():
            try:
                os.makedirs(self.folder, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS stats (op TEXT, path TEXT, size INTEGER, mtime_ns INTEGER, "
                    "value TEXT, PRIMARY KEY (op, path, size, mtime_ns))"
                )
            except (sqlite3.Error, OSError) as e:
                # A cache that cannot be used costs time, never results.
                logger.warning(f"stats cache {self.path} is unusable ({e}); stats are computed without it")
                self.broken = True
                return None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _op_key(self, op) -> str:
        key = self._op_keys.get(id(op))
        if key is None:
            key = self._op_keys[id(op)] = op_key(op)
        return key

    def get(self, op, path: str) -> dict | None:
        """The cached stats of (op, video), or None: not there, or an entry that does not parse or lacks one of
        the filter's `stats_keys` (a miss, removed so the cache repairs itself, logged once per cache)."""
        value = self._read(op, path)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value

    def _entry(self, op, path: str):
        """(connection, entry key) of (op, video), or None: a video that cannot be stat'ed, an unusable cache."""
        identity = video_identity(path)
        conn = self._connection()
        if identity is None or conn is None:
            return None
        return conn, (self._op_key(op), *identity)

    def _read(self, op, path: str) -> dict | None:
        entry = self._entry(op, path)
        if entry is None:
            return None
        conn, key = entry
        try:
            row = conn.execute(f"SELECT value FROM stats WHERE {_KEY}", key).fetchone()
        except sqlite3.Error as e:
            logger.warning(f"stats cache {self.path}: read failed ({e})")
            return None
        if row is None:
            return None
        try:
            value = json.loads(row[0])
            if not isinstance(value, dict):
                raise ValueError(f"a {type(value).__name__}, not an object")
            # A filter's entry holds every stat it writes; one without them all would be served, then refused.
            missing = [key for key in getattr(op, "stats_keys", ()) if key not in value]
            if missing:
                raise KeyError(missing[0])
        except (KeyError, TypeError, ValueError) as e:  # garbage in the file: recompute, never an error record
            self.discard(op, path, f"a damaged entry for {path} ({type(e).__name__}: {e})")
            return None
        return value

    def discard(self, op, path: str, why: str) -> None:
        """Remove the entry of (op, video), which could not be used: it is computed again and written anew."""
        if not self._warned_damaged:
            logger.warning(f"stats cache {self.path}: {why}; it is computed again (further ones are not logged)")
            self._warned_damaged = True
        entry = self._entry(op, path)
        if entry is None:
            return
        conn, key = entry
        try:
            conn.execute(f"DELETE FROM stats WHERE {_KEY}", key)
        except sqlite3.Error:
            pass

    def put(self, op, path: str, stats: dict) -> None:
        entry = self._entry(op, path)
        if entry is None:
            return
        conn, key = entry
        try:
            conn.execute("INSERT OR REPLACE INTO stats VALUES (?, ?, ?, ?, ?)", (*key, json.dumps(stats)))
        except sqlite3.Error as e:
            logger.warning(f"stats cache {self.path}: write failed ({e})")

    def has(self, op, path: str) -> bool:
        """Whether get() would serve (op, video): a damaged entry does not count."""
        return self._read(op, path) is not None

    def describe(self) -> str:
        """One log line: where the cache is and how many videos' results it holds."""
        conn = self._connection()
        if conn is None:
            return f"stats cache {self.path}: unusable, not used"
        try:
            count = conn.execute("SELECT COUNT(*) FROM stats").fetchone()[0]
        except sqlite3.Error:
            count = "?"
        return f"stats cache {self.path}: {count} per-video results (delete the file to start over)"

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None


def videos_fingerprint(dataset, video_keys) -> str:
    """A digest of what the dataset's videos are (path, size, mtime_ns; missing files count as missing).

    Part of every stage's `datasets` fingerprint, so `use_cache` never serves the stats of a video that was
    replaced or deleted after the run that cached them (issue 15.5). One os.stat per distinct video.
    """
    digest = hashlib.sha256()
    seen = set()
    for key in dict.fromkeys(video_keys):
        if key not in dataset.column_names:
            continue
        for batch in dataset.select_columns([key]).with_format("arrow").iter(batch_size=10_000):
            for videos in batch.column(key).to_pylist():
                for path in videos if isinstance(videos, list) else [videos]:
                    if not isinstance(path, str) or path in seen:
                        continue
                    seen.add(path)
                    digest.update(repr((path, video_identity(path))).encode())
    return digest.hexdigest()
