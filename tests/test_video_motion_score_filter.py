"""video_motion_score_filter: Data-Juicer parity, keep rules, fixed quirks, bad inputs, the tutorial recipe."""

import shutil

import numpy as np
import pytest
from conftest import REPO
from synthetic import make_moving, make_static

import djlite
from djlite.errors import RecipeError, VideoError
from djlite.fields import Fields
from djlite.ops.filter.video_motion_score_filter import VideoMotionScoreFilter, resized_dimensions
from djlite.recipe import build_op
from djlite.video.probe import probe_video
from djlite.video.reader import read_frames

KEY = "video_motion_score"
# Data-Juicer 1.6.1 on this kind of machine (../shared/videos/README.md).
DJ_SCORES = {"video1": 1.8693169791, "video2": 3.5211102912, "video3": 1.1731424}


def stats_sample(*scores):
    return {Fields.stats: {KEY: list(scores)}}


def scores_of(op, *paths):
    sample = op.compute_stats({"videos": [str(p) for p in paths]})
    return sample[Fields.stats][KEY]


@pytest.fixture(scope="module")
def dj_default_scores(dj_videos):
    op = VideoMotionScoreFilter()
    return {name: scores_of(op, dj_videos / f"{name}.mp4")[0] for name in DJ_SCORES}


# ---------------------------------------------------------------------------------- parity


def test_scores_match_data_juicer(dj_default_scores):
    for name, expected in DJ_SCORES.items():
        assert dj_default_scores[name] == pytest.approx(expected, rel=1e-4), name


@pytest.mark.parametrize(
    "params, expected, min_score",
    [  # reference/data-juicer.md §3.2: the "correct" (w, h) resize column; each test keeps video1 and video2
        ({"size": 120}, (1.2045612, 1.8261579, 0.4698297), 1.0),
        ({"size": 120, "max_size": 160}, (1.3409114, 1.8261579, 0.3809617), 1.0),
        ({"size": [120, 160], "relative": True}, (0.0064208, 0.0091308, 0.0022462), 0.005),
    ],
)
def test_downscaled_scores_use_the_intended_size(dj_videos, params, expected, min_score):
    op = VideoMotionScoreFilter(min_score=min_score, **params)
    got = scores_of(op, *(dj_videos / f"{name}.mp4" for name in DJ_SCORES))
    assert got == pytest.approx(list(expected), rel=1e-4)
    assert [op.process(stats_sample(s)) for s in got] == [True, True, False]


def test_resize_rule_and_orientation():
    # (height, width) targets of reference/data-juicer.md §3.2 for video1 / video2 / video3.
    assert resized_dimensions(360, 640, (120,), None) == (120, 213)
    assert resized_dimensions(640, 480, (120,), None) == (160, 120)
    assert resized_dimensions(640, 362, (120,), None) == (212, 120)
    assert resized_dimensions(360, 640, (120,), 160) == (90, 160)
    assert resized_dimensions(360, 640, (120, 160), None) == (120, 160)
    assert resized_dimensions(640, 362, (120, 160), None) == (160, 120)
    assert resized_dimensions(360, 640, None, None) == (360, 640)
    assert resized_dimensions(360, 640, (120,), None, divisible=8) == (120, 208)


def test_flow_runs_on_a_landscape_picture_for_a_landscape_video(dj_videos):
    # Data-Juicer hands cv2.resize (h, w) as (w, h): its video1 frames come out 213 tall and 120 wide.
    from djlite.video.reader import decode_plan
    from djlite.video.sampling import uniform

    frame = decode_plan(str(dj_videos / "video1.mp4"), uniform(1))[0]
    assert VideoMotionScoreFilter(size=120).flow_input(frame).shape == (120, 213)


# ---------------------------------------------------------------------------------- keep rules


@pytest.mark.parametrize(
    "params, kept",
    [  # reference/data-juicer.md §3.2, test_video_motion_score_filter.py
        ({}, ["video1", "video2", "video3"]),
        ({"min_score": 3.0}, ["video2"]),
        ({"min_score": 0.0, "max_score": 1.5}, ["video3"]),
        ({"min_score": 1.5, "max_score": 3.0}, ["video1"]),
    ],
)
def test_keep_sets(dj_default_scores, params, kept):
    op = VideoMotionScoreFilter(**params)
    assert [n for n in DJ_SCORES if op.process(stats_sample(dj_default_scores[n]))] == kept


@pytest.mark.parametrize("mode, kept", [("any", [("video1", "video2"), ("video1", "video3")]), ("all", [])])
def test_any_and_all_on_multi_video_samples(dj_default_scores, mode, kept):
    op = VideoMotionScoreFilter(min_score=1.5, max_score=3.0, any_or_all=mode)
    samples = [("video1", "video2"), ("video2", "video3"), ("video1", "video3")]
    assert [s for s in samples if op.process(stats_sample(*(dj_default_scores[n] for n in s)))] == kept


