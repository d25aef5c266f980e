"""Data-Juicer's own test cases for the split and resize mappers, on its test videos, in djlite's layout.

Inputs, parameters and expected numbers are those of Data-Juicer's tests/ops/mapper/test_video_split_by_*.py and
test_video_resize_*.py (1.4.3). Their assertions on layout are translated: Data-Juicer puts all the clips of a
sample into one new sample and counts its videos; djlite makes one sample per clip, so the count is the number
of clip samples per source video. AdaptiveDetector and ThresholdDetector run PySceneDetect's classes and skip
without it. What is not ported: file-name assertions (Data-Juicer's names carry a pid and timestamp) and
num_proc variants (the runner's np is tested elsewhere) and show_progress (accepted, same counts as the
default case).
"""

import pytest

from djlite.fields import Fields
from djlite.ops.mapper.video_resize_aspect_ratio_mapper import VideoResizeAspectRatioMapper
from djlite.ops.mapper.video_resize_resolution_mapper import VideoResizeResolutionMapper
from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
from djlite.ops.mapper.video_split_by_key_frame_mapper import VideoSplitByKeyFrameMapper
from djlite.ops.mapper.video_split_by_scene_mapper import VideoSplitBySceneMapper
from djlite.video.probe import probe_video

SIZES = {"video1": (640, 360), "video2": (480, 640), "video3": (362, 640)}


def clips_per_source(op, dj_videos, names=("video1", "video2", "video3")) -> list[int]:
    counts = []
    for name in names:
        made = op.process({"text": "<__dj__video> caption", "videos": [str(dj_videos / f"{name}.mp4")]})
        counts.append(sum(1 for m in made if m.get(Fields.clip)))
    return counts


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"detector": "ContentDetector", "threshold": 27.0, "min_scene_len": 15}, [3, 1, 2]),
        ({"luma_only": True, "kernel_size": 5}, [2, 1, 2]),
        ({"detector": "AdaptiveDetector", "threshold": 3.0, "min_scene_len": 15}, [3, 1, 8]),
        ({"detector": "ThresholdDetector", "threshold": 12.0, "min_scene_len": 15}, [1, 1, 1]),
    ],
)
def test_scene_counts(dj_videos, tmp_path, params, expected):
    if params.get("detector", "ContentDetector") != "ContentDetector":
        pytest.importorskip("scenedetect")
    assert clips_per_source(VideoSplitBySceneMapper(save_dir=str(tmp_path), **params), dj_videos) == expected


@pytest.mark.parametrize(
    "params, expected",
    [({"split_duration": 10}, [2, 3, 5]), ({"split_duration": 10, "min_last_split_duration": 3}, [1, 3, 5])],
)
def test_duration_counts(dj_videos, tmp_path, params, expected):
    # The pieces Data-Juicer's test counts, without re-encoding 85 s of video: the writing is tested elsewhere.
    from djlite.video.context import VideoContext

    op = VideoSplitByDurationMapper(keep_original_sample=False, save_dir=str(tmp_path), **params)
    names = ("video1", "video2", "video3")
    assert [len(op.spans(str(dj_videos / f"{n}.mp4"), VideoContext())) for n in names] == expected


def test_key_frame_counts(dj_videos, tmp_path):
    op = VideoSplitByKeyFrameMapper(keep_original_sample=False, save_dir=str(tmp_path))
    assert clips_per_source(op, dj_videos) == [3, 3, 6]


