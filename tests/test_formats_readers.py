"""djlite's TFRecords read by TensorFlow's own reader and parsers and by MediaPipe's media_sequence.py.

These run in the reader venv that `tools/reader_env.sh` builds (TensorFlow CPU + mediapipe 0.10.14; djlite never
imports either); they are skipped, with the reason, where that venv is absent. DJLITE_READER_VENV points at it
(default: <repo>/.venv-readers).
"""

import hashlib
import json
import os

import numpy as np
import pytest
from formats_helpers import labelled_rows, needs_readers, read_sequences, rows_with_ids, run_export, run_reader

from djlite.formats.example import decode_example
from djlite.formats.tfrecord import read_records

pytestmark = needs_readers


def check(request: dict) -> dict:
    return run_reader("check_with_tensorflow.py", request)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readers")
    rows = labelled_rows(folder)
    out = {}
    for compression in (None, "GZIP", "ZLIB"):
        path = str(folder / f"out_{compression}" / "clips.tfrecord")
        extra = {"compression": compression, "shard_records": 2}
        out[compression] = run_export(folder, rows, path, export_extra_args=extra).result_paths
    path = str(folder / "v2t" / "videos.tfrecords")
    out["wds"] = run_export(
        folder, rows, str(folder / "wds" / "w.tar"), export_extra_args={"shard_records": 2}
    ).result_paths
    out["v2t"] = run_export(
        folder, rows, path, export_extra_args={"num_frames": 4, "n_videos_in_record": 2}
    ).result_paths
    return folder, rows, out


def test_tensorflow_and_mediapipe_read_mediasequence(exports):
    folder, rows, out = exports
    request = {
        "mediasequence": [
            {"files": sorted(p for p in out[c] if p.endswith(".tfrecord")), "compression": c}
            for c in (None, "GZIP", "ZLIB")
        ]
    }
    answer = check(request)
    label_map = json.load(open(folder / "out_None" / "clips_label_map.json"))
    ours = {c["example/id"].values[0].decode(): (c, f) for c, f in read_sequences(out[None])}
    by_row = {row["id"]: row for row in rows}
    for records in answer["mediasequence"]:  # the same records, uncompressed, GZIP and ZLIB
        assert sorted(r["ms_id"] for r in records) == ["moving", "panning", "static"]
        for got in records:
            context, lists = ours[got["ms_id"]]
            row = by_row[got["ms_id"]]
            timestamps = [f.values[0] for f in lists["image/timestamp"]]
            frames = [sha(f.values[0]) for f in lists["image/encoded"]]
            assert got["tf_id"] == got["ms_id"]
            assert got["tf_timestamps"] == got["ms_timestamps"] == timestamps
            assert got["tf_frames_sha"] == got["ms_frames_sha"] == frames
            assert all(shape == [got["tf_height"], got["tf_width"], 3] for shape in got["tf_decoded_shapes"])
            assert got["ms_data_path"] == row["videos"][0] and got["ms_format"] == "JPEG" and got["ms_channels"] == 3
            assert got["ms_clip_start"] == 0 and got["ms_clip_end"] == context["clip/end/timestamp"].values[0]
            labels = row.get("labels")
            labels = [labels] if isinstance(labels, str) else labels or []
            assert got.get("ms_clip_label_string", []) == labels
            assert got["tf_label_index"] == got.get("ms_clip_label_index", []) == [label_map[s] for s in labels]
            if "segments" in row:
                segments = got["ms_segments"]
                assert segments["start"] == [round(s["start"] * 1e6) for s in row["segments"]]
                assert segments["end"] == [round(s["end"] * 1e6) for s in row["segments"]]
                assert segments["label_string"] == [s["label"] for s in row["segments"]]
                assert segments["label_index"] == [label_map[s["label"]] for s in row["segments"]]
                assert all(0 <= i < len(timestamps) for i in segments["start_index"] + segments["end_index"])
            if "regions" in row:
                boxes = got["ms_boxes"]
                assert boxes["timestamp"] == timestamps
                annotated = [i for i, a in enumerate(boxes["is_annotated"]) if a]
                first, second = annotated
                assert np.allclose(boxes["bbox"][first], [r["bbox"] for r in row["regions"][:2]])
                assert boxes["label_string"][first] == ["star", "gas"]
                assert np.allclose(boxes["bbox"][second], [row["regions"][2]["bbox"]])
                assert boxes["num_regions"][first] == 2
                padding = boxes["is_annotated"].index(0)
                assert boxes["bbox"][padding] == [] and boxes["num_regions"][padding] == 0
            else:
                assert "ms_boxes" not in got


