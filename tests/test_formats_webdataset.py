"""WebDataset shards: <key>.json (the sample with its stats) plus <key>.<i>.jpg frames, or the clip itself; keys
that are safe, bounded and unique whatever ids come in."""

import json
import os
import tarfile

import cv2
import numpy as np
import pytest
from formats_helpers import labelled_rows, needs_readers, rows_with_ids, run_export, run_reader, tar_members

from djlite.formats.keys import MAX_MEMBER_KEY_BYTES
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


# ---------------------------------------------------------------- keys: sanitised, bounded, unique


def _samples(shards) -> list[tuple[str, dict[str, bytes]]]:
    """(key, {suffix: bytes}) per sample, grouped as WebDataset groups consecutive members (name up to the first
    dot), without merging: a member name seen twice in one group is a failure here, as it is for WebDataset."""
    samples = []
    for shard in shards:
        for name, data in tar_members(shard):
            key, suffix = name.split(".", 1)
            if not samples or samples[-1][0] != key:
                samples.append((key, {}))
            assert suffix not in samples[-1][1], f"{name}: two members of one sample share a name"
            samples[-1][1][suffix] = data
    return samples


DUPLICATE_IDS = ["clip", "clip", "clip", "a.b", "a_b", "solo", "clip"]
AWKWARD_IDS = [
    "x" * 300,  # a USTAR name holds 100 bytes
    "x" * 300 + "y",  # the same first 80 bytes: still two keys
    "nul\x00and\nnewline",
    "dir/sub/name",
    "..hidden",
    "back\\slash",
    "ünïcode-ключ-" + "ж" * 60,
    "",  # no id: the sample's position
]


def test_duplicate_ids_give_one_sample_per_row_and_keep_the_original_id(tmp_path):
    rows = rows_with_ids(tmp_path, DUPLICATE_IDS)
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "d.tar"), export_extra_args={"fps": 2})
    samples = _samples(sorted(p for p in result.result_paths if p.endswith(".tar")))
    keys = [key for key, _ in samples]
    assert len(samples) == len(rows) and len(set(keys)) == len(rows)
    metas = [json.loads(members["json"]) for _, members in samples]
    assert [m["id"] for m in metas] == DUPLICATE_IDS  # the original ids, in order
    assert [m["__key__"] for m in metas] == keys
    assert keys[:6] == ["clip", "clip~2", "clip~3", "a_b", "a_b~2", "solo"]
    for _, members in samples:
        frames = sorted(s for s in members if s.endswith(".jpg"))
        assert frames and frames == [f"{i:04d}.jpg" for i in range(len(frames))]  # each row's own frames


def test_extracting_a_clip_export_keeps_every_clip(tmp_path):
    rows = rows_with_ids(tmp_path, DUPLICATE_IDS)
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "c.tar"), export_extra_args={"payload": "clip"})
    (shard,) = [p for p in result.result_paths if p.endswith(".tar")]
    names = [name for name, _ in tar_members(shard)]
    assert len(names) == len(set(names)) == 2 * len(rows)
    with tarfile.open(shard) as tar:  # what `tar xf` does: a later member of the same name replaces the earlier
        tar.extractall(tmp_path / "x", filter="data")
    clips = sorted((tmp_path / "x").glob("*.mp4"))
    assert len(clips) == len(rows)
    by_key = {json.loads((tmp_path / "x" / f"{c.stem}.json").read_text())["id"] for c in clips}
    assert by_key == set(DUPLICATE_IDS)


