"""The single-pass reader: pixels, orientation, strategies, sharing one decode, traps and faulty files."""

import gc
import shutil
import weakref
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from djlite.errors import VideoError
from djlite.video.context import VideoContext
from djlite.video.probe import VideoInfo, probe_video
from djlite.video.reader import CollectFrames, DecodedFrame, FrameConsumer, decode_plan, read_frames
from djlite.video.sampling import all_frames, fps, keyframes, strided, uniform


def read(path, *plans, strategy="auto"):
    collectors = [CollectFrames(plan) for plan in plans]
    report = read_frames(probe_video(str(path)), collectors, strategy=strategy)
    return report, [c.frames for c in collectors]


def stamps(frames):
    return [(f.index, round(f.time, 6)) for f in frames]


def packet_times(path) -> list[float]:
    """Every frame's time from a demux-only pass (no decoding): an independent frame list for MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
        return [float((p - pts[0]) * stream.time_base) for p in pts]


# ---------------------------------------------------------------------------------- pixels


def test_bgr_is_what_opencv_reads_and_conversions_are_cached(dj_videos):
    path = str(dj_videos / "video1.mp4")
    frames = decode_plan(path, strided(1), strategy="sequential")[:3]
    capture = cv2.VideoCapture(path)
    try:
        for frame in frames:
            ok, expected = capture.read()
            assert ok and np.array_equal(frame.bgr(), expected)
    finally:
        capture.release()
    frame = frames[1]
    assert frame.rgb() is frame.rgb() and frame.gray() is frame.gray()
    assert frame.rgb().dtype == np.uint8 and frame.rgb().shape == (360, 640, 3)
    assert np.array_equal(frame.rgb(), frame.bgr()[..., ::-1])
    assert np.array_equal(frame.gray(), cv2.cvtColor(frame.bgr(), cv2.COLOR_BGR2GRAY))


def test_a_frames_pixels_do_not_depend_on_which_conversion_was_asked_first(corpus_videos):
    # For 10-bit video swscale's rgb24 and bgr24 conversions differ; rgb() used to be bgr() reversed when an op
    # had asked for bgr() first, so the embedding and the JPEGs of a frame changed with op order and cache state.
    path = str(corpus_videos / "torchcodec__h265_10bits.mp4")
    rgb_first = decode_plan(path, uniform(2))
    bgr_first = decode_plan(path, uniform(2))
    for a, b in zip(rgb_first, bgr_first):
        rgb, bgr = a.rgb(), b.bgr()
        assert np.array_equal(b.rgb(), rgb) and np.array_equal(a.bgr(), bgr)
        assert np.array_equal(rgb, a.frame.to_ndarray(format="rgb24"))
    assert not np.array_equal(rgb_first[0].rgb(), rgb_first[0].bgr()[..., ::-1])  # the case this guards


@pytest.mark.parametrize(
    "name, shape",
    [("decord__video_0.mov", (320, 568)), ("decord__video_90.mov", (568, 320)),
     ("decord__video_180.mov", (320, 568)), ("decord__video_270.mov", (568, 320)),
     ("pyscenedetect__issue-134-rotate.mp4", (1280, 544))],
)  # fmt: skip
def test_frames_come_out_in_display_orientation(corpus_videos, name, shape):
    path = str(corpus_videos / name)
    frame = decode_plan(path, uniform(1))[0]
    assert frame.rgb().shape[:2] == shape and frame.gray().shape == shape
    # OpenCV applies the display matrix too: the same picture, pixel for pixel.
    capture = cv2.VideoCapture(path)
    try:
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        for _ in range(frame.index):
            capture.grab()
        ok, expected = capture.read()
    finally:
        capture.release()
    assert ok and np.array_equal(frame.bgr(), expected)


def test_tiny_clips(corpus_videos):
    one = decode_plan(str(corpus_videos / "moviepy__video-with-dash-1x1px.mp4"), all_frames())
    assert len(one) == 5 and one[0].rgb().shape == (1, 1, 3)
    # Solid red, green, blue, black, white (manifest): the single pixel says so.
    assert [tuple(int(v) > 128 for v in f.rgb()[0, 0]) for f in one] == [
        (True, False, False), (False, True, False), (False, False, True), (False, False, False), (True, True, True),
    ]  # fmt: skip
    eight = decode_plan(str(corpus_videos / "smallfiles__webm_8x8.webm"), uniform(3))
    assert len(eight) == 1 and eight[0].rgb().shape == (8, 8, 3)


# ---------------------------------------------------------------------------------- strategies


def test_sparse_plan_on_a_long_video_decodes_a_small_fraction(corpus_videos):
    # The longest MP4 of the corpus: 41 s, 984 frames of 1920x800, 7 keyframes.
    path = corpus_videos / "rapidvideocr__3.mp4"
    report, (frames,) = read(path, uniform(3))
    times = packet_times(path)
    assert report.strategy == "seek" and report.seeks >= 1 and not report.fell_back
    assert report.table_frames == len(times) == 984
    assert report.frames_decoded < 0.2 * len(times)
    middle = probe_video(str(path)).stream_duration / 2
    expected = [0, next(i for i, t in enumerate(times) if t >= middle), 983]
    assert [f.index for f in frames] == expected
    assert [f.time for f in frames] == pytest.approx([times[i] for i in expected])


def test_seeking_survives_the_cockatoo_trap(corpus_videos):
    # Its later keyframes decode to garbage unless the decoder has seen the first packet (x264's SEI).
    path = corpus_videos / "imageio__cockatoo.mp4"
    seek_report, (seeked,) = read(path, uniform(3), strategy="seek")
    _, (sequential,) = read(path, uniform(3), strategy="sequential")
    assert seek_report.seeks >= 1 and seek_report.frames_decoded < 280
    assert stamps(seeked) == stamps(sequential)
    for a, b in zip(seeked, sequential):
        assert np.array_equal(a.rgb(), b.rgb()), a


def test_a_seek_that_lands_badly_falls_back_to_a_sequential_pass(corpus_videos, tmp_path):
    # Zero the payload of the keyframe the middle target seeks to: decoding from it is not clean.
    source = corpus_videos / "lktracker__test_clip.mp4"
    damaged = tmp_path / "damaged_keyframe.mp4"
    shutil.copy(source, damaged)
    middle = probe_video(str(source)).stream_duration / 2
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        keys = [p for p in container.demux(stream) if p.is_keyframe and p.size]
        target = max((p for p in keys if p.pts * stream.time_base <= middle), key=lambda p: p.pts)
        position, size = target.pos, target.size
    with open(damaged, "r+b") as f:
        f.seek(position + 16)
        f.write(bytes(size - 32))
    report, (seeked,) = read(damaged, uniform(3), strategy="seek")
    _, (sequential,) = read(damaged, uniform(3), strategy="sequential")
    assert report.seeks == 1 and report.fell_back
    assert stamps(seeked) == stamps(sequential)


@pytest.mark.parametrize(
    "name",
    ["pyscenedetect__goldeneye-vfr-drop3.mp4", "moviepy__big_buck_bunny_0_30.webm", "scav__h265.mp4",
     "moviepy__transparent.webm", "lktracker__test_clip.mp4"],
)  # fmt: skip
def test_seek_and_keyframe_strategies_pick_what_a_sequential_pass_picks(corpus_videos, name):
    path = corpus_videos / name
    plans = [uniform(3), uniform(1), fps(0.5)]
    _, sequential = read(path, *plans, keyframes(), strategy="sequential")
    for plan, expected in zip(plans, sequential):
        report, (got,) = read(path, plan, strategy="seek")
        assert stamps(got) == stamps(expected), (plan, report)
        assert report.frames_decoded <= report.table_frames
    # Keyframes alone: only keyframe packets reach the decoder (scav__h265: an HEVC decoder fed only
    # keyframes drops and reorders them unless each one is decoded on its own).
    report, (got,) = read(path, keyframes())
    assert report.strategy == "keyframes" and report.frames_decoded == len(got)
    assert stamps(got) == stamps(sequential[-1])


def test_one_pass_serves_every_consumer(dj_videos):
    plans = [uniform(3), strided(12, include_second=True), keyframes(), fps(1)]
    report, together = read(dj_videos / "video1.mp4", *plans)
    assert report.strategy == "sequential" and report.frames_decoded == 282  # one pass over 282 frames
    for plan, frames in zip(plans, together):
        assert stamps(frames) == stamps(decode_plan(str(dj_videos / "video1.mp4"), plan)), plan
    # Frame 0 is wanted by all four: one DecodedFrame object, converted once for all of them.
    firsts = {id(frames[0]) for frames in together}
    assert len(firsts) == 1
    assert report.frames_delivered == len({f.index for frames in together for f in frames})


class LiveFrames(FrameConsumer):
    """Counts how many decoded frames are alive while it is fed; keeps none itself."""

    def __init__(self, plan):
        super().__init__(plan)
        self.fed = 0
        self.most_alive = 0
        self.refs = []

    def feed(self, frame: DecodedFrame) -> None:
        self.fed += 1
        self.refs.append(weakref.ref(frame))
        if self.fed % 40 == 0:
            gc.collect()
            alive = sum(isinstance(o, av.VideoFrame) for o in gc.get_objects())
            self.most_alive = max(self.most_alive, alive)

    def result(self):
        return self.fed


def test_streaming_holds_a_bounded_number_of_frames(dj_videos):
    consumer = LiveFrames(all_frames())
    read_frames(probe_video(str(dj_videos / "video2.mp4")), [consumer])
    assert consumer.fed == 556
    # The decoder's frame threads hold a few, the reader two (current and look-ahead): never the video.
    assert consumer.most_alive <= 12
    assert sum(ref() is not None for ref in consumer.refs) <= 1


# ---------------------------------------------------------------------------------- timestamps


def test_avi_with_b_frames_is_timed_by_frame_count(corpus_videos):
    # AVI has no presentation timestamps: decoded pts come out of order (latexvideo has B-frames).
    frames = decode_plan(str(corpus_videos / "latexvideo__sample.avi"), all_frames())
    assert len(frames) == 300
    assert [f.time for f in frames] == pytest.approx([i / 30 for i in range(300)])


def test_first_frame_is_time_zero_whatever_its_pts(corpus_videos):
    frames = decode_plan(str(corpus_videos / "mediainfojs__freeMXF-mxf1.mxf"), uniform(2))
    assert frames[0].time == 0 and frames[0].frame.pts == 1
    assert frames[-1].index == 265 and frames[-1].time == pytest.approx(265 / 25)


def test_webm_without_header_duration_samples_up_to_its_last_frame(corpus_videos):
    path = str(corpus_videos / "vhs__onefetch.webm")
    with av.open(path) as container:
        assert container.streams.video[0].duration is None
    frames = decode_plan(path, uniform(3))
    assert [f.index for f in frames] == [0, 127, 253]


# ---------------------------------------------------------------------------------- faulty files


def test_a_corrupt_packet_is_skipped_like_ffmpeg(corpus_videos):
    report, (frames,) = read(corpus_videos / "decord__corrupted.mp4", all_frames())
    assert len(frames) == 49 and report.bad_packets == 1  # manifest: 49 of 50 frames decode
    assert "Invalid data" in report.first_error


@pytest.mark.parametrize(
    "name, frames",
    [("derived__truncated_30pct_faststart.mp4", 85), ("derived__truncated_30pct.webm", 231),
     ("derived__corrupt_middle_64KiB.mp4", 212)],
)  # fmt: skip
def test_damaged_files_give_the_frames_that_decode(bad_videos, name, frames):
    # The counts are ffmpeg's, from bad/MANIFEST.tsv.
    report, (got,) = read(bad_videos / name, all_frames())
    assert len(got) == frames
    assert [f.index for f in got] == list(range(frames))
    assert all(b.time > a.time for a, b in zip(got, got[1:]))


def test_a_truncated_file_resolves_the_last_target_to_its_last_decodable_frame(bad_videos):
    # The header still counts 300 frames; 86 packets remain and the last of them is cut: frame 84 is last.
    path = bad_videos / "derived__truncated_30pct_faststart.mp4"
    assert probe_video(str(path)).frame_count == 300
    report, (frames,) = read(path, uniform(3))
    assert [f.index for f in frames] == [0, 84] and report.strategy == "sequential"


def info_for(path) -> VideoInfo:
    """Header-less metadata, for files that probe_video refuses: the reader must refuse them too."""
    return VideoInfo(
        path=str(path), container="mov,mp4,m4a,3gp,3g2,mj2", codec="h264", width=16, height=16, rotation=0,
        fps=25.0, frame_count=None, duration=1.0, duration_source="header", stream_duration=1.0,
        start_time=0.0, time_base=Fraction(1, 25), has_audio=False,
    )  # fmt: skip


def test_files_without_a_decodable_frame_are_video_errors(bad_videos):
    from conftest import read_manifest

    decodable = {"derived__truncated_30pct_faststart.mp4", "derived__truncated_30pct.webm",
                 "derived__corrupt_middle_64KiB.mp4"}  # fmt: skip
    names = [row["file"] for row in read_manifest(bad_videos)]
    assert len(names) == 18
    for name in names:
        if name in decodable:
            continue
        path = bad_videos / name
        with pytest.raises(VideoError) as probed:
            probe_video(str(path))
        assert name in str(probed.value)
        for plan in (uniform(3), keyframes()):
            with pytest.raises(VideoError) as failed:
                read_frames(info_for(path), [CollectFrames(plan)])
            message = str(failed.value)
            assert name in message and "\n" not in message


# ---------------------------------------------------------------------------------- the context


class Recording:
    """A stand-in frame op: its consumer records the frames it is fed."""

    def __init__(self, plan):
        self.plan = plan
        self.consumers = []

    def frame_consumer(self, info):
        consumer = CollectFrames(self.plan)
        self.consumers.append(consumer)
        return consumer


def test_context_decodes_once_for_every_frame_op(dj_videos):
    path = str(dj_videos / "video1.mp4")
    ocr_like, motion_like = Recording(uniform(3)), Recording(strided(12, include_second=True))
    with VideoContext(frame_ops=[ocr_like, motion_like]) as context:
        first = context.frame_result(ocr_like, path)
        # The other op's frames arrived in the same pass, before it asked.
        assert len(motion_like.consumers) == 1 and len(motion_like.consumers[0].frames) == 25
        second = context.frame_result(motion_like, path)
        assert context.frame_result(ocr_like, path) is first
    assert [f.index for f in first] == [0, 141, 281]
    assert [f.index for f in second][:4] == [0, 1, 12, 24]
    assert len(ocr_like.consumers) == 1 and len(motion_like.consumers) == 1


def test_context_remembers_a_failed_decode(clips, tmp_path):
    path = str(tmp_path / "vanishing.mp4")
    shutil.copy(clips["moving"], path)
    first, second = Recording(uniform(3)), Recording(fps(1))
    with VideoContext(frame_ops=[first, second]) as context:
        context.info(path)  # probed while the file exists; then it disappears before decoding
        (tmp_path / "vanishing.mp4").unlink()
        with pytest.raises(VideoError, match="file not found") as failed:
            context.frame_result(first, path)
        shutil.copy(clips["moving"], path)  # back again: the stage still reports the same failure
        with pytest.raises(VideoError) as again:
            context.frame_result(second, path)
    assert str(again.value) == str(failed.value)
    assert len(second.consumers) == 1 and second.consumers[0].frames == []


def test_unknown_strategy_and_mismatched_keyframes_strategy_are_rejected(dj_videos):
    info = probe_video(str(dj_videos / "video1.mp4"))
    with pytest.raises(ValueError):
        read_frames(info, [CollectFrames(uniform(3))], strategy="fastest")
    with pytest.raises(ValueError):
        read_frames(info, [CollectFrames(uniform(3))], strategy="keyframes")
