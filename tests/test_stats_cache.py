"""The per-video stats cache: a threshold-only change re-runs without opening a video; a changed video is redone."""

import os
import shutil

import pytest
from helpers import read_jsonl, video_samples, write_jsonl, write_recipe

import djlite
import djlite.video.context as context_module
import djlite.video.reader as reader_module
from djlite.fields import Fields
from djlite.ops.filter.video_duration_filter import VideoDurationFilter
from djlite.ops.filter.video_motion_score_filter import VideoMotionScoreFilter
from djlite.ops.filter.video_ocr_area_ratio_filter import VideoOcrAreaRatioFilter
from djlite.stats_cache import StatsCache, op_key, stat_params


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "stats-cache"
    monkeypatch.setenv("DJLITE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def opened(monkeypatch):
    """Counts every probe and every decode pass the runner makes (np=1 runs in this process)."""
    counts = {"probe": 0, "decode": 0}
    probe, read = context_module.probe_video, reader_module.read_frames

    def counting_probe(path):
        counts["probe"] += 1
        return probe(path)

    def counting_read(info, consumers, *args, **kwargs):
        counts["decode"] += 1
        return read(info, consumers, *args, **kwargs)

    monkeypatch.setattr(context_module, "probe_video", counting_probe)
    monkeypatch.setattr(reader_module, "read_frames", counting_read)
    return counts


def test_thresholds_and_decision_flags_are_not_part_of_the_key():
    base = VideoMotionScoreFilter()
    assert op_key(base) == op_key(VideoMotionScoreFilter(min_score=3, max_score=9, any_or_all="all"))
    assert op_key(base) == op_key(VideoMotionScoreFilter(reversed_range=True, min_closed_interval=False))
    assert op_key(base) == op_key(VideoMotionScoreFilter(num_proc=3, video_key="clips", batch_size=7))
    # max_size is a resize setting, not a bound of video_motion_score: it changes the stat.
    assert "max_size" in stat_params(base) and "min_score" not in stat_params(base)
    assert op_key(base) != op_key(VideoMotionScoreFilter(max_size=64))
    assert op_key(base) != op_key(VideoMotionScoreFilter(sampling_fps=4))
    ocr = VideoOcrAreaRatioFilter()
    assert op_key(ocr) == op_key(VideoOcrAreaRatioFilter(max_area_ratio=0.01))
    assert op_key(ocr) != op_key(VideoOcrAreaRatioFilter(frame_sample_num=5))
    assert op_key(VideoDurationFilter()) == op_key(VideoDurationFilter(min_duration=2, max_duration=3))
    assert op_key(VideoDurationFilter()) != op_key(base)


def test_which_parameters_are_thresholds_is_the_ops_declaration_read_alike_by_the_cache_and_dj_analyze():
    """Issue 20: the cache asked dj-analyze's naming heuristic which parameters bound a stat; an op that declares
    its bounds itself (here `bound_params` overridden: a `cutoff` no min_/max_ name reveals) got its threshold
    into the cache key, so changing it recomputed every video. Both now read the op's own declaration."""
    from djlite.analysis.thresholds import recipe_bounds
    from djlite.ops.base import Filter

    class BrightnessFilter(Filter):
        stats_features = {"video_brightness": None}

        def __init__(self, cutoff: float = 0.5, size: int = 64, **kwargs):
            super().__init__(**kwargs)
            self.cutoff = cutoff
            self.size = size

        def bound_params(self):
            return {"video_brightness": ("cutoff", None)}

    op = BrightnessFilter()
    assert "cutoff" in op.threshold_params and "size" not in op.threshold_params
    assert op_key(op) == op_key(BrightnessFilter(cutoff=0.9, reversed_range=True))
    assert op_key(op) != op_key(BrightnessFilter(size=32))
    (bound,) = recipe_bounds([(1, BrightnessFilter(cutoff=0.9))])["video_brightness"]
    assert (bound.low_param, bound.low, bound.high) == ("cutoff", 0.9, None)


def test_threshold_change_reuses_every_stat_without_opening_a_video(tmp_path, clips, cache_dir, opened):
    videos = [clips[name] for name in ("moving", "static", "text", "short")]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(videos))
    process = [{"video_duration_filter": {"min_duration": 0.5}}, {"video_motion_score_filter": {"min_score": 0.25}}]
    first = djlite.run(str(write_recipe(tmp_path / "a.yaml", dataset, process)))
    assert opened["probe"] == len(videos) and opened["decode"] >= 3
    opened.update(probe=0, decode=0)

    process[1]["video_motion_score_filter"]["min_score"] = 0.0
    process[0]["video_duration_filter"]["min_duration"] = 0.0
    second = djlite.run(str(write_recipe(tmp_path / "b.yaml", dataset, process)))
    assert opened == {"probe": 0, "decode": 0}  # every stat came from the cache
    assert second.summary["kept"] > first.summary["kept"]
    assert second.summary["balanced"] and second.summary["errored"] == first.summary["errored"] == 0
    by_video = {tuple(r["videos"]): r for r in read_jsonl(second.result_paths[0])}
    stats_second = read_jsonl(second.stats_path)
    stats_first = read_jsonl(first.stats_path)
    assert len(by_video) == len(stats_second)
    assert all(row in stats_second for row in stats_first)  # the same numbers, served from the cache

    # dj-analyze's stats pass on the same data with other thresholds reuses them too.
    opened.update(probe=0, decode=0)
    djlite.run(str(write_recipe(tmp_path / "c.yaml", dataset, process)), stats_only=True)
    assert opened == {"probe": 0, "decode": 0}


