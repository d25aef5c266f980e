"""Per-sample cache of what has been learned about each video, shared by the video ops of one sample.

A `VideoContext` lives for one sample inside one runner stage. The first op that needs a video's metadata
probes it; later ops get the cached result, so a sample's files are opened once however many ops look at
them. A video that failed to probe fails the same way for every op, without being opened again.

Frames: an op that needs decoded frames defines `frame_consumer(info) -> FrameConsumer` and calls
`context.frame_result(self, path)`. The first such call on a video builds a consumer for *every* frame op
of the stage (`frame_ops`) and feeds them all from a single decode pass (djlite.video.reader); the
other ops then find their results waiting. Consumers may defer heavy work (a detector) to `result()`,
which runs only when their op asks, so a sample dropped by an earlier filter costs no model time.
"""

from djlite.errors import VideoError
from djlite.video.probe import VideoInfo, probe_video


class VideoContext:
    def __init__(self, frame_ops: list | None = None):
        self.frame_ops = list(frame_ops or [])
        self._infos: dict[str, VideoInfo | VideoError] = {}
        self._consumers: dict[tuple[int, str], object] = {}
        self._results: dict[tuple, object] = {}
        self._decode_errors: dict[str, VideoError] = {}

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
        from djlite.video.reader import read_frames

        info = self.info(path)
        ops = [op] + [o for o in self.frame_ops if o is not op]
        pending = {
            (id(o), path): o.frame_consumer(info)
            for o in ops
            if (id(o), path) not in self._results and (id(o), path) not in self._consumers
        }
        read_frames(info, list(pending.values()))
        self._consumers.update(pending)

    def close(self) -> None:
        self._infos.clear()
        self._consumers.clear()
        self._results.clear()
        self._decode_errors.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
