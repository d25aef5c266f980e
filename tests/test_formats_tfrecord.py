"""TFRecord framing, CRC, compression, shards and the checking reader; golden vectors of seed-systems.md §2b."""

import gzip
import os
import struct
import subprocess
import sys
import zlib

import pytest

from djlite.formats.example import (
    Feature,
    bytes_feature,
    decode_example,
    decode_sequence_example,
    empty_feature,
    encode_example,
    encode_sequence_example,
    float_feature,
    int64_feature,
)
from djlite.formats.tfrecord import (
    CorruptRecordError,
    ShardedTFRecordWriter,
    TFRecordFileWriter,
    TFRecordReader,
    crc32c,
    frame_header,
    frame_record,
    mask_crc,
    masked_crc32c,
    read_records,
    unmask_crc,
)


def test_crc32c_check_value_and_mask_round_trip():
    assert crc32c(b"123456789") == 0xE3069283
    for crc in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask_crc(mask_crc(crc)) == crc


def test_golden_framing_of_an_empty_record():
    assert frame_record(b"").hex() == "0000000000000000" + "29039807" + "d8ea82a2"
    assert masked_crc32c(b"\0" * 8) == 0x07980329
    assert masked_crc32c(b"") == 0xA282EAD8


def test_golden_examples():
    one = encode_example({"a": int64_feature([1])})
    assert one.hex() == "0a0c0a0a0a016112051a030a0101"
    assert frame_record(one).hex() == "0e00000000000000c5e5693f0a0c0a0a0a016112051a030a010139e87850"
    assert encode_example({"n": int64_feature([-1])}).hex() == "0a150a130a016e120e1a0c0a0affffffffffffffffff01"
    seq = encode_sequence_example({"a": bytes_feature([b"x"])}, {"b": [float_feature([1.0])]})
    assert seq.hex() == "0a0c0a0a0a016112050a030a017812110a0f0a0162120a0a0812060a040000803f"


def test_golden_empty_features():
    from djlite.formats.example import _feature_piece, _join

    assert _join(_feature_piece(float_feature([]))).hex() == "1200"
    assert _join(_feature_piece(empty_feature())) == b""


def test_context_only_sequence_example_is_byte_identical_to_an_example():
    features = {"id": bytes_feature("v1"), "labels": int64_feature([3, 7])}
    assert encode_sequence_example(features, {}) == encode_example(features)


def test_keys_sorted_so_the_same_input_gives_the_same_bytes():
    a = encode_example({"b": int64_feature(1), "a": float_feature(0.5), "c": bytes_feature("z")})
    b = encode_example({"c": bytes_feature("z"), "a": float_feature(0.5), "b": int64_feature(1)})
    assert a == b


def test_round_trip_values_are_always_lists_and_empty_features_read_back():
    context = {"one": bytes_feature("x"), "two": bytes_feature(["x", "y"]), "big": int64_feature([2**62, -(2**40)])}
    lists = {
        "f": [float_feature([0.25, -1.5]), empty_feature(), float_feature([])],
        "i": [int64_feature(5)],
    }
    got_context, got_lists = decode_sequence_example(encode_sequence_example(context, lists))
    assert got_context["one"] == Feature("bytes", [b"x"])
    assert got_context["two"] == Feature("bytes", [b"x", b"y"])
    assert got_context["big"].values == [2**62, -(2**40)]
    assert got_lists["f"][0] == Feature("float", [0.25, -1.5])
    assert got_lists["f"][1] == Feature(None, [])
    assert got_lists["f"][2] == Feature("float", [])
    assert got_lists["i"] == [Feature("int64", [5])]
    assert decode_example(encode_example({"k": int64_feature([])})) == {"k": Feature("int64", [])}


def _records(n):
    return [f"record {i} ".encode() * (i + 1) for i in range(n)]


@pytest.mark.parametrize("compression", [None, "GZIP", "ZLIB"])
def test_write_read_round_trip_with_compression(tmp_path, compression):
    path = str(tmp_path / "x.tfrecord")
    with TFRecordFileWriter(path, compression) as writer:
        for r in _records(20):
            writer.write(r)
    raw = open(path, "rb").read()
    if compression == "GZIP":
        raw = gzip.decompress(raw)
    elif compression == "ZLIB":
        raw = zlib.decompress(raw)
    assert raw == b"".join(frame_record(r) for r in _records(20))
    assert list(read_records(path)) == _records(20)  # compression detected from the magic bytes
    assert list(read_records(path, compression=compression)) == _records(20)


