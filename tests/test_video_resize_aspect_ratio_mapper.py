"""video_resize_aspect_ratio_mapper: Data-Juicer's rescale, re-encoded with PyAV."""

import pytest

from djlite.errors import RecipeError
from djlite.ops.mapper.video_resize_aspect_ratio_mapper import VideoResizeAspectRatioMapper
from djlite.recipe import load_recipe
from djlite.video.probe import probe_video


@pytest.mark.parametrize(
    "params, size, expected",
    [
        ({"min_ratio": "1/1", "strategy": "increase"}, (640, 1280), (1280, 1280)),
        ({"min_ratio": "1/1", "strategy": "decrease"}, (640, 1280), (640, 640)),
        ({"max_ratio": "4:3", "strategy": "increase"}, (1280, 480), (1280, 960)),
        ({"max_ratio": "4/3", "strategy": "decrease"}, (1280, 480), (640, 480)),
        ({"min_ratio": "16/9", "strategy": "increase"}, (101, 101), (180, 101)),
        ({}, (640, 360), None),
    ],
)
def test_target_sizes_as_data_juicer_rescales(params, size, expected):
    assert VideoResizeAspectRatioMapper(**params).target_size(*size) == expected


def test_a_too_wide_video_is_re_encoded_inside_the_ratio(clips, tmp_path):
    op = VideoResizeAspectRatioMapper(max_ratio="1/1", strategy="decrease", save_dir=str(tmp_path))
    info = probe_video(op.process({"videos": [clips["moving"]]})["videos"][0])
    assert (info.width, info.height) == (96, 96)


def test_bad_parameters_fail_before_any_data_is_read():
    for params, word in [({"strategy": "stretch"}, "strategy"), ({"min_ratio": "wide"}, "ratio")]:
        with pytest.raises(RecipeError, match=word):
            load_recipe(data={"process": [{"video_resize_aspect_ratio_mapper": params}]})
