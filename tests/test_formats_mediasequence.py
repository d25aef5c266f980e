"""MediaSequence export end to end (no TensorFlow): frames, timestamps, labels, segments, boxes, errors, kills."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from formats_helpers import MOTION, labelled_rows, read_sequences, run_export
from helpers import read_jsonl

from djlite.errors import RecipeError
from djlite.formats.mediasequence import RecordError, Region, build_media_sequence, nearest_index
from djlite.formats.tfrecord import read_records
from djlite.video.reader import decode_plan
from djlite.video.sampling import fps


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ms")
    rows = labelled_rows(folder)
    result = run_export(folder, rows, str(folder / "out" / "clips.tfrecord"))
    return folder, rows, result


def test_frames_are_the_plans_frames_from_the_same_decode(exported):
    folder, rows, result = exported
    sequences = {c["example/id"].values[0].decode(): (c, f) for c, f in read_sequences(result.result_paths)}
    assert sorted(sequences) == ["moving", "panning", "static"]
    for row in rows:
        context, lists = sequences[row["id"]]
        frames = decode_plan(row["videos"][0], fps(24))
        assert [f.values[0] for f in lists["image/timestamp"]] == [round(f.time * 1e6) for f in frames]
        # The record's JPEGs are byte for byte the reader's frames encoded at the default quality 80.
        for feature, frame in zip(lists["image/encoded"], frames):
            expected = cv2.imencode(".jpg", frame.bgr(), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
            assert feature.values[0] == expected
        first = cv2.imdecode(np.frombuffer(lists["image/encoded"][0].values[0], np.uint8), cv2.IMREAD_COLOR)
        # JPEG at quality 80 of a noisy texture: close to the frame, not equal.
        assert np.abs(first.astype(int) - frames[0].bgr().astype(int)).mean() < 10
        assert context["image/height"].values == [frames[0].rgb().shape[0]]
        assert context["image/width"].values == [frames[0].rgb().shape[1]]
        assert context["image/format"].values == [b"JPEG"] and context["image/channels"].values == [3]


def test_each_video_is_decoded_once(tmp_path, monkeypatch):
    import djlite.video.reader as reader

    calls = []
    real = reader.read_frames

    def counting(info, consumers, **options):
        calls.append((info.path, sorted(type(getattr(c, "consumer", c)).__name__ for c in consumers)))
        return real(info, consumers, **options)

    monkeypatch.setattr(reader, "read_frames", counting)
    rows = labelled_rows(tmp_path)
    run_export(tmp_path, rows, str(tmp_path / "out" / "x.tfrecord"))
    assert sorted(p for p, _ in calls) == sorted(r["videos"][0] for r in rows)
    assert all(kinds == ["FrameSpooler", "MotionScores"] for _, kinds in calls)


def test_labels_segments_and_boxes(exported):
    folder, rows, result = exported
    label_map = json.load(open(folder / "out" / "clips_label_map.json"))
    assert label_map == {"galaxy": 0, "gas": 1, "nebula": 2, "star": 3}
    sequences = {c["example/id"].values[0].decode(): (c, f) for c, f in read_sequences(result.result_paths)}
    context, lists = sequences["moving"]
    assert context["clip/label/string"].values == [b"galaxy", b"nebula"]
    assert context["clip/label/index"].values == [0, 2]
    assert context["segment/start/timestamp"].values == [200000, 1000000]
    assert context["segment/end/timestamp"].values == [900000, 1900000]
    assert context["segment/label/index"].values == [2, 0]
    timestamps = [f.values[0] for f in lists["image/timestamp"]]
    assert context["segment/start/index"].values == [
        nearest_index(timestamps, 200000),
        nearest_index(timestamps, 10**6),
    ]
    annotated = [f.values[0] for f in lists["region/is_annotated"]]
    assert sum(annotated) == 2 and len(annotated) == len(timestamps)
    first = annotated.index(1)
    assert lists["region/num_regions"][first].values == [2]
    assert lists["region/bbox/ymin"][first].values == pytest.approx([0.1, 0.0])
    assert lists["region/label/string"][first].values == [b"star", b"gas"]
    assert lists["region/unmodified_timestamp"][first].values == [100000]
    padding = annotated.index(0)
    assert lists["region/bbox/xmax"][padding].values == [] and lists["region/num_regions"][padding].values == [0]
    # A sample without labels exports without label keys.
    static_context, static_lists = sequences["static"]
    assert not any(k.startswith(("clip/label", "segment/")) for k in static_context)
    assert not any(k.startswith("region/") for k in static_lists)


def test_boxes_align_to_the_nearest_frame_and_the_closest_annotation_wins():
    record = build_media_sequence(
        example_id="x",
        data_path="x.mp4",
        timestamps_us=[0, 100, 200],
        images=[cv2.imencode(".jpg", np.zeros((4, 4, 3), np.uint8))[1].tobytes()] * 3,
        regions=[Region(90, (0, 0, 1, 1), "a"), Region(110, (0, 0, 0.5, 0.5), "b"), Region(160, (0, 0, 0.2, 0.2), "c")],
    )
    lists = record.feature_lists
    assert [f.values for f in lists["region/is_annotated"]] == [[0], [1], [1]]
    assert lists["region/label/string"][1].values == [b"a"]  # 90 and 110 both map to 100; a tie keeps the first
    assert lists["region/label/string"][2].values == [b"c"]
    assert record.lost_annotations == 1
    assert [f.values for f in lists["region/timestamp"]] == [[0], [100], [200]]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"timestamps_us": [0, 100, 100]}, "strictly increasing"),
        ({"regions": [Region(0, (0.5, 0, 0.2, 1))]}, "ymin <= ymax"),
        ({"regions": [Region(0, (0, 0, 1.2, 1))]}, r"inside \[0, 1\]"),
        ({"images": []}, "images for 3 timestamps"),
    ],
)
def test_validation_errors(change, message):
    args = dict(
        example_id="x",
        data_path="x.mp4",
        timestamps_us=[0, 100, 200],
        images=[cv2.imencode(".jpg", np.zeros((4, 4, 3), np.uint8))[1].tobytes()] * 3,
    )
    args.update(change)
    with pytest.raises(RecordError, match=message):
        build_media_sequence(**args)


def test_bad_samples_are_error_records_and_the_shards_stay_valid(tmp_path, clips):
    rows = labelled_rows(tmp_path)
    rows[1]["regions"] = [{"time": 0.5, "bbox": [0.2, 0.2, 1.5, 0.3]}]  # a box outside the frame
    rows.append({"id": "broken", "text": "x", "videos": [clips["broken"]]})
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "b.tfrecord"), export_extra_args={"shard_records": 1})
    assert result.summary["kept"] == 2 and result.summary["errored"] == 2 and result.summary["balanced"]
    errors = {row["id"]: row["__dj__errors__"][0] for row in read_jsonl(result.errors_path)}
    assert errors["panning"]["op"] == "export_frames" and "inside [0, 1]" in errors["panning"]["error"]
    assert "VideoError" in errors["broken"]["error"]
    assert all("__dj__export_frames__" not in row for row in read_jsonl(result.errors_path))
    shards = sorted(p for p in result.result_paths if p.endswith(".tfrecord"))
    assert [os.path.basename(p) for p in shards] == ["b-00000-of-00002.tfrecord", "b-00001-of-00002.tfrecord"]
    assert [len(list(read_records(p))) for p in shards] == [1, 1]
    # export_shard_size (Data-Juicer's key) cuts MediaSequence shards by bytes when shard_bytes is not given.
    by_size = run_export(tmp_path, rows, str(tmp_path / "sized" / "s.tfrecord"), export_shard_size=1000)
    assert len([p for p in by_size.result_paths if p.endswith(".tfrecord")]) == 2
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")]  # no spool, no temporary left


def test_killed_export_leaves_no_shard_that_looks_complete(tmp_path):
    rows = labelled_rows(tmp_path)
    from helpers import write_jsonl

    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    out = tmp_path / "out"
    # The process dies (SIGKILL-like os._exit) while the second record is being written.
    script = f"""
