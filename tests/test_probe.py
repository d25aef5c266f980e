"""Metadata against ffprobe's ground truth (the corpus manifest) and the faulty files."""

import pytest
from conftest import read_manifest

from djlite.errors import VideoError
from djlite.video.probe import probe_video


def test_corpus_matches_ffprobe_manifest(corpus_videos):
    rows = read_manifest(corpus_videos)
    assert len(rows) >= 60
    mismatches = []
    for row in rows:
        info = probe_video(str(corpus_videos / row["file"]))
        if not (
            abs(info.duration - float(row["duration_s"])) <= 0.1
            and (info.width, info.height) == (int(row["width"]), int(row["height"]))
            and info.rotation == int(row["rotation"] or 0)
        ):
            mismatches.append((row["file"], info.duration, info.width, info.height, info.rotation))
    assert mismatches == []


def test_displayed_size_swaps_for_quarter_turns(corpus_videos):
    info = probe_video(str(corpus_videos / "pyscenedetect__issue-134-rotate.mp4"))
    assert (info.width, info.height, info.rotation) == (1280, 544, -90)
    assert info.display_size == (544, 1280)


def test_webm_without_header_duration_uses_the_file(corpus_videos):
    info = probe_video(str(corpus_videos / "vhs__onefetch.webm"))
    assert info.duration == pytest.approx(5.08, abs=0.05)
    assert info.stream_duration == pytest.approx(5.08, abs=0.1)


NO_DECODABLE_FRAME = [
    "derived__audio_only.mp4", "derived__moov_missing.mp4", "derived__text_file.mp4",
    "derived__truncated_30pct_moov_at_end.mp4", "derived__video_only_no_decodable_frames.mp4",
    "derived__zero_bytes.mp4", "found__mediainfojs_sample.mkv", "found__moviepy_result_zero_bytes.webm",
    "found__pyav_data_stream_only.ts", "found__smallfiles_AudioVideoInterleave_1x1.avi",
    "found__smallfiles_FlashVideo.flv", "found__smallfiles_Mpeg4_no_streams.mp4",
    "found__smallfiles_WindowsMediaVideo_1x1.wmv", "found__smallfiles_mp4-with-audio.mp4",
    "found__smallfiles_webm-with-audio.webm",
]  # fmt: skip
PARTLY_DECODABLE = [
    "derived__corrupt_middle_64KiB.mp4", "derived__truncated_30pct.webm", "derived__truncated_30pct_faststart.mp4",
]  # fmt: skip


@pytest.mark.parametrize("name", NO_DECODABLE_FRAME)
def test_files_without_a_decodable_frame_are_errors(bad_videos, name):
    with pytest.raises(VideoError) as info:
        probe_video(str(bad_videos / name))
    assert name in str(info.value)


@pytest.mark.parametrize("name", PARTLY_DECODABLE)
def test_partly_decodable_files_report_their_header(bad_videos, name):
    info = probe_video(str(bad_videos / name))
    assert info.duration > 5 and info.width > 0
