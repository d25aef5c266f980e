"""What a split gives each clip sample beyond its file: its own id, the stats of its own file, and a clip folder
that a killed run's temporaries do not litter; and a re-run after the outputs were deleted writes the clips again.
"""

import os
import shutil
import subprocess

import pytest
from helpers import read_jsonl, write_jsonl, write_recipe
from synthetic import make_scenes

import djlite
from djlite.fields import Fields
from djlite.ops.base import FailedClip
from djlite.ops.filter.video_aspect_ratio_filter import VideoAspectRatioFilter
from djlite.ops.filter.video_duration_filter import VideoDurationFilter
from djlite.ops.filter.video_resolution_filter import VideoResolutionFilter
from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
from djlite.ops.mapper.video_split_by_key_frame_mapper import VideoSplitByKeyFrameMapper


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    path, _ = make_scenes(str(tmp_path_factory.mktemp("src") / "scenes.mp4"), (2.0, 3.0, 1.5), gop=24)
    return path


def test_clip_ids_are_unique_and_stable_across_runs(tmp_path, scenes, clips):
    rows = [
        {"id": "a", "text": "<__dj__video> a", "videos": [scenes]},
        {"id": "b", "text": "<__dj__video> b <__dj__video> b2", "videos": [clips["moving"], scenes]},
        {"text": "<__dj__video> no id", "videos": [clips["moving"]]},
    ]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", data, [{"video_split_by_duration_mapper": {"split_duration": 2}}])
    first = read_jsonl(djlite.run(str(recipe)).result_paths[0])
    ids = [row.get("id") for row in first]
    # The originals first (keep_original_sample), then their clips, counted across a sample's videos.
    assert ids[:5] == ["a", "a_0", "a_1", "a_2", "a_3"]  # 6.5 s: 4 clips
    assert ids[5:12] == ["b", "b_0", "b_1", "b_2", "b_3", "b_4", "b_5"]  # 3 s and 6.5 s: 2 + 4 clips
    assert ids[12:] == [None] * 3, "a sample without an id gives clips without one"
    named = [i for i in ids if i is not None]
    assert len(named) == len(set(named))
    again = read_jsonl(djlite.run(str(recipe), use_cache=False).result_paths[0])
    assert [row.get("id") for row in again] == ids
    assert [row["videos"] for row in again] == [row["videos"] for row in first]


def test_integer_parent_ids_become_strings(tmp_path, scenes):
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": 7, "text": "<__dj__video>", "videos": [scenes]}])
    recipe = write_recipe(tmp_path / "r.yaml", data, [{"video_split_by_duration_mapper": {"split_duration": 3}}])
    rows = read_jsonl(djlite.run(str(recipe)).result_paths[0])
    assert [row["id"] for row in rows] == ["7", "7_0", "7_1", "7_2"]


def test_data_juicer_layout_keeps_the_parent_id(tmp_path, scenes):
    op = VideoSplitByDurationMapper(split_duration=2, one_sample_per_clip=False, save_dir=str(tmp_path))
    (original, combined) = op.process({"id": "p", "text": "<__dj__video>", "videos": [scenes]})
    assert original["id"] == combined["id"] == "p"
    assert len(combined["videos"]) == 4 and len(combined[Fields.stats]["video_duration"]) == 4


FILE_FILTERS = (VideoDurationFilter, VideoResolutionFilter, VideoAspectRatioFilter)


def filters_on(path: str) -> dict:
    """The stats the file-describing filters compute on `path`, each from scratch."""
    stats = {}
    for cls in FILE_FILTERS:
        stats.update(cls().compute_stats({"videos": [path]})[Fields.stats])
    return stats


@pytest.mark.parametrize("mode", ["copy", "reencode"])
def test_clip_stats_are_what_the_filters_compute_on_the_clip_files(corpus_videos, tmp_path, mode):
    # cockatoo: its audio outlasts a copied clip's video a little, so the file's duration is not the span's.
    source = str(corpus_videos / "imageio__cockatoo.mp4")
    op = VideoSplitByDurationMapper(split_duration=5, keep_original_sample=False, cut_mode=mode, save_dir=str(tmp_path))
    parent = {"videos": [source], Fields.stats: {"video_motion_score": [3.2], "video_duration": [14.0]}}
    made = op.split(parent)
    assert len(made) == 3 and not any(isinstance(m, FailedClip) for m in made)
    for clip in made:
        stats = clip[Fields.stats]
        assert stats == filters_on(clip["videos"][0]), "the same keys, values and types"
        assert "video_motion_score" not in stats, "the parent's content stats describe another video"
    durations = [clip[Fields.stats]["video_duration"][0] for clip in made]
    assert durations != [5.0, 5.0, 4.0] if mode == "copy" else durations == pytest.approx([5.0, 5.0, 4.0], abs=0.02)