def test_streamed_record_equals_joined_record(tmp_path):
    a, b = str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")
    data = b"".join(_records(5))
    with TFRecordFileWriter(a) as w:
        w.write(data)
    with TFRecordFileWriter(b) as w:
        w.write_chunks(len(data), [data[:7], data[7:100], data[100:]])
    assert open(a, "rb").read() == open(b, "rb").read()


def test_writer_leaves_nothing_behind_when_aborted(tmp_path):
    path = tmp_path / "x.tfrecord"
    with pytest.raises(RuntimeError):
        with TFRecordFileWriter(str(path)) as writer:
            writer.write(b"abc")
            assert not path.exists()  # still under its temporary name
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []


def test_shards_cut_by_count_and_named_of_n(tmp_path):
    base = str(tmp_path / "out")
    with ShardedTFRecordWriter(base, max_records=3) as writer:
        for r in _records(7):
            writer.write(r)
        assert not any(n.endswith(".tfrecord") and not n.startswith(".") for n in os.listdir(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert names == [f"out-0000{i}-of-00003.tfrecord" for i in range(3)]
    got = [r for n in names for r in read_records(str(tmp_path / n))]
    assert got == _records(7)
    assert [len(list(read_records(str(tmp_path / n)))) for n in names] == [3, 3, 1]


def test_shards_cut_by_bytes(tmp_path):
    records = [b"x" * 1000] * 10
    with ShardedTFRecordWriter(str(tmp_path / "b"), max_bytes=2500) as writer:
        for r in records:
            writer.write(r)
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 5 and all(os.path.getsize(tmp_path / n) == 2 * 1016 for n in names)


def test_no_record_gives_one_empty_shard(tmp_path):
    with ShardedTFRecordWriter(str(tmp_path / "e")) as writer:
        pass
    assert writer.paths == [str(tmp_path / "e-00000-of-00001.tfrecord")]
    assert list(read_records(writer.paths[0])) == []


def _corrupt(path, offset):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0xFF
    open(path, "wb").write(bytes(data))


def test_corrupt_data_strict_names_file_and_offset_lenient_skips(tmp_path):
    path = str(tmp_path / "c.tfrecord")
    records = _records(4)
    with TFRecordFileWriter(path) as w:
        for r in records:
            w.write(r)
    second = len(frame_record(records[0]))
    _corrupt(path, second + 12 + 2)  # inside record 1's data
    with pytest.raises(CorruptRecordError, match=rf"c\.tfrecord.*byte {second}\b.*data"):
        list(read_records(path))
    reader = TFRecordReader(path, strict=False)
    assert list(reader) == [records[0], records[2], records[3]]
    assert reader.bad_records == 1 and f"byte {second}" in reader.problems[0]


def test_corrupt_length_lenient_resynchronises(tmp_path):
    path = str(tmp_path / "l.tfrecord")
    records = _records(4)
    with TFRecordFileWriter(path) as w:
        for r in records:
            w.write(r)
    _corrupt(path, 1)  # record 0's length
    with pytest.raises(CorruptRecordError, match="byte 0: length"):
        list(read_records(path))
    reader = TFRecordReader(path, strict=False)
    assert list(reader) == records[1:]
    assert reader.bad_records == 1


def test_truncated_file(tmp_path):
    path = str(tmp_path / "t.tfrecord")
    with TFRecordFileWriter(path) as w:
        for r in _records(3):
            w.write(r)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 5)
    with pytest.raises(CorruptRecordError, match="ends inside a record"):
        list(read_records(path))
    reader = TFRecordReader(path, strict=False)
    assert list(reader) == _records(2) and reader.bad_records == 1


def test_killed_writer_process_leaves_no_complete_looking_shard(tmp_path):
    script = (
        "import os, sys\n"
        "from djlite.formats.tfrecord import ShardedTFRecordWriter\n"
        f"w = ShardedTFRecordWriter({str(tmp_path / 'k')!r}, max_records=2)\n"
        "for i in range(5):\n"
        "    w.write(b'x' * 100)\n"
        "os._exit(9)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 9
    assert [n for n in os.listdir(tmp_path) if not n.startswith(".")] == []


def test_header_layout_is_little_endian(tmp_path):
    framed = frame_record(b"abc")
    assert struct.unpack("<Q", framed[:8])[0] == 3 and framed[12:15] == b"abc" and len(framed) == 19


def test_spooled_frames_encode_like_a_list_of_bytes_features(tmp_path):
    from djlite.formats.example import SpooledBytes, encode_sequence_example_chunks

    frames = [b"", b"a", b"x" * 200, b"y" * 20000]  # lengths whose varints take 1, 2 and 3 bytes
    spool = tmp_path / "s.spool"
    spool.write_bytes(b"".join(frames))
    offsets = [0, 0, 1, 201]
    context = {"id": bytes_feature("v")}
    expected = encode_sequence_example(context, {"img": [bytes_feature([f]) for f in frames]})
    length, chunks = encode_sequence_example_chunks(
        context, {"img": SpooledBytes(str(spool), offsets, [len(f) for f in frames])}
    )
    assert length == len(expected) and b"".join(chunks) == expected


def test_a_killed_writers_temporary_is_cleaned_by_the_next_run(tmp_path):
    """Shard temporaries are named like every run temporary: a writer killed mid-file leaves one that the next
    run's clean-up (djlite/output_set.py) removes, and no file that looks complete."""
    import subprocess
    import sys

    from djlite.files import remove_stale_temporaries

    code = (
        "import os; from djlite.formats.tfrecord import TFRecordFileWriter; "
        f"w = TFRecordFileWriter({str(tmp_path / 'out.tfrecord')!r}); w.write(b'x' * 100); os._exit(9)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tfrecord")] == []
    assert len(list(tmp_path.iterdir())) == 1  # the dead writer's temporary
    assert remove_stale_temporaries(str(tmp_path)) == 1
    assert list(tmp_path.iterdir()) == []


def _with_header_at(path, records, position, header) -> None:
    data = b"".join(frame_record(r) for r in records)
    path.write_bytes(data[:position] + header + data[position:])


def _assert_one_bad_record(path, records, match) -> None:
    """Strict, the file's one bad record raises a line matching `match`; lenient, every other record is read."""
    with pytest.raises(CorruptRecordError, match=match):
        list(read_records(str(path)))
    reader = TFRecordReader(str(path), strict=False)
    assert list(reader) == records and reader.bad_records == 1


@pytest.mark.parametrize("compression", [None, "GZIP"])
def test_a_huge_length_is_a_bad_record_never_an_allocation(tmp_path, compression):
    records = _records(3)
    first = len(frame_record(records[0]))
    data = frame_record(records[0]) + frame_header((1 << 63) - 1) + frame_record(records[1]) + frame_record(records[2])
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(gzip.compress(data, mtime=0) if compression else data)
    _assert_one_bad_record(path, records, rf"record 1 at byte {first}: a length of {(1 << 63) - 1} bytes")


def test_a_length_past_the_end_of_the_file_is_a_bad_record(tmp_path):
    records = _records(2)
    path = tmp_path / "past.tfrecord"
    _with_header_at(path, records, len(frame_record(records[0])), frame_header(1 << 20))  # fits the maximum
    _assert_one_bad_record(path, records, r"record 1 at byte \d+: the file ends inside a record of 1048576")


def test_lenient_reader_resynchronises_across_megabytes_of_garbage(tmp_path):
    import numpy as np

    records = _records(4)
    garbage = np.random.default_rng(5).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    good = [frame_record(r) for r in records]
    path = tmp_path / "g.tfrecord"
    path.write_bytes(good[0] + garbage + good[1] + good[2] + garbage[:1000] + good[3])
    reader = TFRecordReader(str(path), strict=False)
    positioned = list(reader.positioned())
    assert [data for _, _, data in positioned] == records and reader.bad_records == 2
    assert [offset for _, offset, _ in positioned][:2] == [0, len(good[0]) + len(garbage)]
    assert [number for number, _, _ in positioned] == [0, 2, 3, 5]  # the skipped stretches count as records


def test_header_positions_equal_a_check_at_every_byte():
    import numpy as np

    from djlite.formats.tfrecord import header_positions

    data = bytearray(np.random.default_rng(6).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    for position in (0, 20, 4_000, 49_988):
        data[position : position + 12] = frame_header(position * 7)
    stored = [struct.unpack("<I", data[i + 8 : i + 12])[0] for i in range(len(data) - 11)]
    every_byte = [i for i, crc in enumerate(stored) if crc == masked_crc32c(bytes(data[i : i + 8]))]
    assert header_positions(bytes(data)).tolist() == every_byte and {0, 20, 4_000, 49_988} <= set(every_byte)
    assert header_positions(b"short").tolist() == []


def test_decoders_raise_only_decode_error_on_damaged_bytes():
    import random

    from djlite.formats.example import DecodeError

    record = encode_sequence_example(
        {"id": bytes_feature("abc"), "labels": int64_feature([1, -2]), "f": float_feature([1.5, 2.5])},
        {"rgb": [bytes_feature([b"\x01" * 8])] * 3, "t": [int64_feature(5)]},
    )
    rng = random.Random(0)
    for _ in range(20_000):
        damaged = bytearray(record)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        damaged = damaged[: rng.randrange(1, len(damaged) + 1)]
        for decode in (decode_sequence_example, decode_example):
            try:
                decode(bytes(damaged))
            except DecodeError:
                pass