def test_awkward_ids_become_bounded_safe_keys(tmp_path):
    rows = rows_with_ids(tmp_path, AWKWARD_IDS)
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "k.tar"), export_extra_args={"fps": 2})
    (shard,) = [p for p in result.result_paths if p.endswith(".tar")]
    samples = _samples([shard])
    assert len(samples) == len(rows) and len({key for key, _ in samples}) == len(rows)
    for (key, members), row in zip(samples, rows):
        assert len(key.encode("utf-8")) <= MAX_MEMBER_KEY_BYTES
        assert not set(key) & set("\x00\n/\\.") and key
        meta = json.loads(members["json"])
        assert meta["__key__"] == key and meta["id"] == row["id"]
    keys = [key for key, _ in samples]
    assert keys[0] != keys[1] and keys[0][:60] == keys[1][:60] == "x" * 60
    assert keys[2:6] == ["nul_and_newline", "dir_sub_name", "__hidden", "back_slash"]
    assert keys[7] == f"{7:09d}"
    with tarfile.open(shard) as tar:  # every name fits a plain USTAR header: no pax header was needed for them
        assert all(len(m.name.encode()) <= 100 for m in tar.getmembers())


def test_the_same_rows_give_the_same_bytes(tmp_path):
    rows = rows_with_ids(tmp_path, DUPLICATE_IDS + AWKWARD_IDS)
    first = run_export(tmp_path, rows, str(tmp_path / "a" / "w.tar"), export_extra_args={"shard_records": 5})
    again = run_export(tmp_path, rows, str(tmp_path / "b" / "w.tar"), export_extra_args={"shard_records": 5})
    assert len(first.result_paths) == 3
    assert [open(p, "rb").read() for p in first.result_paths] == [open(p, "rb").read() for p in again.result_paths]


@needs_readers
@pytest.mark.parametrize("ids", [DUPLICATE_IDS, AWKWARD_IDS], ids=["duplicate", "awkward"])
def test_webdataset_reads_duplicate_and_awkward_ids_as_one_sample_per_row(tmp_path, ids):
    rows = rows_with_ids(tmp_path, ids)
    extra = {"fps": 2, "shard_records": 4}
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "w.tar"), export_extra_args=extra)
    shards = sorted(p for p in result.result_paths if p.endswith(".tar"))
    (samples,) = run_reader("check_with_tensorflow.py", {"webdataset": [{"urls": shards}]})["webdataset"]
    assert [s["json"]["id"] for s in samples] == ids
    assert [s["json"]["__key__"] for s in samples] == [s["key"] for s in samples]
    assert len({s["key"] for s in samples}) == len(rows)
    assert all(s["jpgs"] and "json" in s["suffixes"] for s in samples)


def test_ray_executor_writes_the_same_shards(tmp_path):
    pytest.importorskip("ray", reason="the Ray executor needs `pip install djlite[ray]`")
    rows = rows_with_ids(tmp_path, DUPLICATE_IDS)
    extra = {"fps": 2, "shard_records": 3}
    local = run_export(tmp_path, rows, str(tmp_path / "local" / "w.tar"), export_extra_args=extra)
    on_ray = run_export(tmp_path, rows, str(tmp_path / "ray" / "w.tar"), export_extra_args=extra, executor_type="ray")
    assert [os.path.basename(p) for p in on_ray.result_paths] == [os.path.basename(p) for p in local.result_paths]
    assert [open(p, "rb").read() for p in on_ray.result_paths] == [open(p, "rb").read() for p in local.result_paths]
    assert on_ray.dataset.to_list() == local.dataset.to_list()


def test_clips_of_a_split_are_one_sample_each_with_their_lineage(tmp_path):
    rows = labelled_rows(tmp_path)[:2]  # 2 s and 1.5 s: 2 clips each, plus the originals
    process = [{"video_split_by_duration_mapper": {"split_duration": 1}}]
    result = run_export(tmp_path, rows, str(tmp_path / "out" / "s.tar"), process=process, export_extra_args={"fps": 2})
    samples = _samples(sorted(p for p in result.result_paths if p.endswith(".tar")))
    assert len(samples) == result.summary["kept"] == len(result.dataset) == 6
    assert len({key for key, _ in samples}) == 6
    metas = [json.loads(members["json"]) for _, members in samples]
    assert [m["videos"] for m in metas] == result.dataset["videos"]  # every clip, once, in the result's order
    assert all(m["__key__"] == key for m, (key, _) in zip(metas, samples))