def test_a_changed_stat_parameter_recomputes(tmp_path, clips, cache_dir, opened):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    process = [{"video_motion_score_filter": {"min_score": 0}}]
    djlite.run(str(write_recipe(tmp_path / "a.yaml", dataset, process)))
    opened.update(probe=0, decode=0)
    process[0]["video_motion_score_filter"]["sampling_fps"] = 1
    djlite.run(str(write_recipe(tmp_path / "b.yaml", dataset, process)))
    assert opened["decode"] == 1


def test_only_the_uncached_frame_op_decodes(tmp_path, clips, cache_dir, monkeypatch):
    """Motion cached, near-duplicate signatures not: the shared decode must not feed motion again."""
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    djlite.run(str(write_recipe(tmp_path / "a.yaml", dataset, [{"video_motion_score_filter": {"min_score": 0}}])))
    fed = []
    original = VideoMotionScoreFilter.frame_consumer

    def spy(self, info):
        fed.append(info.path)
        return original(self, info)

    monkeypatch.setattr(VideoMotionScoreFilter, "frame_consumer", spy)
    process = [{"video_motion_score_filter": {"min_score": 1}}, {"video_near_deduplicator": {}}]
    res = djlite.run(str(write_recipe(tmp_path / "b.yaml", dataset, process)))
    assert fed == [] and res.summary["balanced"]


def test_replaced_or_deleted_video_is_recomputed(tmp_path, clips, cache_dir):
    """Issue 15.5: the cache (stats cache and datasets' cache both) is keyed on what the video is."""
    video = tmp_path / "clip.mp4"
    shutil.copy(clips["moving"], video)
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([video]))
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}]))
    first = djlite.run(recipe)
    duration = read_jsonl(first.stats_path)[0][Fields.stats]["video_duration"]

    shutil.copy(clips["short"], video)  # same path, another video
    os.utime(video, ns=(1, 1))  # even with an old timestamp: the size differs
    second = djlite.run(recipe)
    assert read_jsonl(second.stats_path)[0][Fields.stats]["video_duration"] != duration

    video.unlink()
    third = djlite.run(recipe)
    assert third.summary["errored"] == 1 and third.summary["kept"] == 0


def test_unchanged_rerun_reuses_and_use_cache_false_bypasses(tmp_path, clips, cache_dir, opened):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}]))
    djlite.run(recipe)
    opened.update(probe=0, decode=0)
    djlite.run(recipe)
    assert opened["probe"] == 0
    djlite.run(recipe, use_cache=False)
    assert opened["probe"] == 1


