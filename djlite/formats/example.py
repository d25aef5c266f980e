"""tf.train.Example and tf.train.SequenceExample, encoded and decoded by hand (no protobuf, no TensorFlow).

The schema is TensorFlow's feature.proto / example.proto (proto3):

    Feature         { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList       { repeated bytes value = 1; }                 FloatList { repeated float value = 1 [packed]; }
    Int64List       { repeated int64 value = 1 [packed]; }        Features  { map<string, Feature> feature = 1; }
    FeatureList     { repeated Feature feature = 1; }             FeatureLists { map<string, FeatureList> ... = 1; }
    Example         { Features features = 1; }                    SequenceExample { Features context = 1;
                                                                                    FeatureLists feature_lists = 2; }

A feature is `Feature(kind, values)` with kind "bytes", "float", "int64", or None for an empty Feature (no kind set;
MediaPipe writes those as box padding). Values are always a list. Map keys are written sorted, so the same input
gives the same bytes (what protobuf's deterministic serialisation does).

Large payloads (a long clip's JPEG frames) need not be in memory: a bytes value may be a `Blob` that knows its
length and reads itself when written; `encode_*_chunks` then yields the record piece by piece.
"""

import struct
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from djlite.errors import SampleError

KINDS = {"bytes": 1, "float": 2, "int64": 3}
_KIND_OF_FIELD = {v: k for k, v in KINDS.items()}


class Feature(NamedTuple):
    kind: str | None  # "bytes", "float", "int64"; None: an empty Feature (no kind set)
    values: list


class Blob:
    """A bytes value stored elsewhere (a spool file): its length now, its bytes when the record is written."""

    __slots__ = ("path", "offset", "length")

    def __init__(self, path: str, offset: int, length: int):
        self.path, self.offset, self.length = path, offset, length

    def __len__(self):
        return self.length

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.length)
        if len(data) != self.length:
            raise OSError(f"{self.path}: expected {self.length} bytes at offset {self.offset}, found {len(data)}")
        return data