def test_process_on_hand_written_stats():
    op = VideoMotionScoreFilter(min_score=1.0, max_score=2.0)
    assert op.process(stats_sample()) is True  # no videos: kept
    assert op.process(stats_sample(1.0)) and op.process(stats_sample(2.0))  # closed interval
    assert not op.process(stats_sample(-1.0))  # fewer than two sampled frames
    assert not op.process(stats_sample(2.5)) and op.process(stats_sample(2.5, 1.5))
    assert not VideoMotionScoreFilter(min_score=1.0, max_score=2.0, any_or_all="all").process(stats_sample(2.5, 1.5))
    opened = VideoMotionScoreFilter(min_score=1.0, max_score=2.0, min_closed_interval=False)
    assert not opened.process(stats_sample(1.0))
    assert VideoMotionScoreFilter(min_score=1.0, max_score=2.0, reversed_range=True).process(stats_sample(2.5))


def test_existing_stats_are_not_recomputed():
    sample = {"videos": ["/nonexistent.mp4"], Fields.stats: {KEY: [0.5]}}
    assert VideoMotionScoreFilter().compute_stats(sample)[Fields.stats][KEY] == [0.5]
    empty = VideoMotionScoreFilter().compute_stats({"videos": []})
    assert empty[Fields.stats][KEY] == []


# ---------------------------------------------------------------------------------- fixed quirks


def test_step_one_uses_each_frame_once(tmp_path):
    # 2 fps video at the default sampling_fps 2: step 1. Data-Juicer reads frame 1 twice (a zero pair).
    path = make_moving(str(tmp_path / "slow.mp4"), seconds=4, fps=2)
    op = VideoMotionScoreFilter()
    info = probe_video(path)
    assert op.sampling_step(info) == 1
    consumer = op.frame_consumer(info)
    read_frames(info, [consumer])
    assert len(consumer.scores) == info.frame_count - 1 == 7
    assert min(consumer.scores) > 0.1


def test_step_follows_data_juicer(dj_videos, corpus_videos):
    op = VideoMotionScoreFilter()
    assert op.sampling_step(probe_video(str(dj_videos / "video1.mp4"))) == 12  # round(24 / 2)
    assert op.sampling_step(probe_video(str(dj_videos / "video4.mp4"))) == 15  # round(30 / 2)
    assert op.sampling_step(probe_video(str(corpus_videos / "lktracker__gg.avi"))) == 1  # 2 frames: clamped
    assert VideoMotionScoreFilter(sampling_fps=0.5).sampling_step(probe_video(str(dj_videos / "video1.mp4"))) == 48
    # 25 / 10 = 2.5 rounds half to even: 2, as in Python (and Data-Juicer).
    assert (
        VideoMotionScoreFilter(sampling_fps=10).sampling_step(probe_video(str(corpus_videos / "moviepy__chaplin.mp4")))
        == 2
    )  # noqa: E501


def test_farneback_settings_do_not_leak_between_instances():
    tuned = VideoMotionScoreFilter(winsize=21, levels=5)
    assert tuned.farneback == (0.5, 5, 21, 3, 5, 1.2, 0)
    assert VideoMotionScoreFilter().farneback == (0.5, 3, 15, 3, 5, 1.2, 0)


@pytest.mark.parametrize(
    "params",
    [{"min_score": 3, "max_score": 1}, {"sampling_fps": 0}, {"size": [1, 2, 3]}, {"size": 0}, {"max_size": 0},
     {"divisible": 0}, {"pyr_scale": 1.5}, {"winsize": 0}, {"any_or_all": "most"}],
)  # fmt: skip
def test_bad_parameters_are_recipe_errors(params):
    with pytest.raises(RecipeError) as e:
        build_op("video_motion_score_filter", params)
    assert "video_motion_score_filter" in str(e.value)


def test_recipe_parameters_are_typed():
    op = build_op("video_motion_score_filter", {"size": [120, 160], "sampling_fps": 1, "levels": 2.0})
    assert op.size == (120, 160) and op.sampling_fps == 1.0 and op.farneback[1] == 2
    with pytest.raises(RecipeError):
        build_op("video_motion_score_filter", {"size": "big"})
    assert set(op.config) >= {"min_score", "max_score", "sampling_fps", "size", "max_size", "divisible",
                              "relative", "any_or_all", "pyr_scale", "levels", "winsize", "iterations",
                              "poly_n", "poly_sigma", "flags"}  # fmt: skip


# ---------------------------------------------------------------------------------- generated clips


def test_moving_clip_scores_above_a_static_one(clips, tmp_path):
    op = VideoMotionScoreFilter()
    moving, static = scores_of(op, clips["moving"], clips["static"])
    assert static == pytest.approx(0.0, abs=0.05)
    assert moving > 1.0 > static
    faster = make_moving(str(tmp_path / "fast.mp4"), seconds=3, speed=6)
    assert scores_of(op, faster)[0] > moving
    assert scores_of(op, make_static(str(tmp_path / "still.mp4"), seconds=1))[0] < 0.05


