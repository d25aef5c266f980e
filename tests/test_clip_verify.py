"""Clips that decode: stream copies and re-encodes of real files start on the source's frame at the cut, last
what the split promised and decode to their last frame; djlite.video.verify reads each written clip back, a bad
copy is re-encoded and a clip that still fails is an error row.

The checks here decode with PyAV directly, from the start of each file (never a fresh seek: a fresh decoder
that seeks into imageio__cockatoo.mp4 decodes garbage, see test_a_fresh_seek_into_the_cockatoo_is_garbage).
"""

import math
import os

import av
import numpy as np
import pytest
from conftest import read_manifest
from synthetic import make_scenes

from djlite.ops.base import FailedClip
from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
from djlite.video import clip_writer
from djlite.video.clip_writer import Span


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def decode(path: str, keep=()) -> tuple[list[float], dict]:
    """Every decodable frame of `path`, decoded from the start in the decoder's (presentation) order: their seconds
    from the first frame (from the pts; counted at the frame rate in AVI, whose stamps are in decode order), and
    {t: the first frame at or after t} for each t in `keep`. Only those frames are held."""
    times, kept, wanted = [], {}, sorted(keep)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        counted = container.format.name == "avi"
        origin = None
        codec = stream.codec_context

        def batches():
            # Packet by packet, empty ones skipped: Ogg has one mid-stream, which container.decode takes for the end.
            # A packet the decoder rejects is skipped, as ffmpeg and djlite's reader do (decord__corrupted.mp4).
            for packet in container.demux(stream):
                if packet.size:
                    try:
                        yield codec.decode(packet)
                    except av.InvalidDataError:
                        continue
            yield codec.decode(None)

        for frames in batches():
            for frame in frames:
                if counted:
                    t = len(times) / float(stream.average_rate)
                else:
                    origin = frame.pts if origin is None else origin
                    t = float((frame.pts - origin) * stream.time_base)
                times.append(t)
                while wanted and t >= wanted[0] - 1e-6:
                    kept[wanted.pop(0)] = frame
    return times, kept


def rgb(frame: av.VideoFrame, like: av.VideoFrame | None = None) -> np.ndarray:
    # To `like`'s size and pixel format first: swscale's direct 10-bit-to-RGB conversion is 26 dB off its 8-bit one.
    if like is not None:
        frame = frame.reformat(width=like.width, height=like.height, format=like.format.name)
    return frame.to_ndarray(format="rgb24")


def assert_clips_are_their_spans(source: str, made: list, min_psnr: float = 30.0) -> None:
    """Each clip decodes, starts on the source's frame at its start and lasts its span (within a frame)."""
    for clip in made:
        assert not isinstance(clip, FailedClip), clip.error
    source_times, at = decode(source, keep=[clip["__dj__clip__"]["start"] for clip in made])
    for clip in made:
        span = clip["__dj__clip__"]
        times, first = decode(clip["videos"][0], keep=[0.0])
        score = psnr(rgb(first[0.0]), rgb(at[span["start"]], like=first[0.0]))
        assert score >= min_psnr, f"clip {span['index']} ({span['start']}s): first frame PSNR {score:.1f} dB"
        in_span = [t for t in source_times if span["start"] - 1e-6 <= t < span["end"] - 1e-6]
        assert abs(len(times) - len(in_span)) <= 1, f"clip {span['index']}: {len(times)} of {len(in_span)} frames"


def split(path, tmp_path, mode: str, seconds: float = 5) -> list:
    op = VideoSplitByDurationMapper(
        split_duration=seconds, keep_original_sample=False, cut_mode=mode, save_dir=str(tmp_path / mode)
    )
    return op.split({"text": "<__dj__video>", "videos": [str(path)]})


def test_cockatoo_copies_start_with_the_source_frames(corpus_videos, tmp_path):
    # H.264 4:4:4 from x264 core 142: its 3.8 s and 7.25 s keyframes decode to grey-and-green garbage without
    # the x264 version SEI that only the first packet carries.
    source = corpus_videos / "imageio__cockatoo.mp4"
    made = split(source, tmp_path, "copy")
    assert [c["__dj__clip__"]["start"] for c in made] == [0.0, 3.8, 7.25]
    assert_clips_are_their_spans(str(source), made, min_psnr=math.inf)  # a copy decodes to the same pixels
    assert all(os.path.dirname(c["videos"][0]) == str(tmp_path / "copy") for c in made)
    with av.open(str(source)) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size)
    copied = 0
    for clip in made:
        with av.open(clip["videos"][0]) as container:
            copied += sum(1 for p in container.demux(video=0) if p.size)
    assert copied == packets, "stream copies, every packet once (none re-encoded)"


