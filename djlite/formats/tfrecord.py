"""TFRecord files without TensorFlow: framing, masked CRC-32C, GZIP/ZLIB, sharded atomic writes, a checking reader.

A record is framed as TensorFlow's record_writer.h frames it (all little-endian):

    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

with mask(crc) = ((crc >> 15) | (crc << 17)) + 0xA282EAD8 (mod 2^32). GZIP and ZLIB compress the whole stream of
framed records, as TensorFlow's `compression_type` does; there is no per-record compression.

Writers never leave a file that looks complete: each file is created under an unpredictable temporary name in
the target folder (exclusive creation) and renamed when closed; a sharded writer renames every shard only when
the whole set is complete, because the `-of-<N>` in the names is known only then.

The reader verifies both CRCs of every record and believes a length only as far as the file and a maximum
allow. Strict mode raises `CorruptRecordError` naming the file, the record and the byte offset (in the
uncompressed stream); lenient mode skips bad records, resynchronises on the next valid header (a vectorised
CRC over every position, see `header_positions`), and counts what it skipped in `TFRecordReader.bad_records`.
"""

import gzip
import io
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator

import google_crc32c
import numpy as np

from djlite.errors import SampleError
from djlite.files import commit_file, exclusive_temp
from djlite.run_paths import record_shard_name

MASK_DELTA = 0xA282EAD8
HEADER_BYTES = 12
FOOTER_BYTES = 4
# TensorFlow and MediaPipe refuse protos of 2 GiB and more; MediaPipe's packer stops at this size.
MAX_RECORD_BYTES = (1 << 30) - 1
# The most a reader believes a length field: no protobuf message is 2 GiB or more.
MAX_READ_RECORD_BYTES = (1 << 31) - 1
COMPRESSIONS = (None, "GZIP", "ZLIB")


class CorruptRecordError(SampleError, ValueError):
    """A record whose length or data does not match its CRC, or a file cut inside a record."""


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of data, continuing from `crc` (compiled, google-crc32c)."""
    return google_crc32c.extend(crc, data)


def mask_crc(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rot = (masked - MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    return mask_crc(crc32c(data))


def frame_header(length: int) -> bytes:
    raw = struct.pack("<Q", length)
    return raw + struct.pack("<I", masked_crc32c(raw))


def frame_record(data: bytes) -> bytes:
    """One record, framed: header, data, footer."""
    return frame_header(len(data)) + data + struct.pack("<I", masked_crc32c(data))


def normalize_compression(compression: str | None) -> str | None:
    """None/"" -> None; "gzip"/"GZIP" -> "GZIP"; "zlib" -> "ZLIB"; anything else is a ValueError."""
    if compression in (None, "", "none", "NONE"):
        return None
    upper = str(compression).upper()
    if upper not in ("GZIP", "ZLIB"):
        raise ValueError(f"TFRecord compression must be none, GZIP or ZLIB, got {compression!r}")
    return upper


class _ZlibWriter(io.RawIOBase):
    """A write-only zlib stream (TensorFlow's ZLIB: a zlib header, deflate, adler32)."""

    def __init__(self, raw):
        self.raw = raw
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS)

    def writable(self):
        return True

    def write(self, data):
        self.raw.write(self.compressor.compress(data))
        return len(data)

    def close(self):
        if not self.closed:
            self.raw.write(self.compressor.flush())
        super().close()