def test_duplicate_paths_are_scored_once_and_repeated(clips):
    sample = VideoMotionScoreFilter().compute_stats({"videos": [clips["moving"], clips["static"], clips["moving"]]})
    scores = sample[Fields.stats][KEY]
    assert scores[0] == scores[2] and scores[0] != scores[1]


# ---------------------------------------------------------------------------------- bad inputs


def test_a_single_frame_video_scores_minus_one(corpus_videos):
    assert scores_of(VideoMotionScoreFilter(), corpus_videos / "smallfiles__webm_8x8.webm") == [-1.0]


def test_unreadable_videos_are_errors_never_minus_one(bad_videos, clips, tmp_path):
    from conftest import read_manifest

    op = VideoMotionScoreFilter(size=64)
    partial = {"derived__truncated_30pct_faststart.mp4", "derived__truncated_30pct.webm",
               "derived__corrupt_middle_64KiB.mp4"}  # fmt: skip
    for row in read_manifest(bad_videos):
        path = bad_videos / row["file"]
        if row["file"] in partial:
            (score,) = scores_of(op, path)  # scored on the frames that decode
            assert score > 0, row["file"]
            continue
        with pytest.raises(VideoError) as e:
            scores_of(op, path)
        assert row["file"] in str(e.value)
    with pytest.raises(VideoError, match="not found"):
        scores_of(op, tmp_path / "missing.mp4")
    with pytest.raises(VideoError):
        scores_of(op, clips["broken"])


def test_a_failing_video_fails_the_sample_in_a_run(clips, tmp_path):
    from helpers import write_jsonl, write_recipe

    shutil.copy(clips["broken"], tmp_path / "broken.mp4")
    dataset = write_jsonl(
        tmp_path / "data.jsonl",
        [{"text": "ok", "videos": [clips["moving"]]}, {"text": "bad", "videos": [str(tmp_path / "broken.mp4")]}],
    )
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_motion_score_filter": {"min_score": 0.5}}])
    summary = djlite.run(str(recipe), use_cache=False).summary
    assert (summary["kept"], summary["filtered"], summary["errored"]) == (1, 0, 1) and summary["balanced"]


# ---------------------------------------------------------------------------------- the tutorial recipe


def test_tutorial_recipe_keeps_video2_only(dj_videos, tmp_path):
    from helpers import read_jsonl

    # The recipe's own dataset names ../shared relative to the repo; point it at wherever the fixture found it.
    dataset = tmp_path / "tutorial.jsonl"
    dataset.write_text("".join(
        f'{{"id": "video{i}", "text": "<__dj__video>", "videos": ["{dj_videos / f"video{i}.mp4"}"]}}\n'
        for i in (1, 2)
    ))  # fmt: skip
    result = djlite.run(str(REPO / "recipes" / "tutorial_motion.yaml"), export_path=str(tmp_path / "res.jsonl"),
                        dataset_path=str(dataset))  # fmt: skip
    kept = read_jsonl(result.result_paths[0])
    assert [row["id"] for row in kept] == ["video2"]
    stats = read_jsonl(result.stats_path)
    assert stats[0]["__dj__stats__"][KEY][0] == pytest.approx(DJ_SCORES["video2"], rel=1e-4)
    assert np.isfinite(stats[0]["__dj__stats__"][KEY][0])


def test_data_juicer_1_6_parameters_optical_flow_and_original_fps(clips, tmp_path):
    from helpers import video_samples, write_jsonl, write_recipe

    op = VideoMotionScoreFilter(if_output_optical_flow=True, size=32)
    sample = op.compute_stats({"videos": [clips["moving"], clips["static"]]})
    flows = sample[Fields.meta]["video_optical_flow"]
    assert len(flows) == 2 and len(flows[0]) >= 1
    assert np.asarray(flows[0][0]).shape[-1] == 2 and min(np.asarray(flows[0][0]).shape[:2]) == 32
    assert sample[Fields.stats][KEY][0] == pytest.approx(VideoMotionScoreFilter(size=32).compute_stats(
        {"videos": [clips["moving"]]})[Fields.stats][KEY][0])  # fmt: skip
    info = probe_video(clips["moving"])
    assert VideoMotionScoreFilter(original_fps=info.fps * 2).sampling_step(info) == 2 * VideoMotionScoreFilter(
        ).sampling_step(info)  # fmt: skip
    with pytest.raises(RecipeError, match="original_fps must be > 0"):
        build_op("video_motion_score_filter", {"original_fps": 0})
    # In a run the flows reach the result's __dj__meta__ column.
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    step = {"video_motion_score_filter": {"min_score": 0, "if_output_optical_flow": True, "size": 16}}
    result = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [step])))
    (row,) = result.dataset.to_list()
    assert np.asarray(row[Fields.meta]["video_optical_flow"][0][0]).shape[-1] == 2
