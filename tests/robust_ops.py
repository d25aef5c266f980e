"""Ops for the kill, crash and resume tests: cheap, no videos, and they leave a trace of the work they did.

Imported by tests/test_robust.py and by the small driver scripts it runs as real `dj-process`-like processes.
"""

import os
import signal
import sqlite3
import threading
import time

from datasets import Value

from djlite.ops.base import Deduplicator, Filter, Mapper
from djlite.registry import register_op

# Taken by test_locking_mapper for every sample. The lock test holds it in a thread of the main process while the
# workers start, as a logging or allocator lock is held at any instant: a worker forked from that process would
# inherit it held, with no thread left to release it.
SHARED_LOCK = threading.Lock()


def log_work(log_path: str, tag: str, text: str) -> None:
    if log_path:
        with open(log_path, "a", encoding="utf-8") as f:  # O_APPEND: whole lines from every worker
            f.write(f"{tag}\t{text}\t{os.getpid()}\n")


@register_op("test_work_mapper")
class TestWorkMapper(Mapper):
    """Appends `tag` to the text after `delay` seconds; logs each sample it finishes to `log_path`; SIGKILLs
    its own process on a text containing `crash_on` (a decoder segfault, the OOM killer)."""

    def __init__(self, tag: str = "x", log_path: str = "", delay: float = 0.0, crash_on: str = "", **kwargs):
        super().__init__(**kwargs)
        self.tag, self.log_path, self.delay, self.crash_on = tag, log_path, delay, crash_on

    def process(self, sample, context=None):
        text = sample[self.text_key]
        if self.crash_on and self.crash_on in text:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.delay)
        log_work(self.log_path, self.tag, text)
        sample[self.text_key] = f"{text} {self.tag}"
        return sample


@register_op("test_text_length_filter")
class TestTextLengthFilter(Filter):
    """Keeps texts of at most max_len characters."""

    stats_features = {"test_text_len": Value("int64")}

    def __init__(self, max_len: int = 1000, log_path: str = "", **kwargs):
        super().__init__(**kwargs)
        self.max_len, self.log_path = max_len, log_path

    def compute_stats(self, sample, context=None):
        log_work(self.log_path, "len", sample[self.text_key])
        stats = dict(sample.get("__dj__stats__") or {})
        stats["test_text_len"] = len(sample[self.text_key])
        sample["__dj__stats__"] = stats
        return sample

    def process(self, sample):
        return sample["__dj__stats__"]["test_text_len"] <= self.max_len


@register_op("test_text_deduplicator")
class TestTextDeduplicator(Deduplicator):
    """Exact duplicates by the text's first `prefix` characters."""

    hash_features = {"test_text_key": Value("string")}

    def __init__(self, prefix: int = 8, log_path: str = "", **kwargs):
        super().__init__(**kwargs)
        self.prefix, self.log_path = prefix, log_path

    def compute_hash(self, sample, context=None):
        log_work(self.log_path, "hash", sample[self.text_key])
        sample["test_text_key"] = sample[self.text_key][: self.prefix]
        return sample

    def dedup_key(self, row):
        return row["test_text_key"]


@register_op("test_locking_mapper")
class TestLockingMapper(Mapper):
    """Appends the pid of the process that ran it, under SHARED_LOCK."""

    def process(self, sample, context=None):
        with SHARED_LOCK:
            sample[self.text_key] = f"{sample[self.text_key]} {os.getpid()}"
        return sample


@register_op("test_env_mapper")
class TestEnvMapper(Mapper):
    """Appends the value of the environment variable `variable` in the process that ran it."""

    def __init__(self, variable: str = "", **kwargs):
        super().__init__(**kwargs)
        self.variable = variable

    def process(self, sample, context=None):
        sample[self.text_key] = f"{sample[self.text_key]} {os.environ.get(self.variable, '-')}"
        return sample


@register_op("test_unpicklable_mapper")
class TestUnpicklableMapper(Mapper):
    """Opens a database connection in its constructor instead of in setup(): it cannot be sent to a worker."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.connection = sqlite3.connect(":memory:")

    def process(self, sample, context=None):
        return sample


@register_op("test_swallowing_mapper")
class TestSwallowingMapper(Mapper):
    """On a text containing `swallow_on`, sends SIGINT to its own process and swallows the KeyboardInterrupt
    that results (PyAV does when one lands while it builds the end-of-file error of demux()); logs each
    sample it finishes to `log_path`."""

    def __init__(self, swallow_on: str = "", log_path: str = "", **kwargs):
        super().__init__(**kwargs)
        self.swallow_on, self.log_path = swallow_on, log_path

    def process(self, sample, context=None):
        if self.swallow_on and self.swallow_on in sample[self.text_key]:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except BaseException:  # noqa: BLE001 - what the library does
                pass
        log_work(self.log_path, "swallow", sample[self.text_key])
        return sample