class SpooledBytes:
    """A feature list of single-bytes steps (one encoded frame each) stored in one spool file.

    Holds only two integer arrays; the encoder computes the list's length from them and reads each step's bytes
    only while the record is being written, so a long clip's record costs no per-frame Python objects.
    """

    def __init__(self, path: str, offsets, lengths):
        self.path = path
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i: int) -> Blob:
        return Blob(self.path, int(self.offsets[i]), int(self.lengths[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def bytes_feature(values) -> Feature:
    return Feature("bytes", [v.encode("utf-8") if isinstance(v, str) else v for v in _as_list(values)])


def int64_feature(values) -> Feature:
    return Feature("int64", [int(v) for v in _as_list(values)])


def float_feature(values) -> Feature:
    return Feature("float", [float(v) for v in _as_list(values)])


def empty_feature() -> Feature:
    return Feature(None, [])


def _as_list(values) -> list:
    if isinstance(values, (list, tuple)):
        return list(values)
    if isinstance(values, np.ndarray):
        return values.ravel().tolist()
    return [values]


def to_feature(value) -> Feature:
    """A Feature from a Feature, or from a value or list whose Python type says the kind (str/bytes, int, float)."""
    if isinstance(value, Feature):
        return value
    values = _as_list(value)
    if not values:
        raise ValueError("an empty list has no kind: build it with bytes_feature/int64_feature/float_feature([])")
    first = values[0]
    if isinstance(first, (str, bytes, Blob)):
        return bytes_feature(values)
    if isinstance(first, (bool, int, np.integer)):
        return int64_feature(values)
    if isinstance(first, (float, np.floating)):
        return float_feature(values)
    raise TypeError(f"cannot store a {type(first).__name__} in a tf.train.Feature")


# ------------------------------------------------------------------ encoding


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 negatives: ten bytes of two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class _Piece(NamedTuple):
    """An encoded message as a list of parts (bytes or Blob) and its total length."""

    parts: list
    length: int


class _Lazy:
    """Parts produced only when the record is written (see SpooledBytes)."""

    __slots__ = ("produce",)

    def __init__(self, produce):
        self.produce = produce


def _varint_size(n: int) -> int:
    return max(1, (int(n).bit_length() + 6) // 7)


def _spooled_steps_piece(steps: SpooledBytes) -> _Piece:
    """FeatureList{feature: [Feature{bytes_list{value: [step]}}...]} without a Python object per step."""

    def sizes(length: int) -> tuple[int, int, int]:
        bytes_list = 1 + _varint_size(length) + length
        feature = 1 + _varint_size(bytes_list) + bytes_list
        return bytes_list, feature, 1 + _varint_size(feature) + feature

    total = sum(sizes(int(n))[2] for n in steps.lengths)

    def produce():
        with open(steps.path, "rb") as f:
            for offset, length in zip(steps.offsets.tolist(), steps.lengths.tolist()):
                bytes_list, feature, _ = sizes(length)
                f.seek(offset)
                data = f.read(length)
                if len(data) != length:
                    raise OSError(f"{steps.path}: expected {length} bytes at offset {offset}, found {len(data)}")
                yield b"\x0a" + _varint(feature) + b"\x0a" + _varint(bytes_list) + b"\x0a" + _varint(length)
                yield data

    return _Piece([_Lazy(produce)], total)


def _field(number: int, payload: _Piece) -> _Piece:
    head = _varint(number << 3 | 2) + _varint(payload.length)
    return _Piece([head, *payload.parts], len(head) + payload.length)


def _bytes_piece(data: bytes | Blob) -> _Piece:
    return _Piece([data], len(data))


def _concat(pieces: list[_Piece]) -> _Piece:
    parts: list = []
    for p in pieces:
        parts.extend(p.parts)
    return _Piece(parts, sum(p.length for p in pieces))


def _feature_piece(feature: Feature) -> _Piece:
    if feature.kind is None:
        return _Piece([], 0)
    if feature.kind == "bytes":
        inner = _concat([_field(1, _bytes_piece(v)) for v in feature.values])
    elif feature.kind == "float":
        packed = np.asarray(feature.values, dtype="<f4").tobytes()
        inner = _field(1, _bytes_piece(packed)) if packed else _Piece([], 0)
    elif feature.kind == "int64":
        packed = b"".join(_varint(v) for v in feature.values)
        inner = _field(1, _bytes_piece(packed)) if packed else _Piece([], 0)
    else:
        raise ValueError(f"unknown feature kind {feature.kind!r}")
    return _field(KINDS[feature.kind], inner)


def _map_entry(key: str, value: _Piece) -> _Piece:
    return _concat([_field(1, _bytes_piece(key.encode("utf-8"))), _field(2, value)])


def _features_piece(features: dict) -> _Piece:
    return _concat([_field(1, _map_entry(k, _feature_piece(to_feature(features[k])))) for k in sorted(features)])


def _feature_lists_piece(feature_lists: dict) -> _Piece:
    entries = []
    for key in sorted(feature_lists):
        value = feature_lists[key]
        if isinstance(value, SpooledBytes):
            steps = _spooled_steps_piece(value)
        else:
            # Each step is joined to one bytes object as it is encoded (a step holding a Blob keeps its parts), so a
            # long list costs a few bytes a step, not a tree of small objects.
            parts: list = []
            length = 0
            for step in value:
                piece = _field(1, _feature_piece(to_feature(step)))
                if any(isinstance(p, Blob) for p in piece.parts):
                    parts.extend(piece.parts)
                else:
                    parts.append(b"".join(piece.parts))
                length += piece.length
            if not any(isinstance(p, Blob) for p in parts):
                parts = [b"".join(parts)]
            steps = _Piece(parts, length)
        entries.append(_field(1, _map_entry(key, steps)))
    return _concat(entries)


def _example_piece(features: dict) -> _Piece:
    return _field(1, _features_piece(features)) if features else _Piece([], 0)


def _sequence_piece(context: dict, feature_lists: dict) -> _Piece:
    pieces = []
    if context:
        pieces.append(_field(1, _features_piece(context)))
    if feature_lists:
        pieces.append(_field(2, _feature_lists_piece(feature_lists)))
    return _concat(pieces)


def _parts(piece: _Piece) -> Iterator[bytes]:
    for part in piece.parts:
        if isinstance(part, Blob):
            yield part.read()
        elif isinstance(part, _Lazy):
            yield from part.produce()
        else:
            yield part


def _join(piece: _Piece) -> bytes:
    return b"".join(_parts(piece))


def _stream(piece: _Piece, buffer_bytes: int = 1 << 20) -> Iterator[bytes]:
    pending: list[bytes] = []
    size = 0
    for data in _parts(piece):
        pending.append(data)
        size += len(data)
        if size >= buffer_bytes:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def encode_example(features: dict) -> bytes:
    """Serialized tf.train.Example; values are Features or plain values/lists (see to_feature)."""
    return _join(_example_piece(features))


def encode_sequence_example(context: dict, feature_lists: dict) -> bytes:
    """Serialized tf.train.SequenceExample; feature_lists maps a key to a list of per-step features."""
    return _join(_sequence_piece(context, feature_lists))


def encode_sequence_example_chunks(context: dict, feature_lists: dict) -> tuple[int, Iterator[bytes]]:
    """(length, chunks) of a SequenceExample whose Blob values are read only while the chunks are consumed."""
    piece = _sequence_piece(context, feature_lists)
    return piece.length, _stream(piece)


def encode_example_chunks(features: dict) -> tuple[int, Iterator[bytes]]:
    piece = _example_piece(features)
    return piece.length, _stream(piece)


# ------------------------------------------------------------------ decoding


class DecodeError(SampleError, ValueError):
    """Bytes that are not a well-formed Example / SequenceExample: the only error the decoders raise, whatever
    the bytes."""


def _read_varint(data, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 10 bytes")


def _fields(data) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a message: value is an int (varint) or a memoryview."""
    data = memoryview(data)
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire in (1, 2, 5):
            if wire == 2:
                length, pos = _read_varint(data, pos)
            else:
                length = 8 if wire == 1 else 4
            if pos + length > len(data):
                raise DecodeError(f"field {number} runs past the end of its message")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise DecodeError(f"unsupported wire type {wire} for field {number}")
        yield number, wire, value


def _submessages(data, known: tuple[int, ...]) -> Iterator[tuple[int, memoryview]]:
    """(field number, bytes) of the length-delimited fields numbered `known` (others are skipped, as protobuf
    skips unknown fields); a known field of another wire type is malformed."""
    for number, wire, value in _fields(data):
        if number not in known:
            continue
        if wire != 2:
            raise DecodeError(f"field {number} should be length-delimited, has wire type {wire}")
        yield number, value


def _signed64(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def decode_feature(data) -> Feature:
    feature = Feature(None, [])
    for number, body in _submessages(data, tuple(_KIND_OF_FIELD)):
        kind = _KIND_OF_FIELD[number]
        values: list = []
        for vnumber, vwire, value in _fields(body):
            if vnumber != 1:
                continue
            if kind == "bytes":
                if vwire != 2:
                    raise DecodeError(f"a bytes value has wire type {vwire}")
                values.append(bytes(value))
            elif kind == "float":
                if vwire == 5:
                    values.append(struct.unpack("<f", value)[0])
                elif vwire == 2 and len(value) % 4 == 0:
                    values.extend(np.frombuffer(value, dtype="<f4").tolist())
                else:
                    raise DecodeError(f"a float list of wire type {vwire} is not 4 bytes a value")
            elif vwire == 2:
                pos = 0
                while pos < len(value):
                    n, pos = _read_varint(value, pos)
                    values.append(_signed64(n))
            elif vwire == 0:
                values.append(_signed64(value))
            else:
                raise DecodeError(f"an int64 value has wire type {vwire}")
        feature = Feature(kind, values)  # a oneof: the last one set wins, as in protobuf
    return feature


def _map(data, decode_value) -> dict:
    out = {}
    for _, entry in _submessages(data, (1,)):
        key, value = "", b""
        for n, v in _submessages(entry, (1, 2)):
            if n == 1:
                try:
                    key = bytes(v).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DecodeError(f"a map key is not UTF-8 ({e.reason} at byte {e.start})") from None
            else:
                value = v
        out[key] = decode_value(value)
    return out


def decode_features(data) -> dict[str, Feature]:
    return _map(data, decode_feature)


def _decode_feature_list(data) -> list[Feature]:
    return [decode_feature(v) for _, v in _submessages(data, (1,))]


def decode_example(data: bytes) -> dict[str, Feature]:
    """{key: Feature} of a serialized tf.train.Example."""
    features: dict = {}
    for _, value in _submessages(data, (1,)):
        features.update(decode_features(value))
    return features


def decode_sequence_example(data: bytes) -> tuple[dict[str, Feature], dict[str, list[Feature]]]:
    """(context, feature_lists) of a serialized tf.train.SequenceExample."""
    context: dict = {}
    feature_lists: dict = {}
    for number, value in _submessages(data, (1, 2)):
        if number == 1:
            context.update(decode_features(value))
        else:
            feature_lists.update(_map(value, _decode_feature_list))
    return context, feature_lists
