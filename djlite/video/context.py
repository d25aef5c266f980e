"""Per-sample cache of what has been learned about each video, shared by the video ops of one sample.

A `VideoContext` lives for one sample inside one runner stage. The first op that needs a video's metadata
probes it; later ops get the cached result, so a sample's files are opened once however many ops look at
them. A video that failed to probe fails the same way for every op, without being opened again.

Frames: an op that needs decoded frames defines `frame_consumer(info) -> FrameConsumer` and calls
`context.frame_result(self, path)`. The first such call on a video builds a consumer for *every* frame op
of the stage (`frame_ops`) and feeds them all from a single decode pass (djlite.video.reader); the
other ops then find their results waiting. Consumers may defer heavy work (a detector) to `result()`,
which runs only when their op asks, so a sample dropped by an earlier filter costs no model time.

Time: the shared decode runs inside whichever op asked first, but it is not that op's alone. The context
times it and charges each op its consumer's `feed` time plus an equal share of the decoding itself
(`charged`, by op id; `decode_seconds` is the total), so the stage can report each op's honest seconds.

Stats cache: with a `stats_cache` (djlite.stats_cache.StatsCache, given by the runner), `video_stats` serves a
filter's per-video stats from it, and the shared decode leaves out the consumers of frame ops whose stats are
cached, so a sample whose stats are all cached is never opened. A decode that skipped bad packets or ended
early (a truncated or corrupted file) logs a warning naming the file. A decode in which the decoder rejected
packets is done again without threads, with fresh consumers: what FFmpeg conceals after corrupt data depends
on its thread count, and the results must not depend on the machine (this costs a second decode of corrupt
files only).
"""

import time

from loguru import logger

from djlite.errors import VideoError
from djlite.video.probe import VideoInfo, probe_video


class VideoContext:
    def __init__(self, frame_ops: list | None = None, content_cache=None, stats_cache=None):
        self.frame_ops = list(frame_ops or [])
        # Per worker, across samples: results of byte-identical videos (djlite/core/content.py); None = off.
        self.content_cache = content_cache
        # Across runs: per-video stats keyed on the op's stat parameters and the file (djlite/stats_cache.py).
        self.stats_cache = stats_cache
        self._infos: dict[str, VideoInfo | VideoError] = {}
        self._consumers: dict[tuple[int, str], object] = {}
        self._results: dict[tuple, object] = {}
        self._decode_errors: dict[str, VideoError] = {}
        self.decode_seconds = 0.0  # wall time spent in shared decodes, whichever op triggered them
        self.charged: dict[int, float] = {}  # op id -> its share of decode_seconds

    def info(self, path: str) -> VideoInfo:
        if path not in self._infos:
            try:
                self._infos[path] = probe_video(path)
            except VideoError as e:
                self._infos[path] = e
        found = self._infos[path]
        if isinstance(found, VideoError):
            raise VideoError(str(found))
        return found

    def remember(self, info: VideoInfo) -> None:
        """Take `info` as the probe of `info.path`, for a caller that has just probed the file itself (clip
        verification), so the ops asking next do not open it again."""
        self._infos[info.path] = info

    def video_stats(self, op, path: str) -> dict:
        """`op.video_stats(path, self)`, from the stats cache when it has them (then the video is not opened)."""
        return self.cached(op, path, lambda: op.video_stats(path, self))

    def cached(self, op, path: str, compute, encode=None, decode=None):
        """`compute()`, or what the stats cache holds for (op, video); `encode`/`decode` map a value to JSON."""
        if self.stats_cache is None:
            return compute()
        found = self.stats_cache.get(op, path)
        if found is not None:
            if decode is None:
                return found
            try:
                return decode(found)
            except (KeyError, TypeError, ValueError) as e:  # an entry of the wrong shape: computed again
                self.stats_cache.discard(op, path, f"an entry for {path} that does not decode ({type(e).__name__})")
        value = compute()
        self.stats_cache.put(op, path, encode(value) if encode else value)
        return value

    def _cached(self, op, path: str) -> bool:
        return self.stats_cache is not None and getattr(op, "per_video_cache", False) and self.stats_cache.has(op, path)

    def frame_result(self, op, path: str):
        """The result of `op`'s frame consumer on `path`; decodes the video once for all frame ops.

        A video whose decoding failed fails the same way for every frame op of the stage, without being
        decoded again.
        """
        key = (id(op), path)
        if key not in self._results:
            if path in self._decode_errors:
                raise VideoError(str(self._decode_errors[path]))
            if key not in self._consumers:
                try:
                    self._decode_for_all(op, path)
                except VideoError as e:
                    self._decode_errors[path] = e
                    raise
            consumer = self._consumers.pop(key)
            self._results[key] = consumer.result()
        return self._results[key]

    def _decode_for_all(self, op, path: str) -> None:

        info = self.info(path)
        ops = [op] + [o for o in self.frame_ops if o is not op]
        wanted = [
            o
            for o in ops
            if (id(o), path) not in self._results
            and (id(o), path) not in self._consumers
            and (o is op or not self._cached(o, path))
        ]
        pending, report = self._read(info, wanted, threads=True)
        if report.bad_packets:
            # Corrupt data: what the decoder conceals depends on its thread count, so on the machine. Decoded
            # again on one thread, fresh consumers get the same frames on every machine and every run.
            pending, report = self._read(info, wanted, threads=False)
        warn_partly_decodable(report, path)
        self._consumers.update(pending)

    def _read(self, info: VideoInfo, ops: list, threads: bool):
        """New consumers of `ops` fed from one read of the video: ({(op id, path): consumer}, report)."""
        from djlite.video.reader import read_frames

        pending = {(id(o), info.path): o.frame_consumer(info) for o in ops}
        owners = {key[0]: _TimedConsumer(consumer) for key, consumer in pending.items()}
        start = time.perf_counter()
        try:
            report = read_frames(info, list(owners.values()), threads=threads)
        finally:
            elapsed = time.perf_counter() - start
            self.decode_seconds += elapsed
            shared = max(0.0, elapsed - sum(t.seconds for t in owners.values())) / max(1, len(owners))
            for op_id, timed in owners.items():
                self.charged[op_id] = self.charged.get(op_id, 0.0) + timed.seconds + shared
        return pending, report

    def close(self) -> None:
        self._infos.clear()
        self._consumers.clear()
        self._results.clear()
        self._decode_errors.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _TimedConsumer:
    """A consumer whose feed() time is measured, so the op doing per-frame work (optical flow) is charged for it."""

    def __init__(self, consumer):
        self.consumer = consumer
        self.plan = consumer.plan
        self.seconds = 0.0

    def feed(self, frame) -> None:
        start = time.perf_counter()
        try:
            self.consumer.feed(frame)
        finally:
            self.seconds += time.perf_counter() - start

    def __getattr__(self, name):
        return getattr(self.consumer, name)


def warn_partly_decodable(report, path: str) -> None:
    """A decode that skipped packets or stopped early says so, naming the file (issue 9.8)."""
    problems = []
    if report.bad_packets:
        problems.append(f"{report.bad_packets} packets did not decode")
    if report.ended_by:
        problems.append(f"stream ended early: {report.ended_by}")
    if problems:
        logger.warning(f"partly decodable video ({'; '.join(problems)}): {path}")