import os
import djlite.formats.tfrecord as t
real = t.ShardedTFRecordWriter.write_chunks
def dying(self, length, chunks):
    if self.records == 1:
        os._exit(9)
    real(self, length, chunks)
t.ShardedTFRecordWriter.write_chunks = dying
import djlite
djlite.run({{"dataset_path": {str(dataset)!r}, "export_path": {str(out / "k.tfrecord")!r}, "np": 1,
            "process": {MOTION!r}, "export_extra_args": {{"shard_records": 1}}}})
"""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert subprocess.run([sys.executable, "-c", script], env=env, capture_output=True).returncode == 9
    assert not [n for n in os.listdir(out) if n.endswith(".tfrecord")]


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
def test_compressed_shards_read_back(tmp_path, compression):
    rows = labelled_rows(tmp_path)[:1]
    result = run_export(
        tmp_path, rows, str(tmp_path / "out" / "c.tfrecord"), export_extra_args={"compression": compression}
    )
    ((context, lists),) = read_sequences(result.result_paths)
    assert context["example/id"].values == [b"moving"] and len(lists["image/encoded"]) == 48


def test_options(tmp_path):
    rows = labelled_rows(tmp_path)[:1]
    extra = {"num_frames": 5, "jpeg_quality": 95, "resize_short_side": 48, "clip_start": 0.5, "flow": True}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "o.tfrecord"), export_extra_args=extra)
    assert "__dj__export_frames__" not in result.dataset.column_names
    ((context, lists),) = read_sequences(result.result_paths)
    assert context["image/height"].values == [48] and context["image/width"].values == [80]  # 96x160 -> 48x80
    timestamps = [f.values[0] for f in lists["image/timestamp"]]
    assert all(t >= 500000 for t in timestamps) and context["clip/start/timestamp"].values == [500000]
    assert len(lists["FORWARD_FLOW/image/encoded"]) == len(timestamps) - 1
    assert [f.values[0] for f in lists["FORWARD_FLOW/image/timestamp"]] == timestamps[:-1]
    assert context["FORWARD_FLOW/image/format"].values == [b"JPEG"]


def test_label_map_given_and_csv_labels(tmp_path):
    rows = labelled_rows(tmp_path)
    for row in rows:
        row.pop("labels", None)
        row.pop("segments", None)
        row.pop("regions", None)
    (tmp_path / "labels.csv").write_text("youtube_id,label\nmoving,galaxy;nebula\nstatic,galaxy\n")
    (tmp_path / "map.txt").write_text("nebula\ngalaxy\n")
    extra = {"labels_csv": str(tmp_path / "labels.csv"), "label_map": str(tmp_path / "map.txt")}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "l.tfrecord"), export_extra_args=extra)
    sequences = {c["example/id"].values[0]: c for c, _ in read_sequences(result.result_paths)}
    assert sequences[b"moving"]["clip/label/index"].values == [1, 0]
    assert sequences[b"static"]["clip/label/string"].values == [b"galaxy"]
    assert "clip/label/index" not in sequences[b"panning"]
    assert not os.path.exists(tmp_path / "out" / "l_label_map.json")  # the given map is used, not written


def test_recipe_errors_before_any_data_is_read(tmp_path):
    rows = labelled_rows(tmp_path)[:1]
    with pytest.raises(RecipeError, match="unknown option.*'fpz'"):
        run_export(tmp_path, rows, str(tmp_path / "o.tfrecord"), export_extra_args={"fpz": 2})
    with pytest.raises(RecipeError, match="jpeg_quality"):
        run_export(tmp_path, rows, str(tmp_path / "o.tfrecord"), export_extra_args={"jpeg_quality": 0})
    with pytest.raises(RecipeError, match="must end in"):
        run_export(tmp_path, rows, str(tmp_path / "o.txt"))


def test_ray_executor_writes_the_same_records(tmp_path, clips):
    pytest.importorskip("ray", reason="the Ray executor needs `pip install djlite[ray]`")
    rows = labelled_rows(tmp_path)
    rows.append({"id": "broken", "text": "x", "videos": [clips["broken"]]})
    local = run_export(tmp_path, rows, str(tmp_path / "local" / "r.tfrecord"))
    on_ray = run_export(tmp_path, rows, str(tmp_path / "ray" / "r.tfrecord"), executor_type="ray")
    assert on_ray.summary["kept"] == local.summary["kept"] == 3 and on_ray.summary["errored"] == 1
    shards = [sorted(p for p in r.result_paths if p.endswith(".tfrecord")) for r in (local, on_ray)]
    assert [os.path.basename(p) for p in shards[0]] == [os.path.basename(p) for p in shards[1]]
    for a, b in zip(*shards):
        assert list(read_records(a)) == list(read_records(b))  # byte for byte the same records
    assert len(on_ray.dataset) == 3 and "__dj__export_frames__" not in on_ray.dataset.column_names
    assert not [n for n in os.listdir(tmp_path / "ray") if n.startswith(".")]


def test_recipe_cleans_and_exports_mediasequence(tmp_path):
    from conftest import REPO
    from helpers import dj_process

    done = dj_process("--config", str(REPO / "recipes" / "mediasequence.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "outputs" / "mediasequence"
    shards = sorted(str(p) for p in out.glob("clips-*-of-*.tfrecord"))
    assert [os.path.basename(p) for p in shards] == ["clips-00000-of-00001.tfrecord"]
    sequences = read_sequences(shards)
    ids = [c["example/id"].values[0] for c, _ in sequences]
    assert ids == [b"moving"]  # static, text and short filtered, the re-encoded copy deduplicated, broken errored
    context, lists = sequences[0]
    assert context["clip/label/string"].values == [b"panning"] and context["clip/label/index"].values == [0]
    assert len(lists["image/encoded"]) == 72  # 3 s at 24 fps
    assert json.loads((out / "clips_label_map.json").read_text()) == {"panning": 0}
    assert [row["id"] for row in read_jsonl(out / "clips_errors.jsonl")] == ["broken"]
    assert not [n for n in os.listdir(out) if n.startswith(".")]


def test_a_samples_own_clip_window(tmp_path):
    rows = labelled_rows(tmp_path)[:1]
    rows[0].update(clip_start=0.5, clip_end=1.0, id="moving_clip")
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "w.tfrecord"), export_extra_args={"flow": True})
    ((context, lists),) = read_sequences(result.result_paths)
    timestamps = [f.values[0] for f in lists["image/timestamp"]]
    expected = [round(f.time * 1e6) for f in decode_plan(rows[0]["videos"][0], fps(24)) if 0.5 <= f.time + 1e-9 < 1.0]
    assert timestamps == expected and len(timestamps) == 12
    assert context["clip/start/timestamp"].values == [500000] and context["clip/end/timestamp"].values == [1000000]
    assert [f.values[0] for f in lists["FORWARD_FLOW/image/timestamp"]] == timestamps[:-1]


def test_a_null_clip_window_field_leaves_the_options_window(tmp_path):
    """A dataset whose other rows have clip_start / clip_end holds null in this row's: the option's window stands,
    for the record's clip timestamps as for its frames."""
    rows = labelled_rows(tmp_path)[:1]
    rows[0].update(clip_start=None, clip_end=None)
    extra = {"clip_start": 0.5, "clip_end": 1.0}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "n.tfrecord"), export_extra_args=extra)
    ((context, lists),) = read_sequences(result.result_paths)
    timestamps = [f.values[0] for f in lists["image/timestamp"]]
    assert timestamps and all(500000 <= t < 1000000 for t in timestamps)
    assert context["clip/start/timestamp"].values == [500000] and context["clip/end/timestamp"].values == [1000000]


