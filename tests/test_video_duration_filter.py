import pytest
from filter_helpers import keep

from djlite.errors import VideoError
from djlite.fields import Fields
from djlite.ops.filter.video_duration_filter import VideoDurationFilter


def test_process_reads_stats_only():
    op = VideoDurationFilter(min_duration=2, max_duration=10)
    stats = lambda *d: {Fields.stats: {"video_duration": list(d)}}  # noqa: E731
    assert op.process(stats(5.0)) and not op.process(stats(1.9)) and not op.process(stats(10.5))
    assert op.process(stats()), "a sample without videos is kept"
    assert op.process(stats(1.0, 5.0))
    assert not VideoDurationFilter(min_duration=2, any_or_all="all").process(stats(1.0, 5.0))


def test_real_value_not_rounded(clips):
    sample = VideoDurationFilter().compute_stats({"videos": [clips["short"]]})
    assert sample[Fields.stats]["video_duration"] == [pytest.approx(0.5, abs=0.05)]
    # Data-Juicer would round 0.5 s to 0 and keep it under min_duration 0.4; djlite compares the real value.
    assert not VideoDurationFilter(min_duration=0.6).process(sample)


def test_existing_stat_is_reused_not_recomputed():
    sample = {"videos": ["/nonexistent/video.mp4"], Fields.stats: {"video_duration": [7.0]}}
    assert VideoDurationFilter().compute_stats(sample)[Fields.stats]["video_duration"] == [7.0]


def test_data_juicer_keep_sets(dj_videos):
    v1, v2, v3 = (dj_videos / f"video{i}.mp4" for i in (1, 2, 3))
    singles = [[v1], [v2], [v3]]
    assert keep(VideoDurationFilter(), singles) == singles
    assert keep(VideoDurationFilter(max_duration=15), singles) == [[v1]]
    assert keep(VideoDurationFilter(min_duration=30), singles) == [[v3]]
    assert keep(VideoDurationFilter(min_duration=16, max_duration=42), singles) == [[v2]]
    pairs = [[v1, v2], [v2, v3], [v1, v3]]
    assert keep(VideoDurationFilter(min_duration=15, max_duration=30), pairs) == [[v1, v2], [v2, v3]]
    assert keep(VideoDurationFilter(min_duration=15, max_duration=30, any_or_all="all"), pairs) == []


def test_bad_files_raise_a_readable_error(bad_videos, tmp_path):
    for name, reason in [
        ("derived__zero_bytes.mp4", "empty file"),
        ("derived__text_file.mp4", "cannot open"),
        ("derived__audio_only.mp4", r"no video stream \(streams: audio\)"),
        ("derived__video_only_no_decodable_frames.mp4", "do not decode"),
        ("found__smallfiles_WindowsMediaVideo_1x1.wmv", "no decodable video frame"),
    ]:
        with pytest.raises(VideoError, match=reason):
            VideoDurationFilter().compute_stats({"videos": [str(bad_videos / name)]})
    with pytest.raises(VideoError, match="file not found"):
        VideoDurationFilter().compute_stats({"videos": [str(tmp_path / "missing.mp4")]})
