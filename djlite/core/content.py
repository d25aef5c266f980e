"""Results reused across byte-identical videos within one worker of a run (scraped data is full of copies).

An op's per-video result (a filter's stats of one video, a near-duplicate signature) depends only on the
file's bytes, so a copy at another path need not be decoded again. Files are compared only when their sizes
are equal: the first file of a size costs nothing; when a second one with that size shows up, both are
hashed in full (BLAKE2b, about a gigabyte a second, far cheaper than decoding) and a match reuses the
result. Failures are not reused (their messages name the file).
"""

import hashlib
import os

CHUNK = 1 << 20
CANDIDATES_PER_SIZE = 8


def file_digest(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


class ContentCache:
    def __init__(self):
        self._by_size: dict[int, list[str]] = {}
        self._digests: dict[str, bytes] = {}
        self._results: dict[tuple, object] = {}
        self.hits = 0

    def _digest(self, path: str) -> bytes:
        if path not in self._digests:
            self._digests[path] = file_digest(path)
        return self._digests[path]

    def get(self, op_key, path: str):
        """(True, result) when a byte-identical file already has `op_key`'s result, else (False, None)."""
        if (op_key, path) in self._results:
            return True, self._results[(op_key, path)]
        try:
            size = os.path.getsize(path)
            for other in self._by_size.get(size, ()):
                if (op_key, other) in self._results and self._digest(other) == self._digest(path):
                    self.hits += 1
                    return True, self._results[(op_key, other)]
        except OSError:
            pass
        return False, None

    def put(self, op_key, path: str, result) -> None:
        try:
            size = os.path.getsize(path)
        except OSError:
            return
        same_size = self._by_size.setdefault(size, [])
        if path not in same_size and len(same_size) < CANDIDATES_PER_SIZE:
            same_size.append(path)
        self._results[(op_key, path)] = result