def test_tensorflow_parses_video2tfrecord_layout(exports):
    folder, rows, out = exports
    files = sorted(p for p in out["v2t"] if p.endswith(".tfrecords"))
    assert [os.path.basename(p) for p in files] == ["batch_1_of_2.tfrecords", "batch_2_of_2.tfrecords"]
    ours = [decode_example(r) for p in files for r in read_records(p)]
    (records,) = check({"video2tfrecord": [{"files": files, "n_frames": 4}]})["video2tfrecord"]
    assert len(records) == len(ours) == 3
    for got, example in zip(records, ours):
        assert got["frames_sha"] == [sha(example[f"blob/{i}"].values[0]) for i in range(4)]
        assert got["depth"] == 3 and all(s == [got["height"], got["width"], 3] for s in got["decoded_shapes"])


def test_webdataset_reads_the_tar_shards(exports):
    folder, rows, out = exports
    shards = sorted(p for p in out["wds"] if p.endswith(".tar"))
    assert [os.path.basename(p) for p in shards] == ["w-000000.tar", "w-000001.tar"]
    (samples,) = check({"webdataset": [{"urls": shards}]})["webdataset"]
    assert [s["key"] for s in samples] == ["moving", "panning", "static"]
    ours = {c["example/id"].values[0].decode(): lists for c, lists in read_sequences(out[None])}
    for got in samples:
        assert got["json"]["id"] == got["key"] and "video_motion_score" in got["json"]["__dj__stats__"]
        assert got["jpgs"] == [f"{i:04d}.jpg" for i in range(len(got["jpgs"]))]
        # The same plan and quality as the MediaSequence export: the same JPEG bytes.
        assert got["frames_sha"] == [sha(f.values[0]) for f in ours[got["key"]]["image/encoded"]]
        assert got["json"]["frames"][0]["timestamps_us"] == [f.values[0] for f in ours[got["key"]]["image/timestamp"]]


def test_mediapipe_reads_frame_embeddings_as_feature_floats(tmp_path):
    from djlite.embed.store import read_frame_embeddings

    rows = labelled_rows(tmp_path)
    process = [{"video_frame_embedding_mapper": {"sampling_fps": 4.0}}]
    extra = {"float_features": {"key": "video_frame_embeddings", "prefix": "EMBEDDING"}}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "e.tfrecord"), process=process, export_extra_args=extra)
    files = sorted(p for p in result.result_paths if p.endswith(".tfrecord"))
    (records,) = check({"mediasequence": [{"files": files, "float_prefixes": ["EMBEDDING"]}]})["mediasequence"]
    sidecars = {row["id"]: row["video_frame_embeddings"][0] for row in result.dataset}
    assert sorted(r["ms_id"] for r in records) == ["moving", "panning", "static"]
    for got in records:
        stored = read_frame_embeddings(sidecars[got["ms_id"]])
        features = got["ms_float_features"]["EMBEDDING"]
        timestamps = np.round(stored.times * 1e6).astype(int).tolist()
        assert features["timestamps"] == features["tf_timestamps"] == timestamps and len(timestamps) >= 4
        assert np.array_equal(np.array(features["floats"], np.float32), stored.vectors)
        assert np.array_equal(np.array(features["tf_floats"], np.float32), stored.vectors)
        assert features["dimensions"] == [stored.vectors.shape[1]]
        assert features["rate"] == pytest.approx(1e6 / (timestamps[1] - timestamps[0]), rel=1e-6)


def test_tensorflow_reads_repeated_ids_as_distinct_mediasequence_records(tmp_path):
    rows = rows_with_ids(tmp_path, ["clip", "clip", "clip", "two", "two_0", "nul\x00and\nnewline"])
    rows[3]["videos"] = rows[0]["videos"] + rows[1]["videos"]  # two videos: records two_0 and two_1
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "d.tfrecord"), export_extra_args={"fps": 2})
    files = sorted(p for p in result.result_paths if p.endswith(".tfrecord"))
    (records,) = check({"mediasequence": [{"files": files}]})["mediasequence"]
    ids = [r["tf_id"] for r in records]
    assert ids == [r["ms_id"] for r in records]
    assert ids == ["clip", "clip~2", "clip~3", "two_0", "two_1", "two_0~2", "nul_and_newline"]
    videos = [v for row in rows for v in row["videos"]]
    assert [r["ms_data_path"] for r in records] == videos  # one record per video, none merged or lost
