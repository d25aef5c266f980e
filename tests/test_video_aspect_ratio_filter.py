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
