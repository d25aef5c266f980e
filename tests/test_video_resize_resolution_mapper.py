"""video_resize_resolution_mapper: Data-Juicer's target sizes, re-encoded with PyAV."""

import pytest

from djlite.errors import RecipeError
from djlite.fields import Fields
from djlite.ops.mapper.video_resize_resolution_mapper import VideoResizeResolutionMapper
from djlite.recipe import load_recipe
from djlite.video.probe import probe_video


@pytest.mark.parametrize(
    "params, size, expected",
    [
        ({"max_width": 640}, (1280, 720), (640, 360)),
        ({"min_width": 640}, (320, 240), (640, 480)),
        ({"max_height": 480}, (640, 640), (480, 480)),
        ({"min_width": 20, "max_width": 1000}, (640, 360), None),  # within bounds: untouched
        (
            {"max_width": 300, "force_original_aspect_ratio": "decrease", "force_divisible_by": 4},
            (640, 360),
            (300, 168),
        ),
        ({"max_width": 301}, (641, 361), (300, 170)),  # H 169.5 -> 169 -> up to even 170
    ],
)
def test_target_sizes_as_data_juicer_computes_them(params, size, expected):
    assert VideoResizeResolutionMapper(**params).target_size(*size) == expected


def test_a_video_outside_the_bounds_is_re_encoded_to_them(clips, tmp_path):
    op = VideoResizeResolutionMapper(max_width=80, save_dir=str(tmp_path))
    sample = op.process({"videos": [clips["moving"], clips["moving"]]})
    assert sample[Fields.source_file] == [clips["moving"]] * 2
    out = sample["videos"][0]
    assert out == sample["videos"][1] and out.startswith(str(tmp_path))
    info = probe_video(out)
    assert (info.width, info.height) == (80, 48) and info.duration == pytest.approx(
        probe_video(clips["moving"]).duration
    )
    assert op.process({"videos": [clips["moving"]]})["videos"] == [out]  # same file, not written again


def test_bad_input_and_bad_parameters(tmp_path):
    op = VideoResizeResolutionMapper(max_width=80, save_dir=str(tmp_path))
    with pytest.raises(Exception, match="nope.mp4"):
        op.process({"videos": [str(tmp_path / "nope.mp4")]})
    with pytest.raises(RecipeError, match="force_divisible_by"):
        load_recipe(
            data={
                "process": [
                    {
                        "video_resize_resolution_mapper": {
                            "force_original_aspect_ratio": "increase",
                            "force_divisible_by": 3,
                        }
                    }
                ]
            }
        )
