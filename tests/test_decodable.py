"""Issue 9.8: partly decodable files are reported for what really decodes, with a warning naming the file."""

import pytest
from helpers import dj_process, read_jsonl, video_samples, write_jsonl, write_recipe

from djlite.fields import Fields, HashKeys
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


def faststart_copy(src: str, path) -> str:
    """`src` remuxed with its index first (moov before mdat), as web uploads are."""
    import av

    with av.open(src) as source, av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    return str(path)


def test_generated_truncated_upload_is_caught(tmp_path):
    """The same check on a file made here, so it runs without the shared videos."""
    from loguru import logger
    from synthetic import make_moving

    from djlite.ops.filter.video_duration_filter import VideoDurationFilter

    whole = faststart_copy(make_moving(str(tmp_path / "long.mp4"), seconds=8), tmp_path / "fast.mp4")
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    assert demuxed_extent(whole).duration == pytest.approx(probe_video(whole).duration, abs=0.1)
    assert probe_video(str(cut)).duration == pytest.approx(8, abs=0.1)
    assert demuxed_extent(str(cut)).duration < 5

    messages = []
    sink = logger.add(messages.append, level="WARNING")
    try:
        op = VideoDurationFilter(min_duration=5, duration_source="decodable")
        sample = op.compute_stats({"videos": [str(cut)]})
    finally:
        logger.remove(sink)
    assert not op.process(sample) and VideoDurationFilter(min_duration=5).process(sample)
    assert any("partly decodable video" in str(m) and str(cut) in str(m) for m in messages)


@pytest.mark.parametrize("op_name", ["video_motion_score_filter", "video_near_deduplicator"])
def test_corrupt_data_gives_the_same_result_whatever_the_decoder_threads(bad_videos, monkeypatch, op_name):
    # What FFmpeg conceals after a rejected packet depends on its thread count (the CPU count by default), so
    # the motion score of this file was 2.4779 on one machine and 2.4767 on another.
    from djlite.recipe import build_op
    from djlite.video import reader
    from djlite.video.context import VideoContext

    path = str(bad_videos / "derived__corrupt_middle_64KiB.mp4")
    opened = reader._Reader._open
    results = []
    for threads in (1, 2, 3, 4):

        def with_threads(self, threads=threads):
            container, stream = opened(self)
            if self.threads:
                stream.codec_context.thread_count = threads
            return container, stream

        monkeypatch.setattr(reader._Reader, "_open", with_threads)
        op = build_op(op_name, {})
        with VideoContext(frame_ops=[op]) as context:
            sample = {"videos": [path]}
            if op_name == "video_near_deduplicator":
                results.append(str(op.compute_hash(sample, context)[HashKeys.videosig]))
            else:
                results.append(op.compute_stats(sample, context)[Fields.stats]["video_motion_score"][0])
    assert len(set(results)) == 1, results


def test_a_clean_file_is_decoded_once(corpus_videos, monkeypatch):
    from djlite.recipe import build_op
    from djlite.video import reader
    from djlite.video.context import VideoContext

    reads = []
    original = reader.read_frames
    monkeypatch.setattr(reader, "read_frames", lambda *a, **k: reads.append(k) or original(*a, **k))
    op = build_op("video_motion_score_filter", {})
    with VideoContext(frame_ops=[op]) as context:
        op.compute_stats({"videos": [str(corpus_videos / "moviepy__sintel_5s.mp4")]}, context)
    assert reads == [{"threads": True}]