def test_a_later_filter_uses_the_clip_stats(tmp_path, scenes):
    # Keyframe clips of 1 s and the 0.5 s tail; a duration filter after the split keeps the clips of 1 s.
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "s", "text": "<__dj__video>", "videos": [scenes]}])
    process = [
        {"video_motion_score_filter": {"min_score": 0}},  # a content stat of the parent, before the split
        {"video_split_by_key_frame_mapper": {"keep_original_sample": False}},
        {"video_duration_filter": {"min_duration": 0.9}},
    ]
    result = djlite.run(str(write_recipe(tmp_path / "r.yaml", data, process)))
    kept = read_jsonl(result.result_paths[0])
    assert [row["id"] for row in kept] == [f"s_{n}" for n in range(6)]
    stats = read_jsonl(tmp_path / "out" / "res_stats.jsonl")
    assert all(row[Fields.stats]["video_duration"] == [pytest.approx(1.0)] for row in stats)
    assert all(row[Fields.stats].get("video_motion_score") is None for row in stats)


def test_a_killed_writers_temporaries_are_removed_and_a_live_ones_kept(tmp_path, scenes):
    folder = tmp_path / "clips"
    folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        left = folder / f".scenes__0123456789ab_000.tmp-djlite-{dead.pid}-x1y2z3.mp4"
        writing = folder / f".scenes__0123456789ab_001.tmp-djlite-{live.pid}-a1b2c3.mp4"
        for path in (left, writing):
            path.write_bytes(b"half a clip")
        VideoSplitByKeyFrameMapper(keep_original_sample=False, save_dir=str(folder)).split({"videos": [scenes]})
        names = os.listdir(folder)
        assert left.name not in names and writing.name in names
        assert len([n for n in names if not n.startswith(".")]) == 7
    finally:
        live.kill()
        live.wait()


def test_a_killed_write_leaves_a_temporary_with_the_writers_pid(tmp_path, scenes, monkeypatch):
    from djlite.video import clip_writer

    def killed(self):
        raise KeyboardInterrupt  # the process dies between writing the clip and renaming it

    monkeypatch.setattr(clip_writer._Output, "finish", killed)
    with pytest.raises(KeyboardInterrupt):
        clip_writer.copy_clips(scenes, [(str(tmp_path / "c.mp4"), clip_writer.Span(0.0, 1.0))])
    (name,) = os.listdir(tmp_path)
    assert name.startswith(f".c.tmp-djlite-{os.getpid()}-") and name.endswith(".mp4")


@pytest.mark.parametrize("resume", [False, True])
def test_deleted_clips_are_written_again_by_a_re_run(tmp_path, scenes, resume):
    # The stage is served from datasets' cache (resume: from its checkpoint chunks), which names clip files that
    # are gone: every clip was "file not found" and the run exited 1.
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "s", "text": "<__dj__video>", "videos": [scenes]}])
    process = [
        {"video_split_by_key_frame_mapper": {"keep_original_sample": False}},
        {"video_duration_filter": {"min_duration": 0.9}},
    ]
    recipe = write_recipe(tmp_path / "r.yaml", data, process, **({"use_checkpoint": True} if resume else {}))
    first = djlite.run(str(recipe))
    assert first.summary["kept"] == 6
    # Without checkpoints a user deletes the outputs; with them, the clips alone (the checkpoint is beside them).
    shutil.rmtree(tmp_path / "out" / ("__dj__produced_data__" if resume else ""))
    again = djlite.run(str(recipe))
    assert again.summary["kept"] == 6 and again.summary["errored"] == 0
    rows = read_jsonl(again.result_paths[0])
    assert all(os.path.exists(row["videos"][0]) for row in rows)