def test_cockatoo_reencodes_start_with_the_source_frames(corpus_videos, tmp_path):
    # The re-encoder seeks to the keyframe before each cut: its decoder needs the same SEI.
    source = corpus_videos / "imageio__cockatoo.mp4"
    assert_clips_are_their_spans(str(source), split(source, tmp_path, "reencode"))


def test_display_mosaic_first_clip_keeps_its_keyframe(corpus_videos, tmp_path):
    # Matroska stores no dts: the first two packets have none, and skipping them lost clip 0's keyframe.
    source = corpus_videos / "scav__display_mosaic.mkv"
    made = split(source, tmp_path, "copy")
    assert len(made) == 2
    assert_clips_are_their_spans(str(source), made, min_psnr=math.inf)


def test_mxf_clips_decode(corpus_videos, tmp_path):
    # MPEG-2 in MXF, open GOPs, the sequence header in the first packet only: clip 1 was "Invalid data found".
    source = corpus_videos / "mediainfojs__freeMXF-mxf1.mxf"
    made = split(source, tmp_path, "copy")
    assert [c["__dj__clip__"]["start"] for c in made] == [0.0, 4.8, 9.6]
    assert_clips_are_their_spans(str(source), made)


@pytest.mark.parametrize(
    "name, start, end",
    [
        ("texttovideo__sample.avi", 10.0, 15.0),  # a one-frame time base (3.03 s): the cut rounded to 9.09 s
        ("h264parse__test.flv", 0.0, 5.0),  # millisecond stamps collided in the encoder's 1/15 s time base
        ("latexvideo__sample.avi", 0.0, 5.0),  # AVI's stamps are in decode order (B-frames)
        ("love2d__small.ogv", 5.0, 8.7),  # an empty packet mid-stream drained the decoder: the last 41 frames lost
        ("lktracker__test.avi", 0.0, 0.667),  # full-range MJPEG came out with crushed blacks (untagged range)
        ("moviepy__video-with-dash-1x1px.mp4", 0.0, 5.0),  # 1x1 has no even size below it: 2x2
    ],
)
def test_reencodes_of_coarse_or_unordered_timestamps(corpus_videos, tmp_path, name, start, end):
    source = str(corpus_videos / name)
    target = clip_writer.reencode_clip(source, str(tmp_path / "clip.mp4"), Span(start, end))
    made = [{"videos": [target], "__dj__clip__": {"start": start, "end": end, "index": 0}}]
    assert_clips_are_their_spans(source, made)


def test_webm_keyframe_clips_keep_their_last_frame_duration(corpus_videos, tmp_path):
    # Matroska keeps only the track's default frame duration; a copied track without one had clips a frame short
    # (a two-frame group of pictures read 0.042 s of its 0.083 s).
    from djlite.ops.mapper.video_split_by_key_frame_mapper import VideoSplitByKeyFrameMapper
    from djlite.video.probe import probe_video

    op = VideoSplitByKeyFrameMapper(keep_original_sample=False, save_dir=str(tmp_path))
    made = op.split({"videos": [str(corpus_videos / "moviepy__big_buck_bunny_0_30.webm")]})
    assert len(made) == 10 and all(c["videos"][0].endswith(".webm") for c in made), "copies, none re-encoded"
    for clip in made:
        span = clip["__dj__clip__"]
        assert probe_video(clip["videos"][0]).stream_duration == pytest.approx(span["end"] - span["start"], abs=2e-3)


def test_a_fresh_seek_into_the_cockatoo_is_garbage(corpus_videos):
    # Why verification takes the source's frames from djlite's reader (which decodes the first packet first):
    # a reference decoded by a fresh seek is the same garbage as a broken clip, and would "match" it. The reader
    # seeks too, after the first packet: the decoder keeps the x264 version it learnt there across the flush.
    from djlite.video.probe import probe_video
    from djlite.video.reader import CollectFrames, read_frames
    from djlite.video.sampling import TimesPlan

    source = str(corpus_videos / "imageio__cockatoo.mp4")
    with av.open(source) as container:
        stream = container.streams.video[0]
        container.seek(int(7.25 / stream.time_base), stream=stream, backward=True)
        fresh = next(container.decode(stream))
    collector = CollectFrames(TimesPlan((7.25,)))
    report = read_frames(probe_video(source), [collector])
    assert report.strategy == "seek" and report.seeks == 1 and not report.fell_back
    (served,) = collector.result()
    sequential = decode(source, keep=[7.25])[1][7.25]
    assert psnr(rgb(served.frame), rgb(sequential)) == math.inf
    assert psnr(rgb(fresh), rgb(sequential)) < 15


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    path, _ = make_scenes(str(tmp_path_factory.mktemp("src") / "scenes.mp4"), (2.0, 3.0, 1.5), gop=24)
    return path


