"""One sample in, many out: the stage's marks, the per-op and per-run accounting, dj-analyze's counts."""

import shutil

from conftest import REPO
from helpers import read_jsonl, write_jsonl, write_recipe

import djlite
from djlite.analysis.analyzer import analyze_recipe
from djlite.core.stage import split_stages
from djlite.fields import Fields
from djlite.ops.filter.video_duration_filter import VideoDurationFilter
from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
from djlite.recipe import load_recipe


def test_a_one_to_many_mapper_ends_its_stage():
    ops = [VideoDurationFilter(), VideoSplitByDurationMapper(), VideoDurationFilter(), VideoDurationFilter()]
    assert [[step for step, _ in stage] for stage in split_stages(ops)] == [[0, 1], [2, 3]]


def test_originals_kept_clips_filtered_and_errors_balance(tmp_path, clips):
    # moving: 3 s -> clips of 1, 1, 1 s; short: 0.5 s, filtered before the split; broken: errors at the split.
    rows = [{"id": k, "text": f"<__dj__video> {k}", "videos": [clips[k]]} for k in ("moving", "short", "broken")]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    process = [
        {"video_duration_filter": {"min_duration": 1}},
        {"video_split_by_duration_mapper": {"split_duration": 1}},  # keep_original_sample: true (default)
        {"video_duration_filter": {"max_duration": 2}},  # drops the 3 s original, keeps the clips
    ]
    result = djlite.run(str(write_recipe(tmp_path / "r.yaml", data, process)))
    ops = {op["step"]: op for op in result.summary["ops"]}
    assert (ops[0]["input"], ops[0]["kept"], ops[0]["filtered"], ops[0]["errors"]) == (3, 1, 1, 1)
    assert (ops[1]["input"], ops[1]["kept"], ops[1]["created"], ops[1]["consumed"]) == (1, 4, 3, 0)
    assert (ops[2]["input"], ops[2]["kept"], ops[2]["filtered"]) == (4, 3, 1)
    assert result.summary["balanced"] and result.summary["kept"] == 3
    kept = read_jsonl(result.result_paths[0])
    assert [row[Fields.clip]["index"] for row in kept] == [0, 1, 2]
    assert all(row[Fields.source_file] == [clips["moving"]] for row in kept)


def test_dj_analyze_shows_what_the_split_made(tmp_path):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes", ignore=shutil.ignore_patterns("outputs"))
    recipe = load_recipe(str(tmp_path / "recipes" / "clips.yaml"), overrides={"np": 1})
    result = analyze_recipe(recipe, thumbnails=False)
    html = open(result.files["report.html"]).read()
    assert "video_split_by_scene_mapper: new samples (clips) / originals replaced" in html
    assert "4 / 1" in html


def test_clips_recipe_filters_each_clip_on_its_own(tmp_path):
    shutil.copytree(REPO / "recipes", tmp_path / "recipes", ignore=shutil.ignore_patterns("outputs"))
    result = djlite.run(str(tmp_path / "recipes" / "clips.yaml"), export_path=str(tmp_path / "out" / "clips.jsonl"))
    ops = {op["op"]: op for op in result.summary["ops"]}
    assert ops["video_split_by_scene_mapper"]["created"] == 4
    # still scene -> motion, burned-in text -> OCR, the first scene again -> near-dedup: one clip each.
    assert [ops[name]["filtered"] for name in list(ops)[1:]] == [1, 1, 1]
    (kept,) = read_jsonl(result.result_paths[0])
    assert kept[Fields.clip] == {
        "source": str(tmp_path / "recipes" / "clips_data" / "scenes.mp4"),
        "start": 0.0,
        "end": 2.0,
        "index": 0,
    }
    assert (tmp_path / "out" / "__dj__produced_data__" / "video_split_by_scene_mapper").is_dir()
