import pytest
from filter_helpers import keep

from djlite.errors import VideoError
from djlite.fields import Fields
from djlite.ops.filter.video_aspect_ratio_filter import VideoAspectRatioFilter


def test_bounds_compare_exactly_as_fractions():
    op = VideoAspectRatioFilter(min_ratio="3/4", max_ratio="16:9")
    assert op.process({Fields.stats: {"video_aspect_ratios": [640 / 360]}})  # just below 16/9 as a float
    assert op.process({Fields.stats: {"video_aspect_ratios": [0.75]}})  # closed lower bound
    assert not op.process({Fields.stats: {"video_aspect_ratios": [0.7]}})


@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (1920, 1080), (854, 480)])
def test_an_exactly_16_9_video_is_on_a_16_9_bound(size):
    width, height = size
    stat = {Fields.stats: {"video_aspect_ratios": [width / height]}}
    exact = width * 9 == height * 16  # 854x480 is 1.7791..., just above 16/9
    assert VideoAspectRatioFilter(min_ratio="16/9").process(stat)  # a closed bound: 16/9 itself passes
    assert VideoAspectRatioFilter(min_ratio="9/16", max_ratio="16/9").process(stat) == exact
    assert VideoAspectRatioFilter(min_ratio="16/9", min_closed_interval=False).process(stat) == (not exact)
    assert not VideoAspectRatioFilter(min_ratio="9/16", max_ratio="16/9", max_closed_interval=False).process(stat)


def test_ratios_of_any_side_up_to_max_side_are_recovered_exactly():
    from fractions import Fraction

    from djlite.ops.filter.video_aspect_ratio_filter import MAX_SIDE, exact_ratio

    for width, height in [(1, 1), (4096, 2160), (MAX_SIDE, 1), (1, MAX_SIDE), (MAX_SIDE, MAX_SIDE - 1), (1023, 1024)]:
        assert exact_ratio(width / height) == Fraction(width, height)


def test_bad_ratio_is_a_clear_error():
    with pytest.raises(ValueError, match="min_ratio must be a ratio like '16/9'"):
        VideoAspectRatioFilter(min_ratio="wide")


def test_data_juicer_keep_sets(dj_videos):
    v1, v2, v3 = (dj_videos / f"video{i}.mp4" for i in (1, 2, 3))
    singles = [[v1], [v2], [v3]]
    assert keep(VideoAspectRatioFilter(), singles) == singles
    stats = VideoAspectRatioFilter().compute_stats({"videos": [str(v1), str(v2), str(v3)]})[Fields.stats]
    assert stats["video_aspect_ratios"] == pytest.approx([640 / 360, 0.75, 0.565625])
    pairs = [[v1, v2], [v2, v3], [v1, v3]]
    assert keep(VideoAspectRatioFilter(min_ratio="3/4", max_ratio="16/9"), pairs) == pairs
    assert keep(VideoAspectRatioFilter(min_ratio="3/4", max_ratio="16/9", any_or_all="all"), pairs) == [[v1, v2]]


def test_bad_file(bad_videos):
    with pytest.raises(VideoError, match="no video stream"):
        VideoAspectRatioFilter().compute_stats({"videos": [str(bad_videos / "found__pyav_data_stream_only.ts")]})