class _CommitOnExit:
    """`with` a writer: committed (close) when the block completes, removed (abort) when it raises."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        else:
            self.abort()


class TFRecordFileWriter(_CommitOnExit):
    """Writes records to `path`: under a temporary name until `close()`, then renamed to `path`.

    `abort()` (or leaving a `with` block by an exception) removes the temporary file. `commit=False` in close()
    keeps the temporary file for a sharded writer that renames the whole set at once.
    """

    def __init__(self, path: str, compression: str | None = None):
        self.path = path
        self.compression = normalize_compression(compression)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        # Named like every run temporary (djlite/files.py), so a killed run's is cleaned by the next one.
        self.tmp_path = exclusive_temp(path)
        self._raw = open(self.tmp_path, "wb")  # noqa: SIM115 - closed by close() / abort()
        if self.compression == "GZIP":
            # mtime=0 and no file name in the header: the same records give the same bytes.
            self._out = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        elif self.compression == "ZLIB":
            self._out = _ZlibWriter(self._raw)
        else:
            self._out = self._raw
        self.records = 0
        self.bytes = 0  # uncompressed bytes written, framing included
        self.closed = False

    def write(self, data: bytes) -> None:
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"a record of {len(data)} bytes is over the {MAX_RECORD_BYTES}-byte limit of readers")
        self._out.write(frame_record(data))
        self.records += 1
        self.bytes += len(data) + HEADER_BYTES + FOOTER_BYTES

    def write_chunks(self, length: int, chunks: Iterable[bytes]) -> None:
        """Write one record given as chunks adding up to `length` bytes, without joining them in memory."""
        if length > MAX_RECORD_BYTES:
            raise ValueError(f"a record of {length} bytes is over the {MAX_RECORD_BYTES}-byte limit of readers")
        self._out.write(frame_header(length))
        crc, written = 0, 0
        for chunk in chunks:
            crc = crc32c(chunk, crc)
            written += len(chunk)
            self._out.write(chunk)
        if written != length:
            raise RuntimeError(f"record chunks add up to {written} bytes, not the announced {length}")
        self._out.write(struct.pack("<I", mask_crc(crc)))
        self.records += 1
        self.bytes += length + HEADER_BYTES + FOOTER_BYTES

    def _finish(self) -> None:
        if self._out is not self._raw:
            self._out.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def close(self, commit: bool = True) -> str:
        if not self.closed:
            self._finish()
            self.closed = True
            if commit:
                commit_file(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        if not self.closed:
            try:
                self._finish()
            except (OSError, ValueError):
                pass
            self.closed = True
        if os.path.exists(self.tmp_path):
            os.remove(self.tmp_path)


class ShardedTFRecordWriter(_CommitOnExit):
    """Streams records into shards cut by record count and/or uncompressed bytes.

    Shards are written under temporary names beside `base`; `close()` renames them all to `<base>-<i>-of-<N><suffix>`
    (or `name(i, N)`, a path in base's folder) once N is known, so a killed run leaves no shard that looks complete.
    An export with no record still gives one (empty) shard, so that a reader's glob finds the set.
    """

    def __init__(
        self,
        base: str,
        compression: str | None = None,
        max_records: int = 0,
        max_bytes: int = 0,
        suffix: str = ".tfrecord",
        name: Callable[[int, int], str] | None = None,
    ):
        if max_records < 0 or max_bytes < 0:
            raise ValueError(f"shard limits must be >= 0, got max_records={max_records} max_bytes={max_bytes}")
        self.base = base
        self.name = name or (lambda index, count: record_shard_name(base, index, count, suffix))
        self.compression = normalize_compression(compression)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.suffix = suffix
        self.shards: list[TFRecordFileWriter] = []
        self.records = 0
        self.paths: list[str] = []

    def _current(self, incoming: int) -> TFRecordFileWriter:
        shard = self.shards[-1] if self.shards else None
        full = shard is not None and (
            (self.max_records and shard.records >= self.max_records)
            or (self.max_bytes and shard.records and shard.bytes + incoming > self.max_bytes)
        )
        if shard is None or full:
            if shard is not None:
                shard.close(commit=False)
            # The final name is not known yet; the temporary file is created beside where it will go.
            shard = TFRecordFileWriter(f"{self.base}-{len(self.shards)}{self.suffix}", self.compression)
            self.shards.append(shard)
        return shard

    def write(self, data: bytes) -> None:
        self._current(len(data) + HEADER_BYTES + FOOTER_BYTES).write(data)
        self.records += 1

    def write_chunks(self, length: int, chunks: Iterable[bytes]) -> None:
        self._current(length + HEADER_BYTES + FOOTER_BYTES).write_chunks(length, chunks)
        self.records += 1

    def close(self) -> list[str]:
        if not self.shards:
            self._current(0)
        count = len(self.shards)
        for shard in self.shards:
            shard.close(commit=False)
        self.paths = []
        for i, shard in enumerate(self.shards):
            path = self.name(i, count)
            commit_file(shard.tmp_path, path)
            self.paths.append(path)
        return self.paths

    def abort(self) -> None:
        for shard in self.shards:
            shard.abort()


def detect_compression(path: str) -> str | None:
    """GZIP or ZLIB from the magic bytes, None for plain framing (whose first header CRC checks out)."""
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if head[:2] == b"\x1f\x8b":
        return "GZIP"
    if len(head) == HEADER_BYTES and struct.unpack("<I", head[8:])[0] == masked_crc32c(head[:8]):
        return None
    if len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0:
        return "ZLIB"
    return None


class _ZlibReader(io.RawIOBase):
    def __init__(self, raw):
        self.raw = raw
        self.decompressor = zlib.decompressobj(zlib.MAX_WBITS)
        self.pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self.pending:
            chunk = self.raw.read(1 << 16)
            if not chunk:
                self.pending = self.decompressor.flush()
                if not self.pending:
                    return 0
                break
            self.pending = self.decompressor.decompress(chunk)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class _StreamWindow:
    """The bytes of a stream from `base` on, read in chunks as they are asked for; bytes before the reader's
    position are dropped once there are more than a chunk of them, so memory does not follow the file."""

    def __init__(self, stream, chunk: int):
        self.stream = stream
        self.chunk = chunk
        self.data = bytearray()
        self.base = 0  # stream offset of data[0]
        self.eof = False

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def fill(self, end: int) -> bool:
        """Read until stream offset `end` is in the window; False when the stream ends before it."""
        while self.end < end and not self.eof:
            data = self.stream.read(max(self.chunk, end - self.end))
            if not data:
                self.eof = True
            self.data.extend(data)
        return self.end >= end

    def get(self, start: int, end: int) -> bytes:
        return bytes(self.data[start - self.base : end - self.base])

    def drop_before(self, offset: int) -> None:
        if offset - self.base > self.chunk:
            del self.data[: offset - self.base]
            self.base = offset


def _crc32c_slicing_tables() -> list[np.ndarray]:
    """Slicing-by-8 tables of the reflected CRC-32C (Castagnoli, polynomial 0x82F63B78), one per byte of an
    8-byte message, indexed by the byte itself: the CRC of b0..b7 is the XOR of tables[j][b_j] (then the final
    inversion), with the initial 0xFFFFFFFF folded into the tables of the first four bytes."""
    base = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        base = np.where(base & 1, (base >> 1) ^ np.uint32(0x82F63B78), base >> 1).astype(np.uint32)
    slices = [base]  # slices[k]: a byte followed by k zero bytes
    for _ in range(7):
        slices.append(((slices[-1] >> 8) ^ base[slices[-1] & 0xFF]).astype(np.uint32))
    index = np.arange(256)
    return [slices[7 - j][index ^ 0xFF] if j < 4 else slices[7 - j] for j in range(8)]


_CRC32C_BY_BYTE = _crc32c_slicing_tables()


def header_positions(window: bytes) -> np.ndarray:
    """Every position i of `window` (i + HEADER_BYTES <= len) where window[i+8:i+12] is the masked CRC-32C of
    window[i:i+8], i.e. where a record header could start: all positions at once, in numpy (some 20 ms a
    megabyte), instead of a Python call per byte."""
    view = np.frombuffer(window, dtype=np.uint8)
    n = len(view) - HEADER_BYTES + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    crc = _CRC32C_BY_BYTE[0][view[:n]]
    for j in range(1, 8):
        crc ^= _CRC32C_BY_BYTE[j][view[j : j + n]]
    crc ^= np.uint32(0xFFFFFFFF)
    masked = ((crc >> 15) | (crc << 17)) + np.uint32(MASK_DELTA)
    # The little-endian uint32 at every byte position from 8 on (an unaligned view, no copy).
    stored = np.ndarray((n,), dtype="<u4", buffer=window, offset=8, strides=(1,))
    return np.flatnonzero(masked == stored)


class TFRecordReader:
    """Iterates the records of one file, checking both CRCs of each.

    compression: None, "GZIP", "ZLIB" or "auto" (from the magic bytes). strict=True raises CorruptRecordError on the
    first bad record, one line naming the file, the record's number and its byte offset; strict=False skips it
    (counted in `bad_records`, the first few described in `problems`) and goes on from the next position whose
    header CRC checks out. Offsets are in the uncompressed stream.

    A length is believed only up to `max_record_bytes` (protobuf cannot parse 2 GiB) and, uncompressed, up to what
    is left of the file: a header claiming more is a bad record, never an allocation of that size.
    """

    CHUNK = 1 << 20

    def __init__(
        self,
        path: str,
        compression: str | None = "auto",
        strict: bool = True,
        max_record_bytes: int = MAX_READ_RECORD_BYTES,
    ):
        self.path = path
        self.compression = detect_compression(path) if compression == "auto" else normalize_compression(compression)
        self.strict = strict
        self.max_record_bytes = max_record_bytes
        self.bad_records = 0
        self.records = 0
        self.problems: list[str] = []

    def _open(self):
        raw = open(self.path, "rb")
        if self.compression == "GZIP":
            return gzip.GzipFile(fileobj=raw, mode="rb"), raw
        if self.compression == "ZLIB":
            return io.BufferedReader(_ZlibReader(raw), self.CHUNK), raw
        return raw, raw

    def _bad(self, offset: int, what: str) -> None:
        message = f"{self.path}: corrupt TFRecord, record {self.records + self.bad_records} at byte {offset}: {what}"
        if self.strict:
            raise CorruptRecordError(message)
        self.bad_records += 1
        if len(self.problems) < 20:
            self.problems.append(message)

    def __iter__(self) -> Iterator[bytes]:
        for _, _, data in self.positioned():
            yield data

    def positioned(self) -> Iterator[tuple[int, int, bytes]]:
        """(record number, byte offset, data) of each good record; bad records count in the numbering."""
        stream, raw = self._open()
        size = None if self.compression else os.fstat(raw.fileno()).st_size
        window = _StreamWindow(stream, self.CHUNK)
        try:
            yield from self._records(window, size)
        except (OSError, EOFError, zlib.error) as e:
            if isinstance(e, CorruptRecordError):
                raise
            # A compressed stream that is cut or damaged: what was read so far stands.
            self._bad(window.end, f"the compressed stream is unreadable from here ({type(e).__name__}: {e})")
        finally:
            stream.close()
            raw.close()

    def _records(self, window: _StreamWindow, size: int | None) -> Iterator[tuple[int, int, bytes]]:
        offset = 0
        while True:
            window.drop_before(offset)
            if not window.fill(offset + HEADER_BYTES):
                if window.end > offset:
                    self._bad(offset, f"the file ends inside a record header ({window.end - offset} bytes left)")
                return
            header = window.get(offset, offset + HEADER_BYTES)
            length, length_crc = struct.unpack("<QI", header)
            problem = None
            left = None if size is None else size - offset - HEADER_BYTES - FOOTER_BYTES
            if length_crc != masked_crc32c(header[:8]):
                problem = "length does not match its CRC"
            elif length > self.max_record_bytes:
                problem = f"a length of {length} bytes, over the {self.max_record_bytes} a record can have"
            elif (left is not None and length > left) or not window.fill(offset + HEADER_BYTES + length + FOOTER_BYTES):
                left = window.end - offset - HEADER_BYTES - FOOTER_BYTES if left is None else left
                problem = f"the file ends inside a record of {length} bytes ({max(left, 0)} bytes left)"
            if problem is not None:
                self._bad(offset, problem)
                offset = self._resync(window, offset + 1)
                if offset is None:
                    return
                continue
            end = offset + HEADER_BYTES + length + FOOTER_BYTES
            data = window.get(offset + HEADER_BYTES, end - FOOTER_BYTES)
            (data_crc,) = struct.unpack("<I", window.get(end - FOOTER_BYTES, end))
            if data_crc != masked_crc32c(data):
                # The length checked out against its CRC: the next record starts after this one.
                self._bad(offset, f"data of {length} bytes does not match its CRC")
            else:
                self.records += 1
                yield self.records + self.bad_records - 1, offset, data
            offset = end

    def _resync(self, window: _StreamWindow, offset: int) -> int | None:
        """The first offset at or after `offset` holding a header whose length CRC checks out; None at the end."""
        while True:
            window.drop_before(offset)
            window.fill(offset + self.CHUNK + HEADER_BYTES - 1)
            scan = window.get(offset, min(window.end, offset + self.CHUNK + HEADER_BYTES - 1))
            if len(scan) < HEADER_BYTES:
                return None
            hits = header_positions(scan)
            if len(hits):
                return offset + int(hits[0])
            offset += len(scan) - HEADER_BYTES + 1


def read_records(path: str, compression: str | None = "auto", strict: bool = True) -> Iterator[bytes]:
    """The records of one TFRecord file (see TFRecordReader)."""
    return iter(TFRecordReader(path, compression, strict))
