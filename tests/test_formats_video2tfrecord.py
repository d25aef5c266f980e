"""video2tfrecord's layout: blob/<i>, height, width, depth; batch_<k>_of_<N>.tfrecords; frames spread evenly."""

import math
import os

import numpy as np
import pytest
from formats_helpers import labelled_rows, rows_with_ids, run_export

from djlite.errors import RecipeError
from djlite.formats.example import decode_example
from djlite.formats.tfrecord import read_records
from djlite.video.reader import decode_plan
from djlite.video.sampling import all_frames


def examples(paths):
    return [decode_example(r) for p in sorted(paths) if p.endswith(".tfrecords") for r in read_records(p)]


def test_even_spread_reaches_the_tail_and_batches_are_named(tmp_path):
    rows = labelled_rows(tmp_path)
    extra = {"num_frames": 4, "n_videos_in_record": 2}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "v.tfrecords"), export_extra_args=extra)
    names = sorted(os.path.basename(p) for p in result.result_paths if p.endswith(".tfrecords"))
    assert names == ["batch_1_of_2.tfrecords", "batch_2_of_2.tfrecords"]
    found = examples(result.result_paths)
    assert [e["id"].values for e in found] == [[b"moving"], [b"panning"], [b"static"]]
    for row, example in zip(rows, found):
        frames = decode_plan(row["videos"][0], all_frames())
        count = len(frames)
        wanted = [math.floor((i + 0.5) * count / 4) for i in range(4)]  # bin centres, not video2tfrecord's floor(T/n)
        assert wanted[-1] >= count * 3 // 4  # the last quarter of the video is sampled
        assert example["timestamp"].values == [round(frames[i].time * 1e6) for i in wanted]
        assert sorted(k for k in example if k.startswith("blob/")) == [f"blob/{i}" for i in range(4)]
        assert example["depth"].values == [3] and example["height"].values == [frames[0].rgb().shape[0]]
    assert found[0]["label/string"].values == [b"galaxy", b"nebula"] and "label/string" not in found[2]


def test_raw_payload_with_a_flow_channel(tmp_path):
    rows = labelled_rows(tmp_path)[:1]
    extra = {"num_frames": 3, "payload": "raw", "flow": True, "key_prefix": "blobs/"}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "v.tfrecords"), export_extra_args=extra)
    (example,) = examples(result.result_paths)
    height, width = example["height"].values[0], example["width"].values[0]
    assert example["depth"].values == [4]
    first, second = (np.frombuffer(example[f"blobs/{i}"].values[0], np.uint8) for i in range(2))
    assert first.size == height * width * 4
    first, second = first.reshape(height, width, 4), second.reshape(height, width, 4)
    assert not first[..., 3].any()  # no flow into the first frame
    assert second[..., 3].mean() > 10  # the clip pans: real flow into the second
    frames = decode_plan(rows[0]["videos"][0], all_frames())
    assert np.array_equal(first[..., :3], frames[round((0.5) * len(frames) / 3)].rgb())


def test_bad_options(tmp_path):
    rows = labelled_rows(tmp_path)[:1]
    with pytest.raises(RecipeError, match="payload: raw"):
        run_export(tmp_path, rows, str(tmp_path / "v.tfrecords"), export_extra_args={"flow": True})
    with pytest.raises(RecipeError, match="num_frames"):
        run_export(tmp_path, rows, str(tmp_path / "v.tfrecords"), export_extra_args={"num_frames": 0})


def test_repeated_ids_give_distinct_record_ids(tmp_path):
    rows = rows_with_ids(tmp_path, ["clip", "clip", "clip~2", "clip"])
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "d.tfrecords"), export_extra_args={"num_frames": 2})
    found = examples(result.result_paths)
    assert [e["id"].values[0] for e in found] == [b"clip", b"clip~2", b"clip~2~2", b"clip~3"]
    assert [e["path"].values[0].decode() for e in found] == [row["videos"][0] for row in rows]


def test_an_export_with_no_video_is_one_empty_file_in_the_asked_compression(tmp_path):
    from djlite.formats.tfrecord import detect_compression
    from djlite.formats.video2tfrecord import Video2TFRecordLayout

    layout = Video2TFRecordLayout({"compression": "GZIP"})
    layout.setup()
    (path,) = layout.write(lambda: iter([]), str(tmp_path / "out" / "v.tfrecords"))
    assert os.path.basename(path) == "batch_1_of_1.tfrecords"
    assert detect_compression(path) == "GZIP" and list(read_records(path, "GZIP")) == []
