"""Per-sample cache of what has been learned about each video, shared by the video ops of one sample.

A `VideoContext` lives for one sample inside one runner stage. The first op that needs a video's metadata
probes it; later ops get the cached result, so a sample's files are opened once however many ops look at
them. A video that failed to probe fails the same way for every op, without being opened again.
"""

from djlite.errors import VideoError
from djlite.video.probe import VideoInfo, probe_video


class VideoContext:
    def __init__(self):
        self._infos: dict[str, VideoInfo | VideoError] = {}
        self._results: dict[tuple, object] = {}

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

    def cached(self, key: tuple, compute):
        """Memoise `compute()` under `key` for the lifetime of this sample."""
        if key not in self._results:
            self._results[key] = compute()
        return self._results[key]

    def close(self) -> None:
        self._infos.clear()
        self._results.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