def test_verify_clip_passes_good_clips_and_names_what_is_wrong(scenes, tmp_path):
    from djlite.video.verify import verify_clip

    copied = clip_writer.copy_clip(scenes, str(tmp_path / "c.mp4"), Span(2.0, 4.0))
    encoded = clip_writer.reencode_clip(scenes, str(tmp_path / "r.mp4"), Span(2.5, 4.0))
    assert verify_clip(scenes, copied, Span(2.0, 4.0), exact=True) is None
    assert verify_clip(scenes, encoded, Span(2.5, 4.0)) is None
    assert "promised 3.000s" in verify_clip(scenes, copied, Span(2.0, 5.0), exact=True)
    assert "not the source's frame at 1.000s" in verify_clip(scenes, encoded, Span(1.0, 2.5))
    assert "differs from the source's frame" in verify_clip(scenes, encoded, Span(2.5, 4.0), exact=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(open(copied, "rb").read()[:3000])
    assert "does not open or decode" in verify_clip(scenes, str(cut), Span(2.0, 4.0), exact=True)


def test_verification_catches_a_copy_that_decodes_to_garbage(corpus_videos, tmp_path, monkeypatch):
    # The copy as it was: the keyframes without the SEI. It decodes without an error, to garbage.
    from djlite.video.verify import verify_clip

    source = str(corpus_videos / "imageio__cockatoo.mp4")
    monkeypatch.setattr(clip_writer._KeyframeSetup, "keyframe", lambda self, packet: packet)
    clip = clip_writer.copy_clip(source, str(tmp_path / "c.mp4"), Span(7.25, 14.0))
    problem = verify_clip(source, clip, Span(7.25, 14.0), exact=True)
    assert problem and "first frame differs from the source's frame at 7.250s" in problem


def drop_keyframes(monkeypatch):
    """Make every stream copy lose its keyframes (a broken copy: nothing in it decodes)."""
    take = clip_writer._Output.take

    def without_keyframes(self, packet, is_video):
        if not (is_video and packet.is_keyframe):
            take(self, packet, is_video)

    monkeypatch.setattr(clip_writer._Output, "take", without_keyframes)


def test_a_copy_that_fails_verification_is_re_encoded(scenes, tmp_path, monkeypatch):
    drop_keyframes(monkeypatch)
    made = split(scenes, tmp_path, "copy", seconds=2)
    assert [c["__dj__clip__"]["start"] for c in made] == [0.0, 2.0, 4.0, 6.0]
    assert_clips_are_their_spans(scenes, made)
    names = sorted(os.listdir(tmp_path / "copy"))
    assert len(names) == 4 and all(c["videos"][0] == str(tmp_path / "copy" / n) for c, n in zip(made, names))
    hashes = {n.rsplit("_", 1)[0] for n in names}
    monkeypatch.undo()
    copy_names = {os.path.basename(c["videos"][0]) for c in split(scenes, tmp_path / "plain", "copy", seconds=2)}
    assert hashes.isdisjoint({n.rsplit("_", 1)[0] for n in copy_names}), "the re-encode names, not the copy's"


def test_a_clip_that_fails_after_re_encoding_is_an_error_row(scenes, tmp_path, monkeypatch):
    drop_keyframes(monkeypatch)
    reencode = clip_writer.reencode_clip
    monkeypatch.setattr(  # and a re-encoder that cuts a second late
        clip_writer,
        "reencode_clip",
        lambda source, target, span: reencode(source, target, Span(span.start + 1, span.end + 1)),
    )
    made = split(scenes, tmp_path, "copy", seconds=2)
    failed = [m for m in made if isinstance(m, FailedClip)]
    assert failed and len(failed) >= 3
    message = str(failed[0].error)
    assert "clip 0 (0.000s to 2.000s)" in message and "not the source's frame at 0.000s" in message
    assert "its stream copy failed first" in message and "does not open or decode" in message
    assert not [n for n in os.listdir(tmp_path / "copy") if n.endswith(".mp4") and not n.startswith(".")], (
        "no clip that failed is left on disk"
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["copy", "auto"])
def test_every_corpus_video_splits_into_clips_that_pass_verification(corpus_videos, tmp_path, mode):
    problems = []
    for row in read_manifest(corpus_videos):
        source = str(corpus_videos / row["file"])
        made = split(source, tmp_path / row["file"], mode)
        # Only a span holding no frame at all may fail (a duration split's 10 ms tail after the last frame).
        problems += [f"{row['file']}: {m.error}" for m in made if isinstance(m, FailedClip)]
        problems = [p for p in problems if "no frames to write" not in p]
        try:
            assert_clips_are_their_spans(source, [m for m in made if not isinstance(m, FailedClip)])
        except AssertionError as e:
            problems.append(f"{row['file']}: {e}")
    assert not problems, "\n".join(problems)