def test_unusable_cache_folder_costs_time_not_results(tmp_path, clips, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("DJLITE_CACHE_DIR", str(blocker))
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    assert res.summary["kept"] == 1 and StatsCache().get(VideoDurationFilter(), clips["moving"]) is None


def test_near_duplicate_signatures_are_reused_when_only_the_threshold_changes(tmp_path, clips, cache_dir, opened):
    videos = [clips[n] for n in ("moving", "moving_reencoded", "static")]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(videos))
    process = [{"video_near_deduplicator": {"threshold": 0.15}}]
    first = djlite.run(str(write_recipe(tmp_path / "a.yaml", dataset, process)))
    assert opened["decode"] == len(videos) and first.summary["filtered"] == 1
    opened.update(probe=0, decode=0)
    process[0]["video_near_deduplicator"].update(threshold=0.01, keep="longest")
    second = djlite.run(str(write_recipe(tmp_path / "b.yaml", dataset, process)))
    assert opened == {"probe": 0, "decode": 0} and second.summary["balanced"]
    process[0]["video_near_deduplicator"]["sampling_fps"] = 2  # changes the signatures: recomputed
    djlite.run(str(write_recipe(tmp_path / "c.yaml", dataset, process)))
    assert opened["decode"] == len(videos)


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", "null", '{"unexpected": true}'])
def test_garbage_in_the_cache_is_a_miss_that_repairs_itself(tmp_path, clips, cache_dir, garbage):
    # json.loads ran outside any guard: a damaged entry turned every good sample that hit it into an error record.
    import sqlite3

    videos = [clips["moving"], clips["static"]]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(videos))
    process = [{"video_duration_filter": {}}, {"video_motion_score_filter": {}}, {"video_near_deduplicator": {}}]
    djlite.run(str(write_recipe(tmp_path / "warm.yaml", dataset, process)))
    # New thresholds: datasets' cache misses, the stats cache is asked for every stat.
    process[1]["video_motion_score_filter"]["min_score"] = 0.5
    process[2]["video_near_deduplicator"]["threshold"] = 0.2
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, process))
    fresh = djlite.run(recipe, use_cache=False)
    with sqlite3.connect(cache_dir / "stats.sqlite") as conn:
        damaged = conn.execute("UPDATE stats SET value=?", (garbage,)).rowcount
    assert damaged > len(videos)  # entries of every op
    again = djlite.run(recipe)
    assert again.summary == fresh.summary | {"seconds": again.summary["seconds"], "ops": again.summary["ops"]}
    assert again.summary["errored"] == 0 and again.summary["kept"] == fresh.summary["kept"]
    assert read_jsonl(again.stats_path) == read_jsonl(fresh.stats_path)
    with sqlite3.connect(cache_dir / "stats.sqlite") as conn:  # the damaged entries were written anew
        values = [row[0] for row in conn.execute("SELECT value FROM stats")]
    assert values and garbage not in values


def test_an_incomplete_entry_is_a_miss_before_the_shared_decode(tmp_path, clips, cache_dir, opened):
    """An entry missing one of the filter's stats was found unusable only when the op read it (a decode hook in
    VideoContext.video_stats), after the shared decode had left that op's consumer out on the strength of `has`:
    a second decode of the video for it. The cache itself now refuses such an entry, so `has` and `get` agree."""
    import sqlite3

    videos = [clips["moving"], clips["static"]]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(videos))
    process = [
        {"video_motion_score_filter": {"min_score": 0}},
        {"video_ocr_area_ratio_filter": {}},
    ]
    djlite.run(str(write_recipe(tmp_path / "warm.yaml", dataset, process)))
    process[0]["video_motion_score_filter"]["max_score"] = 1000  # datasets' cache misses: the stats cache is asked
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, process))
    fresh = djlite.run(recipe, use_cache=False)
    with sqlite3.connect(cache_dir / "stats.sqlite") as conn:
        assert conn.execute("UPDATE stats SET value=?", ('{"unexpected": true}',)).rowcount == 2 * len(videos)
    opened.update(probe=0, decode=0)
    again = djlite.run(recipe)
    assert opened["decode"] == len(videos)  # one decode per video feeds both filters
    assert read_jsonl(again.stats_path) == read_jsonl(fresh.stats_path)
