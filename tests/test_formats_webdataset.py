"""WebDataset shards: <key>.json (the sample with its stats) plus <key>.<i>.jpg frames, or the clip itself."""

import json
import os
import tarfile

import cv2
import numpy as np
from formats_helpers import labelled_rows, run_export

from djlite.video.reader import decode_plan
from djlite.video.sampling import fps


def members(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_frames_and_json_per_sample_in_shards(tmp_path):
    rows = labelled_rows(tmp_path)
    extra = {"shard_records": 2, "fps": 4}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "w.tar"), export_extra_args=extra)
    shards = sorted(p for p in result.result_paths if p.endswith(".tar"))
    assert [os.path.basename(p) for p in shards] == ["w-000000.tar", "w-000001.tar"]
    files = {**members(shards[0]), **members(shards[1])}
    sample = json.loads(files["moving.json"])
    assert sample["id"] == "moving" and sample["__dj__stats__"]["video_motion_score"][0] > 0
    frames = decode_plan(rows[0]["videos"][0], fps(4))
    assert sample["frames"][0]["timestamps_us"] == [round(f.time * 1e6) for f in frames]
    jpgs = sorted(n for n in files if n.startswith("moving.") and n.endswith(".jpg"))
    assert jpgs == [f"moving.{i:04d}.jpg" for i in range(len(frames))]
    image = cv2.imdecode(np.frombuffer(files[jpgs[0]], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == frames[0].bgr().shape
    # WebDataset groups members by the name up to the first dot: one key per sample.
    assert {n.split(".", 1)[0] for n in files} == {"moving", "panning", "static"}


def test_clip_payload_stores_the_video_itself(tmp_path):
    rows = labelled_rows(tmp_path)[:1]
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "c.tar"), export_extra_args={"payload": "clip"})
    (shard,) = [p for p in result.result_paths if p.endswith(".tar")]
    files = members(shard)
    assert sorted(files) == ["moving.json", "moving.mp4"]
    assert files["moving.mp4"] == open(rows[0]["videos"][0], "rb").read()
