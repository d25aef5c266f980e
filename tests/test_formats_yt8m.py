"""export_type yt8m (YouTube-8M frame- and video-level records from frame embeddings) and read_yt8m, which
names or counts every record it cannot read."""

import json
import re

import numpy as np
import pytest
from formats_helpers import needs_readers, run_reader
from helpers import read_jsonl, write_jsonl
from synthetic import make_moving, make_static

import djlite
from djlite.embed.pca import Pca, fit_pca
from djlite.embed.quantize import dequantize, quantize
from djlite.embed.store import read_frame_embeddings, write_frame_embeddings
from djlite.errors import RecipeError
from djlite.formats.example import (
    bytes_feature,
    decode_example,
    decode_sequence_example,
    encode_sequence_example,
    float_feature,
    int64_feature,
)
from djlite.formats.tfrecord import frame_header, frame_record, read_records
from djlite.formats.yt8m import Yt8mLayout, read_yt8m


def records(paths, level):
    return [r for p in sorted(paths) if f"_{level}-" in p for r in read_records(p)]


def _reader_request(paths, dim, audio) -> dict:
    """What check_yt8m_with_tensorflow.py reads: the frame and video shards of an export."""
    return {
        "frame": sorted(p for p in paths if "_frame-" in p),
        "video": sorted(p for p in paths if "_video-" in p),
        "dim": dim,
        "audio": audio,
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A recipe end to end: embed (model-free), fit PCA, export yt8m; labels from the samples."""
    folder = tmp_path_factory.mktemp("yt8m")
    rows = [
        {"id": "moving", "videos": [make_moving(str(folder / "m.mp4"), seconds=4, fps=10)], "labels": [7, 3]},
        {"id": "static", "videos": [make_static(str(folder / "s.mp4"), seconds=3, fps=10)], "labels": [5]},
        {"id": "panning", "videos": [make_moving(str(folder / "p.mp4"), seconds=3, fps=10, seed=4)], "labels": []},
    ]
    config = {
        "dataset_path": str(write_jsonl(folder / "data.jsonl", rows)),
        "export_path": str(folder / "out" / "clips.tfrecord"),
        "export_type": "yt8m",
        "np": 1,
        "process": [{"video_frame_embedding_mapper": {}}, {"video_embedding_pca": {"n_components": 6}}],
    }
    return folder, djlite.run(config)


def test_frame_and_video_records_carry_quantized_pca_features(exported):
    folder, result = exported
    pca = Pca.load(str(folder / "out" / "pca"))
    assert pca.n_components == 6
    frames = [decode_sequence_example(r) for r in records(result.result_paths, "frame")]
    videos = [decode_example(r) for r in records(result.result_paths, "video")]
    assert [c["id"].values[0] for c, _ in frames] == [b"moving", b"static", b"panning"]
    assert [c["labels"].values for c, _ in frames] == [[3, 7], [5], []]
    assert all(set(lists) == {"rgb"} and "audio" not in c for c, lists in frames)  # no audio, not zero bytes
    for (context, lists), video, row in zip(frames, videos, result.dataset):
        features = pca.transform(read_frame_embeddings(row["video_frame_embeddings"][0]).vectors)
        rgb = [f.values[0] for f in lists["rgb"]]
        assert len(rgb) == len(features) and all(len(b) == 6 for b in rgb)
        assert b"".join(rgb) == quantize(features).tobytes()
        assert np.allclose(video["mean_rgb"].values, features.mean(axis=0), atol=1e-6)  # unquantized mean
        assert video["id"].values == context["id"].values and video["labels"].values == context["labels"].values
        assert set(video) == {"id", "labels", "mean_rgb"}


def test_read_yt8m_brings_records_back_dequantized(exported, tmp_path):
    folder, result = exported
    frame_rows = read_yt8m([p for p in result.result_paths if "_frame-" in p], str(tmp_path / "emb"))
    video_rows = read_yt8m([p for p in result.result_paths if "_video-" in p], str(tmp_path / "emb"))
    assert [r["id"] for r in frame_rows] == [r["id"] for r in video_rows] == ["moving", "static", "panning"]
    assert [r["labels"] for r in frame_rows] == [[3, 7], [5], []]
    pca = Pca.load(str(folder / "out" / "pca"))
    for row, original in zip(frame_rows, result.dataset):
        features = pca.transform(read_frame_embeddings(original["video_frame_embeddings"][0]).vectors)
        back = read_frame_embeddings(row["video_frame_embeddings"][0])
        assert back.times.tolist() == list(range(len(features)))
        expected = dequantize(quantize(features))
        assert np.allclose(back.vectors, expected, atol=2e-3)  # float16 storage of the dequantized values
    assert np.allclose(video_rows[0]["video_embedding"][0], np.asarray(records_mean(result, 0)), atol=1e-6)


def records_mean(result, n):
    return decode_example(records(result.result_paths, "video")[n])["mean_rgb"].values


def test_labels_from_youtube8m_csv_and_compat_options(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    refs = []
    for i in range(2):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, vectors[i * 20 : (i + 1) * 20], np.arange(20.0))
        refs.append(ref)
    fit_pca(vectors, 8).save(str(tmp_path / "pca"))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("/data/a.mp4,52;3;10\nb.mp4,4\n")
    rows = [
        {"videos": ["/data/a.mp4"], "video_frame_embeddings": [refs[0]]},
        {"videos": ["/elsewhere/b.mp4"], "video_frame_embeddings": [refs[1]]},
        {"videos": [], "video_frame_embeddings": []},
    ]
    layout = Yt8mLayout(
        {"labels_csv": str(csv_path), "pca_dir": str(tmp_path / "pca"), "id_key": "video_id", "audio": "neutral"}
    )
    layout.setup()
    paths = layout.write(lambda: iter(rows), str(tmp_path / "out" / "x.tfrecord"))
    frames = [decode_sequence_example(r) for r in records(paths, "frame")]
    assert [c["labels"].values for c, _ in frames] == [[3, 10, 52], [4]]
    assert [c["video_id"].values for c, _ in frames] == [[b"a"], [b"b"]]
    audio = frames[0][1]["audio"]
    assert len(audio) == 20 and audio[0].values[0] == bytes([127]) * 128
    assert abs(dequantize(audio[0].values[0])).max() < 1e-4  # neutral bytes dequantize to ~0, not -1.99
    video = decode_example(records(paths, "video")[0])
    assert video["mean_audio"].values == [0.0] * 128 and video["has_audio"].values == [0]


def test_bad_options_and_missing_pca(tmp_path, clips):
    with pytest.raises(RecipeError, match="rounding"):
        Yt8mLayout({"rounding": "nearest"})
    with pytest.raises(RecipeError, match="lacks"):
        Yt8mLayout({"pca_dir": str(tmp_path)})
    config = {
        "dataset_path": str(write_jsonl(tmp_path / "d.jsonl", [{"videos": [clips["moving"]]}])),
        "export_path": str(tmp_path / "out" / "x.tfrecord"),
        "export_type": "yt8m",
        "process": [{"video_frame_embedding_mapper": {}}],
    }
    with pytest.raises(RecipeError, match="video_embedding_pca"):
        djlite.run(config)


def _export_small_rows(tmp_path, rows: list[dict], options: dict) -> list[str]:
    """`rows` given 3 frames of 4-d features each (no PCA), exported as yt8m to out/yt.tfrecord."""
    for i, row in enumerate(rows):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, np.full((3, 4), i, dtype=np.float32), np.arange(3, dtype=float))
        row["video_frame_embeddings"] = [ref]
    layout = Yt8mLayout({"apply_pca": False, **options})
    layout.setup()
    return layout.write(lambda: iter(rows), str(tmp_path / "out" / "yt.tfrecord"))


def test_string_labels_are_assigned_indices_and_the_map_is_written_beside_the_shards(tmp_path):
    rows = [{"id": "clip0", "labels": ["dog", "cat"]}, {"id": "clip1", "labels": ["cat"]}]
    paths = _export_small_rows(tmp_path, rows, {"level": "video"})
    label_map = tmp_path / "out" / "yt_label_map.json"
    assert json.loads(label_map.read_text()) == {"cat": 0, "dog": 1}
    assert str(label_map) not in paths
    assert [decode_example(r)["labels"].values for r in records(paths, "video")] == [[0, 1], [0]]


def test_csv_label_strings_of_rows_without_videos_get_indices(tmp_path):
    """Rows read_yt8m brought in name no `videos`: their CSV labels are found by id, as the records find them."""
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("id,label\nclip0,dog\nclip1,cat\n")
    rows = [{"id": "clip0"}, {"id": "clip1"}]
    paths = _export_small_rows(tmp_path, rows, {"level": "video", "labels_csv": str(csv_path)})
    assert json.loads((tmp_path / "out" / "yt_label_map.json").read_text()) == {"cat": 0, "dog": 1}
    assert [decode_example(r)["labels"].values for r in records(paths, "video")] == [[1], [0]]


@needs_readers
@pytest.mark.parametrize("audio", ["omit", "neutral"])
def test_youtube8m_reader_spec_parses_the_records_under_tensorflow(tmp_path, audio):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(1100, 1280)).astype(np.float32)
    rows = []
    for i, chunk in enumerate(np.array_split(vectors, 4)):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, chunk, np.arange(len(chunk), dtype=float))
        rows.append({"id": f"clip{i}", "labels": [i, 100 + i], "video_frame_embeddings": [ref]})
    pca = fit_pca(vectors, 1024)
    pca.save(str(tmp_path / "pca"))
    layout = Yt8mLayout({"pca_dir": str(tmp_path / "pca"), "audio": audio, "shard_records": 3})
    layout.setup()
    paths = layout.write(lambda: iter(rows), str(tmp_path / "out" / "yt.tfrecord"))
    request = _reader_request(paths, 1024, audio == "neutral")
    assert len(request["frame"]) == 2  # sharded: 3 records, then 1
    found = run_reader("check_yt8m_with_tensorflow.py", request)
    assert [r["id"] for r in found["frame"]] == [r["id"] for r in found["video"]] == [r["id"] for r in rows]
    assert [r["labels"] for r in found["video"]] == [r["labels"] for r in rows]
    for record, video, row in zip(found["frame"], found["video"], rows):
        features = pca.transform(read_frame_embeddings(row["video_frame_embeddings"][0]).vectors)
        assert np.array_equal(np.asarray(record["rgb"], dtype=np.uint8), quantize(features))
        assert np.allclose(video["mean_rgb"], features.mean(axis=0), atol=1e-5)
        if audio == "neutral":
            assert record["audio_frames"] == len(features)


def test_imported_shards_re_export_to_the_same_bytes(exported, tmp_path):
    """YouTube-8M shards -> jsonl + sidecars (the CLI) -> a recipe -> yt8m export without PCA: identical records."""
    from djlite.formats.yt8m import main

    _, result = exported
    shards = [p for p in result.result_paths if "_frame-" in p]
    assert main([*shards, "--out", str(tmp_path / "imported.jsonl")]) == 0
    config = {
        "dataset_path": str(tmp_path / "imported.jsonl"),
        "export_path": str(tmp_path / "out" / "again.tfrecord"),
        "export_type": "yt8m",
        "export_extra_args": {"apply_pca": False, "level": "frame"},
        "process": [],
    }
    again = djlite.run(config)
    assert records(again.result_paths, "frame") == records(shards, "frame")


@needs_readers
def test_youtube8m_reader_sees_repeated_ids_as_distinct_videos(tmp_path):
    vectors = np.random.default_rng(2).normal(size=(48, 8)).astype(np.float32)
    ids = ["v", "v", "v~2", "v"]
    rows = []
    for i, (sample_id, chunk) in enumerate(zip(ids, np.array_split(vectors, len(ids)))):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, chunk, np.arange(len(chunk), dtype=float))
        rows.append({"id": sample_id, "labels": [i], "video_frame_embeddings": [ref]})
    pca = fit_pca(vectors, 8)
    pca.save(str(tmp_path / "pca"))
    layout = Yt8mLayout({"pca_dir": str(tmp_path / "pca")})
    layout.setup()
    paths = layout.write(lambda: iter(rows), str(tmp_path / "out" / "yt.tfrecord"))
    request = _reader_request(paths, 8, False)
    found = run_reader("check_yt8m_with_tensorflow.py", request)
    assert [r["id"] for r in found["frame"]] == [r["id"] for r in found["video"]] == ["v", "v~2", "v~2~2", "v~3"]
    assert [r["labels"] for r in found["video"]] == [[0], [1], [2], [3]]  # each video its own record
    for record, row in zip(found["frame"], rows):
        features = pca.transform(read_frame_embeddings(row["video_frame_embeddings"][0]).vectors)
        assert np.array_equal(np.asarray(record["rgb"], dtype=np.uint8), quantize(features))


# ---------------------------------------------------------------- importing damaged shards


def _frame_record(video_id, rgb=None, labels=None) -> bytes:
    context = {"id": bytes_feature(video_id) if isinstance(video_id, (str, bytes)) else video_id}
    context["labels"] = labels if labels is not None else int64_feature([1])
    steps = rgb if rgb is not None else [bytes_feature([bytes([7]) * 8])] * 3
    return encode_sequence_example(context, {"rgb": steps})


GOOD = [_frame_record(f"v{i}") for i in range(3)]
WRONG_TYPES = {
    "id is an int": _frame_record(int64_feature([5])),
    "two ids": _frame_record(bytes_feature(["a", "b"])),
    "id not UTF-8": _frame_record(b"\xff\xfe"),
    "labels are bytes": _frame_record("v1", labels=bytes_feature(["x"])),
    "rgb frame is a float": _frame_record("v1", rgb=[float_feature([1.0])] * 2),
    "rgb frames of two lengths": _frame_record("v1", rgb=[bytes_feature([b"12345678"]), bytes_feature([b"1234"])]),
    "no protobuf": b"\x0f\xff\xff\xff\xff",
}


def _shard(path, records) -> list[int]:
    """Write `records` framed; return each one's byte offset."""
    offsets, data = [], b""
    for record in records:
        offsets.append(len(data))
        data += frame_record(record)
    path.write_bytes(data)
    return offsets


def _damaged(tmp_path, damage: str):
    """(shard path, strict error must match, ids a lenient import keeps)."""
    path = tmp_path / f"{damage.replace(' ', '_')}.tfrecord"
    offsets = _shard(path, GOOD)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        path.write_bytes(data[:-5])
        return path, rf"record 2 at byte {offsets[2]}: the file ends inside a record", ["v0", "v1"]
    if damage == "bad CRC":
        data[offsets[1] + 20] ^= 0xFF
        path.write_bytes(data)
        return path, rf"record 1 at byte {offsets[1]}: data .* does not match its CRC", ["v0", "v2"]
    if damage == "length 2^63-1":
        data[offsets[1] : offsets[1] + 12] = frame_header((1 << 63) - 1)  # a header whose CRC checks out
        path.write_bytes(data)
        return path, rf"record 1 at byte {offsets[1]}: a length of {(1 << 63) - 1} bytes, over", ["v0", "v2"]
    if damage == "garbage in the middle":
        garbage = np.random.default_rng(3).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
        path.write_bytes(data[: offsets[1]] + garbage + data[offsets[1] :])
        return path, rf"record 1 at byte {offsets[1]}: length does not match its CRC", ["v0", "v1", "v2"]
    record = WRONG_TYPES[damage]
    offsets = _shard(path, [GOOD[0], record, GOOD[2]])
    return path, rf"record 1 at byte {offsets[1]}: ", ["v0", "v2"]


DAMAGES = ["truncated", "bad CRC", "length 2^63-1", "garbage in the middle", *WRONG_TYPES]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_shard_is_one_line_strict_and_a_count_lenient(tmp_path, damage, capsys):
    from djlite.formats.yt8m import import_yt8m, main

    path, error, kept = _damaged(tmp_path, damage)
    out = tmp_path / "data.jsonl"
    assert main([str(path), "--out", str(out)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert re.search(rf"^yt8m import: error: {re.escape(str(path))}: .*{error}", line), line
    assert not out.exists()
    found = import_yt8m([str(path)], str(tmp_path / "emb"), strict=False)
    assert [row["id"] for row in found.rows] == kept and found.skipped == 1
    assert str(path) in found.problems[0]
    assert main([str(path), "--out", str(out), "--lenient"]) == 0
    assert [row["id"] for row in read_jsonl(out)] == kept
    assert "1 bad record(s) skipped" in capsys.readouterr().out


def test_two_shards_of_one_name_keep_their_own_frames(tmp_path):
    for folder, byte in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        _shard(tmp_path / folder / "train.tfrecord", [_frame_record("v", rgb=[bytes_feature([bytes([byte]) * 8])])])
    rows = read_yt8m([str(tmp_path / "a" / "train.tfrecord"), str(tmp_path / "b" / "train.tfrecord")], str(tmp_path))
    first, second = (read_frame_embeddings(row["video_frame_embeddings"][0]).vectors for row in rows)
    assert rows[0]["video_frame_embeddings"] != rows[1]["video_frame_embeddings"]
    assert np.allclose(first, dequantize(bytes([1]) * 8), atol=2e-3)  # float16 sidecars
    assert np.allclose(second, dequantize(bytes([2]) * 8), atol=2e-3)