EMBED = [{"video_frame_embedding_mapper": {"sampling_fps": 4.0}}]  # model-free backend: core install, 384-d
FLOATS = {"float_features": {"key": "video_frame_embeddings", "prefix": "EMBEDDING"}}


def test_frame_embeddings_export_as_feature_floats(tmp_path):
    from djlite.embed.store import read_frame_embeddings

    rows = labelled_rows(tmp_path)
    rows[1].update(clip_start=0.5, clip_end=1.25)  # the features follow the sample's clip window, as the frames do
    rows[2]["video_frame_embeddings"] = [str(tmp_path / "gone.npy")]  # a sidecar that does not exist
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "e.tfrecord"), process=EMBED, export_extra_args=FLOATS)
    assert result.summary["kept"] == 2 and result.summary["errored"] == 1
    (error,) = read_jsonl(result.errors_path)
    assert error["id"] == "static" and error["__dj__errors__"][0]["op"] == "export_frames"
    assert "gone.npy" in error["__dj__errors__"][0]["error"]
    sidecars = {row["id"]: row["video_frame_embeddings"][0] for row in result.dataset}
    sequences = {c["example/id"].values[0].decode(): (c, f) for c, f in read_sequences(result.result_paths)}
    assert sorted(sequences) == ["moving", "panning"]
    for name, (context, lists) in sequences.items():
        stored = read_frame_embeddings(sidecars[name])
        times = np.round(stored.times * 1e6).astype(int)
        keep = (times >= 500000) & (times < 1250000) if name == "panning" else np.ones(len(times), bool)
        timestamps = [f.values[0] for f in lists["EMBEDDING/feature/timestamp"]]
        assert timestamps == times[keep].tolist() and len(timestamps) >= 3
        floats = np.array([f.values for f in lists["EMBEDDING/feature/floats"]], dtype=np.float32)
        assert np.array_equal(floats, stored.vectors[keep])  # float16 sidecar values are exact in float32
        assert context["EMBEDDING/feature/dimensions"].values == [stored.vectors.shape[1]] == [384]
        rate = context["EMBEDDING/feature/rate"].values[0]
        assert rate == pytest.approx(1e6 / (timestamps[1] - timestamps[0]), rel=1e-6)
        assert rate == pytest.approx(4.0, rel=0.15)  # a 4 fps grid snapped to the video's own frames
        assert len(lists["image/encoded"]) > len(timestamps)  # the 24 fps frames are untouched


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"prefix": "embedding"}, "upper-case"),
        ({"key": "video_frame_embeddings"}, "upper-case"),
        ({"prefix": "EMBEDDING", "dims": 3}, "must be"),
        ([{"prefix": "A"}, {"key": "other", "prefix": "A"}], "must differ"),
    ],
)
def test_float_features_option_errors(tmp_path, spec, message):
    from djlite.formats.mediasequence_layout import MediaSequenceLayout

    with pytest.raises(RecipeError, match=message):
        MediaSequenceLayout({"float_features": spec})


def test_float_feature_timestamps_must_increase():
    from djlite.formats.mediasequence import FloatFeatures

    frame = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    features = FloatFeatures("EMBEDDING", [0, 250000, 250000], np.zeros((3, 2)))
    with pytest.raises(RecordError, match="EMBEDDING/feature/timestamp must be strictly increasing"):
        build_media_sequence(example_id="x", data_path="x.mp4", timestamps_us=[0], images=[frame],
                             float_features=[features])  # fmt: skip
