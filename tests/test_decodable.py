"""Issue 9.8: partly decodable files are reported for what really decodes, with a warning naming the file."""

import pytest
from helpers import dj_process, read_jsonl, video_samples, write_jsonl, write_recipe

from djlite.fields import Fields
from djlite.ops.filter.video_duration_filter import TRUNCATION_SECONDS, TRUNCATION_SHARE
from djlite.video.probe import demuxed_extent, probe_video

TRUNCATED = {"derived__truncated_30pct_faststart.mp4": (10.0, 2.9), "derived__truncated_30pct.webm": (30.0, 9.6)}
CORRUPT_MIDDLE = "derived__corrupt_middle_64KiB.mp4"


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_truncated_files_report_what_their_packets_cover(bad_videos, name):
    claimed, present = TRUNCATED[name]
    path = str(bad_videos / name)
    assert probe_video(path).duration == pytest.approx(claimed, abs=0.1)  # the header still claims it all
    assert demuxed_extent(path).duration == pytest.approx(present, abs=0.1)


def test_sound_files_are_not_mistaken_for_truncated(corpus_videos, dj_videos):
    """No false alarm: every readable corpus file's packets cover its header's duration (subtitles and audio
    that outlast the picture included: torchcodec__nasa_13013.mp4 has 13 s of video and 16.57 s of subtitles)."""
    files = [p for p in sorted(corpus_videos.iterdir()) + sorted(dj_videos.glob("*.mp4")) if p.suffix != ".tsv"]
    checked = 0
    for path in files:
        try:
            duration = probe_video(str(path)).duration
        except Exception:  # noqa: BLE001 - unreadable files are the errors tests' business
            continue
        missing = duration - demuxed_extent(str(path)).duration
        assert missing <= max(TRUNCATION_SECONDS, TRUNCATION_SHARE * duration), (path.name, duration, missing)
        checked += 1
    assert checked >= 50


def test_dj_process_warns_and_can_filter_on_the_decodable_duration(bad_videos, tmp_path):
    names = sorted(TRUNCATED) + [CORRUPT_MIDDLE]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(bad_videos / n for n in names))
    header = write_recipe(tmp_path / "h.yaml", dataset, [{"video_duration_filter": {"min_duration": 5}}])
    done = dj_process("--config", str(header))
    assert done.returncode == 0, done.stderr[-2000:]
    for name in TRUNCATED:
        warning = next(line for line in done.stderr.splitlines() if "partly decodable video" in line and name in line)
        assert "header says" in warning and "duration_source: decodable" in warning
    assert CORRUPT_MIDDLE not in done.stderr  # its packets all demux: only decoding finds the damage
    assert len(read_jsonl(tmp_path / "out" / "res.jsonl")) == 3  # by the header, all of them last 5 s or more

    decodable = write_recipe(
        tmp_path / "d.yaml",
        dataset,
        [{"video_duration_filter": {"min_duration": 5, "duration_source": "decodable"}}],
        export_filtered=True,
    )
    done = dj_process("--config", str(decodable), "--export_path", str(tmp_path / "d" / "res.jsonl"))
    assert done.returncode == 0, done.stderr[-2000:]
    kept = [r["videos"][0].rsplit("/", 1)[1] for r in read_jsonl(tmp_path / "d" / "res.jsonl")]
    assert sorted(kept) == [CORRUPT_MIDDLE, "derived__truncated_30pct.webm"]  # 9.6 s of the webm are there
    filtered = {r["videos"][0].rsplit("/", 1)[1]: r for r in read_jsonl(tmp_path / "d" / "res_filtered.jsonl")}
    assert list(filtered) == ["derived__truncated_30pct_faststart.mp4"]
    faststart = filtered["derived__truncated_30pct_faststart.mp4"][Fields.stats]
    assert faststart["video_decodable_duration"][0] < 3 < 10 < faststart["video_duration"][0]


def test_frame_filter_warns_about_packets_that_do_not_decode(bad_videos, tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([bad_videos / CORRUPT_MIDDLE]))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_motion_score_filter": {"min_score": 0}}])
    done = dj_process("--config", str(recipe))
    assert done.returncode == 0, done.stderr[-2000:]
    warning = next(line for line in done.stderr.splitlines() if "partly decodable video" in line)
    assert "packets did not decode" in warning and CORRUPT_MIDDLE in warning