def test_keep_original_sample_comes_first(dj_videos, tmp_path):
    sample = {"text": "<__dj__video> caption", "videos": [str(dj_videos / "video1.mp4")]}
    made = VideoSplitByDurationMapper(save_dir=str(tmp_path), cut_mode="copy").process(dict(sample))
    assert made[0] == sample and len(made) == 3


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, [None, None, None]),
        ({"min_ratio": "3/4", "strategy": "increase"}, [None, None, (480, 640)]),
        ({"min_ratio": "3/4", "strategy": "decrease"}, [None, None, (362, 482)]),
        ({"max_ratio": "4/3", "strategy": "increase"}, [(640, 480), None, None]),
        ({"max_ratio": "4/3", "strategy": "decrease"}, [(480, 360), None, None]),
    ],
)
def test_aspect_ratio_sizes(params, expected):
    op = VideoResizeAspectRatioMapper(**params)
    assert [op.target_size(*SIZES[name]) for name in ("video1", "video2", "video3")] == expected


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, [None, None, None]),
        ({"min_width": 400, "max_width": 480}, [(480, 270), None, (400, 708)]),
        ({"min_height": 480, "max_height": 480}, [(854, 480), (360, 480), (272, 480)]),
        (
            {"min_width": 400, "max_width": 480, "min_height": 480, "max_height": 480},
            [(480, 480), (400, 480), (400, 480)],
        ),
    ],
)
def test_resolution_sizes(params, expected):
    op = VideoResizeResolutionMapper(**params)
    assert [op.target_size(*SIZES[name]) for name in ("video1", "video2", "video3")] == expected


@pytest.mark.parametrize(
    "mode, divisible, expected",
    [("decrease", 2, (480, 270)), ("increase", 2, (854, 480)), ("decrease", 4, (480, 272))],
)
def test_resolution_keeping_the_aspect_ratio(dj_videos, tmp_path, mode, divisible, expected):
    op = VideoResizeResolutionMapper(
        min_width=400,
        max_width=480,
        min_height=480,
        max_height=480,
        force_original_aspect_ratio=mode,
        force_divisible_by=divisible,
        save_dir=str(tmp_path),
    )
    assert op.target_size(*SIZES["video1"]) == expected
    if divisible == 4:  # one real re-encode: the file has the size Data-Juicer's test reads back
        out = op.process({"videos": [str(dj_videos / "video1.mp4")]})["videos"][0]
        info = probe_video(out)
        assert (info.width, info.height) == expected


def test_data_juicer_layout_key_frames(dj_videos, tmp_path):
    # test_video_split_by_key_frame_mapper.py::test, with one_sample_per_clip: false (Data-Juicer's layout).
    v, eoc = "<__dj__video>", "<|__dj__eoc|>"
    texts = [f"{v} 白色的小羊站在一旁讲话。", f"{v} 身穿白色上衣的男子。{eoc}", f"{v} 两个长头发的女子。 {eoc}"]
    op = VideoSplitByKeyFrameMapper(keep_original_sample=False, one_sample_per_clip=False, save_dir=str(tmp_path))
    got = []
    for name, text in zip(("video1", "video2", "video3"), texts):
        source = str(dj_videos / f"{name}.mp4")
        (sample,) = op.process({"text": text, "videos": [source]})
        assert sample[Fields.source_file] == [source] * len(sample["videos"])
        got.append((sample["text"], len(sample["videos"])))
    assert got == [
        (f"{v * 3} 白色的小羊站在一旁讲话。{eoc}", 3),
        (f"{v * 3} 身穿白色上衣的男子。{eoc}", 3),
        (f"{v * 6} 两个长头发的女子。 {eoc}", 6),
    ]


def test_data_juicer_layout_scenes(dj_videos, tmp_path):
    # test_video_split_by_scene_mapper.py::test_default_with_text on video1 (3 scenes) and video2 (1 scene).
    v = "<__dj__video>"
    op = VideoSplitBySceneMapper(one_sample_per_clip=False, save_dir=str(tmp_path))
    (three,) = op.process({"text": f"{v} this is video1", "videos": [str(dj_videos / "video1.mp4")]})
    (one,) = op.process({"text": f"{v} this is video2", "videos": [str(dj_videos / "video2.mp4")]})
    assert (three["text"], len(three["videos"])) == (f"{v * 3} this is video1", 3)
    assert (one["text"], one["videos"]) == (f"{v} this is video2", [str(dj_videos / "video2.mp4")])
