import pytest
from filter_helpers import keep

from djlite.errors import VideoError
from djlite.fields import Fields
from djlite.ops.filter.video_resolution_filter import VideoResolutionFilter


def test_process_on_handwritten_stats():
    op = VideoResolutionFilter(min_width=100, max_height=500)
    sample = {Fields.stats: {"video_width": [640, 50], "video_height": [360, 360]}}
    assert op.process(sample)
    assert not VideoResolutionFilter(min_width=100, any_or_all="all").process(sample)


def test_rotation_is_recorded_and_size_is_as_coded(clips, tmp_path):
    from synthetic import make_moving

    rotated = make_moving(str(tmp_path / "rot.mp4"), seconds=0.5, size=(96, 64), rotation=90)
    stats = VideoResolutionFilter().compute_stats({"videos": [rotated, clips["moving"]]})[Fields.stats]
    assert stats["video_width"] == [96, 160] and stats["video_height"] == [64, 96]
    assert stats["video_rotation"] == [90, 0]


def test_data_juicer_keep_sets(dj_videos):
    v1, v2, v3 = (dj_videos / f"video{i}.mp4" for i in (1, 2, 3))
    singles = [[v1], [v2], [v3]]
    assert keep(VideoResolutionFilter(), singles) == singles
    assert keep(VideoResolutionFilter(min_width=480, min_height=480), singles) == [[v2]]
    assert keep(VideoResolutionFilter(max_width=640, max_height=480), singles) == [[v1]]
    assert keep(VideoResolutionFilter(min_width=400, max_width=500), singles) == [[v2]]
    pairs = [[v1, v2], [v2, v3], [v1, v3]]
    assert keep(VideoResolutionFilter(min_width=400, max_width=500), pairs) == [[v1, v2], [v2, v3]]
    assert keep(VideoResolutionFilter(min_width=400, max_width=500, any_or_all="all"), pairs) == []


def test_bad_file(bad_videos):
    with pytest.raises(VideoError, match="cannot open"):
        VideoResolutionFilter().compute_stats({"videos": [str(bad_videos / "derived__moov_missing.mp4")]})


def test_impossible_range():
    with pytest.raises(ValueError, match="min_width 10 > max_width 5"):
        VideoResolutionFilter(min_width=10, max_width=5)
