"""Frame plans: which frames each plan selects, on hand-made timelines and on real videos.

Real-video checks compare djlite's selection with an independent PyAV pass that lists every frame's
timestamp, and with the values Data-Juicer's own tests expect (reference/data-juicer.md §3.1-3.2).
"""

import dataclasses
import math
from fractions import Fraction

import av
import pytest

from djlite.video.probe import VideoInfo, probe_video
from djlite.video.reader import CollectFrames, decode_plan, read_frames
from djlite.video.sampling import FrameStamp, all_frames, fps, keyframes, strided, uniform


def timeline_info(duration: float, rate: float = 24.0, frame_count: int | None = None) -> VideoInfo:
    return VideoInfo(
        path="timeline", container="mov,mp4,m4a,3gp,3g2,mj2", codec="h264", width=64, height=48, rotation=0,
        fps=rate, frame_count=frame_count, duration=duration, duration_source="header",
        stream_duration=duration, start_time=0.0, time_base=Fraction(1, 12288), has_audio=False,
    )  # fmt: skip


def select(plan, times, info, keys=None) -> list[int]:
    """Run the plan's selector over a timeline, as the reader does (one frame of look-ahead)."""
    selector = plan.selector(info)
    keys = keys or [i == 0 for i in range(len(times))]
    chosen = []
    for i, t in enumerate(times):
        next_time = times[i + 1] if i + 1 < len(times) else None
        if not selector.done and selector.select(FrameStamp(i, t, keys[i], next_time)):
            chosen.append(i)
    return chosen


def cfr(count: int, rate: float = 24.0) -> list[float]:
    return [i / rate for i in range(count)]


# ---------------------------------------------------------------------------------- plan objects


def test_plans_are_frozen_hashable_values():
    assert uniform(3) == uniform(3) and hash(uniform(3)) == hash(uniform(3))
    assert uniform(3) != uniform(3, segment=10) and fps(1) != fps(2)
    assert len({uniform(3), uniform(3), keyframes(), keyframes(), strided(12, True)}) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        uniform(3).n = 4


@pytest.mark.parametrize(
    "make",
    [lambda: uniform(0), lambda: uniform(2.5), lambda: fps(0), lambda: fps(-1), lambda: keyframes(segment=0),
     lambda: all_frames(segment=-1), lambda: strided(0), lambda: uniform(3, segment=0)],
)  # fmt: skip
def test_invalid_plans_are_rejected(make):
    with pytest.raises(ValueError):
        make()


# ---------------------------------------------------------------------------------- uniform


def test_uniform_targets_first_frame_at_or_after_and_last_frame_for_d():
    # 10 frames at 1 fps, D = 10: targets 0, 5, 10; the stream ends before 10, so the last frame is taken.
    info = timeline_info(10.0, rate=1.0, frame_count=10)
    assert select(uniform(3), cfr(10, 1.0), info) == [0, 5, 9]
    assert select(uniform(1), cfr(10, 1.0), info) == [5]  # D / 2
    assert select(uniform(2), cfr(10, 1.0), info) == [0, 9]


def test_uniform_is_capped_at_the_frame_count_and_takes_one_frame_per_target():
    # Data-Juicer caps n at the header's frame count before spacing the targets: 3 frames, uniform(5)
    # becomes targets 0, 1.5, 3 -> frames 0 and 2 (the last frame serves both 1.5 and 3).
    assert select(uniform(5), cfr(3, 1.0), timeline_info(3.0, rate=1.0, frame_count=3)) == [0, 2]
    # Without a header count, targets 0, .75, 1.5, 2.25, 3 are denser than the frames: each frame serves
    # one target in order (Data-Juicer's loop), so every frame is taken once and none twice.
    assert select(uniform(5), cfr(3, 1.0), timeline_info(3.0, rate=1.0)) == [0, 1, 2]


def test_uniform_per_segment_keeps_the_final_partial_segment():
    # Data-Juicer's video1: 282 frames at 24 fps, D = 11.75 s; 10 s segments -> [0, 10) and [10, 11.75).
    info = timeline_info(11.75, frame_count=282)
    chosen = select(uniform(3, segment=10), cfr(282), info)
    # [0,10): t = 0, 5, and 10 resolves to the segment's last frame (9.9583 s); tail: 10, 10.875, last.
    assert chosen == [0, 120, 239, 240, 261, 281]


# ---------------------------------------------------------------------------------- fps grid


def test_fps_grid_follows_timestamps_on_variable_frame_rate():
    times = [0.0, 0.4, 0.9, 1.05, 2.5, 2.6]
    info = timeline_info(2.7, rate=6 / 2.7)
    # Grid 0, 1, 2: the first frames at or after them are 0.0, 1.05 and 2.5; nothing is at or after 3.
    assert select(fps(1), times, info) == [0, 3, 4]


def test_fps_grid_on_constant_rate_and_faster_than_the_video():
    info = timeline_info(2.0, frame_count=48)
    assert select(fps(2), cfr(48), info) == [0, 12, 24, 36]
    # Asking for 100 fps from a 24 fps video gives every frame once.
    assert select(fps(100), cfr(48), info) == list(range(48))
    # Per 1 s segment, the grid restarts at each segment start.
    assert select(fps(1.5, segment=1.0), cfr(48), info) == [0, 16, 24, 40]


# ---------------------------------------------------------------------------------- strided (motion)


def test_strided_is_data_juicers_motion_schedule():
    info = timeline_info(30 / 24, frame_count=30)
    assert select(strided(12, include_second=True), cfr(30), info) == [0, 1, 12, 24]
    assert select(strided(12), cfr(30), info) == [0, 12, 24]
    # step 1: every frame exactly once (Data-Juicer reads frame 1 twice; djlite does not).
    assert select(strided(1, include_second=True), cfr(5), info) == [0, 1, 2, 3, 4]


def test_strided_numbers_frames_by_time_like_opencv():
    # Frame 12 is missing (a dropped frame): OpenCV's frame 12 is the first at or after 11.5 / 24 s.
    times = [t for i, t in enumerate(cfr(30)) if i != 12]
    chosen = select(strided(12, include_second=True), times, timeline_info(30 / 24))
    assert [times[i] * 24 for i in chosen] == pytest.approx([0, 1, 13, 24])


# ---------------------------------------------------------------------------------- keyframes, all


def test_keyframes_whole_and_per_segment():
    times = cfr(240)  # 10 s at 24 fps
    keys = [i in (0, 100, 130) for i in range(240)]
    info = timeline_info(10.0, frame_count=240)
    assert select(keyframes(), times, info, keys) == [0, 100, 130]
    # Per 5 s segment the segment's first frame joins its keyframes (Data-Juicer re-encodes each segment).
    assert select(keyframes(segment=5), times, info, keys) == [0, 100, 120, 130]
    assert keyframes().keyframes_only and not keyframes(segment=5).keyframes_only


def test_all_frames_per_segment_is_still_every_frame():
    info = timeline_info(2.0, frame_count=48)
    assert select(all_frames(), cfr(48), info) == list(range(48))
    assert select(all_frames(segment=0.7), cfr(48), info) == list(range(48))


# ---------------------------------------------------------------------------------- real videos


def independent_times(path: str) -> tuple[list[float], list[bool]]:
    """Every frame's time (s from the first frame) and keyframe flag, from a plain PyAV decode."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [(f.pts, f.key_frame) for f in container.decode(stream)]
        time_base = stream.time_base
    origin = frames[0][0]
    return [float((p - origin) * time_base) for p, _ in frames], [k for _, k in frames]


def reference_uniform(times: list[float], n: int, duration: float) -> list[int]:
    """Data-Juicer's extract_video_frames_uniformly, as a plain loop over the frame times."""
    targets = [duration / 2] if n == 1 else [i * duration / (n - 1) for i in range(n)]
    chosen, j = [], 0
    for i, t in enumerate(times):
        if j < len(targets) and t + 1e-6 >= targets[j]:
            chosen.append(i)
            j += 1
    if j < len(targets) and (not chosen or chosen[-1] != len(times) - 1):
        chosen.append(len(times) - 1)
    return chosen


def reference_fps(times: list[float], rate: float) -> list[int]:
    chosen = []
    for k in range(math.floor(times[-1] * rate + 1e-6) + 1):
        i = next(i for i, t in enumerate(times) if t + 1e-6 >= k / rate)
        if i not in chosen:
            chosen.append(i)
    return chosen


CORPUS_FILES = [
    "pyscenedetect__goldeneye-vfr-drop3.mp4",  # variable frame rate
    "vhs__onefetch.webm",  # no duration in the stream header
    "mediainfojs__freeMXF-mxf1.mxf",  # first pts is 1, not 0
    "h264parse__test.flv",  # r_frame_rate 30, average 15
    "decord__video_90.mov",  # rotation metadata, 3 frames
    "moviepy__video-with-dash-1x1px.mp4",  # 1x1 pixels, 5 frames at 1 fps
]


@pytest.fixture(scope="module")
def corpus_selections(corpus_videos):
    """For each file: the independent frame list and what one djlite pass selected for several plans."""
    plans = [all_frames(), uniform(3), uniform(1), fps(1), fps(2), keyframes()]
    found = {}
    for name in CORPUS_FILES:
        path = str(corpus_videos / name)
        info = probe_video(path)
        collectors = [CollectFrames(plan) for plan in plans]
        read_frames(info, collectors)
        chosen = {c.plan: [(f.index, f.time) for f in c.frames] for c in collectors}
        found[name] = (info, independent_times(path), chosen)
    return found


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_plans_agree_with_an_independent_pass(corpus_selections, name):
    info, (times, keys), chosen = corpus_selections[name]
    every = chosen[all_frames()]
    assert [i for i, _ in every] == list(range(len(times)))
    assert [t for _, t in every] == pytest.approx(times, abs=1e-9)
    for plan, expected in [
        (uniform(3), reference_uniform(times, min(3, info.frame_count or 3), info.stream_duration)),
        (uniform(1), reference_uniform(times, 1, info.stream_duration)),
        (fps(1), reference_fps(times, 1)),
        (fps(2), reference_fps(times, 2)),
        (keyframes(), [i for i, k in enumerate(keys) if k]),
    ]:
        got = chosen[plan]
        assert [i for i, _ in got] == expected, plan
        assert [t for _, t in got] == pytest.approx([times[i] for i in expected], abs=1e-9), plan


def test_vfr_grid_is_not_a_frame_count_grid(corpus_selections):
    _, (times, _), chosen = corpus_selections["pyscenedetect__goldeneye-vfr-drop3.mp4"]
    gaps = {round(b - a, 4) for a, b in zip(times, times[1:])}
    assert len(gaps) > 1, "the file is variable-frame-rate (every third frame of 23.976 fps dropped)"
    picked = [i for i, _ in chosen[fps(1)]]
    # Counting frames at the nominal 23.976 fps would pick frame 24 for t = 1 s; that frame is at 1.5 s.
    assert picked[:4] != [round(k * 23.976) for k in range(4)]
    assert all(times[i] >= k - 1e-6 and (i == 0 or times[i - 1] < k) for k, i in enumerate(picked))


def test_manifest_frame_counts_and_durations(corpus_selections, corpus_videos):
    from conftest import read_manifest

    manifest = {row["file"]: row for row in read_manifest(corpus_videos)}
    for name, (_, _, chosen) in corpus_selections.items():
        row = manifest[name]
        rate = float(Fraction(row["fps"])) if row["fps"] != "0/0" else None
        every = chosen[all_frames()]
        # Frames span the stream: the last frame starts one frame (at the average rate) before its end.
        assert every[-1][1] <= float(row["duration_s"]) + 1e-3, name
        if rate and name != "pyscenedetect__goldeneye-vfr-drop3.mp4":
            assert len(every) == pytest.approx(float(row["duration_s"]) * rate, abs=1.5), name


# ---------------------------------------------------------------------------------- Data-Juicer's values


DJ_KEYFRAMES = {  # reference/data-juicer.md §3.1, seconds
    "video1": [0, 6.0, 9.875],
    "video2": [0, 10.4167, 20.8333],
    "video3": [0, 4.2917, 14.7083, 25.125, 35.5417, 45.9583],
}
DJ_PLANS = [uniform(1), uniform(3), keyframes(), keyframes(segment=5), uniform(3, segment=10)]


@pytest.fixture(scope="module")
def dj_selections(dj_videos):
    found = {}
    for name in DJ_KEYFRAMES:
        collectors = [CollectFrames(plan) for plan in DJ_PLANS]
        info = probe_video(str(dj_videos / f"{name}.mp4"))
        read_frames(info, collectors)
        found[name] = (info, {c.plan: [round(f.time, 4) for f in c.frames] for c in collectors})
    return found


def test_dj_uniform_frame_num_1_and_3(dj_selections):
    expected_middle = {"video1": 5.875, "video2": 11.5833, "video3": 24.7917}
    expected_three = {  # the OCR filter's sampled frame times in reference/data-juicer.md §3.2
        "video1": [0, 5.875, 11.7083],
        "video2": [0, 11.5833, 23.125],
        "video3": [0, 24.7917, 49.5417],
    }
    for name, (_, chosen) in dj_selections.items():
        assert chosen[uniform(1)] == [expected_middle[name]]
        assert chosen[uniform(3)] == expected_three[name]


def test_dj_all_keyframes(dj_selections):
    for name, (_, chosen) in dj_selections.items():
        assert chosen[keyframes()] == DJ_KEYFRAMES[name]


def test_dj_by_seconds_counts_plus_the_kept_tail(dj_selections):
    # Data-Juicer keeps the segments up to its last boundary in arange(0, D, duration) and gets 4/5/13
    # keyframe-plan frames (5 s) and 3/6/12 uniform frames (10 s) there; djlite adds the tail segment.
    dj_counts = {"video1": (4, 3), "video2": (5, 6), "video3": (13, 12)}
    tails = {"video1": (1, 3), "video2": (2, 3), "video3": (2, 3)}
    for name, (info, chosen) in dj_selections.items():
        for plan, length, dj_count, tail in [
            (keyframes(segment=5), 5, dj_counts[name][0], tails[name][0]),
            (uniform(3, segment=10), 10, dj_counts[name][1], tails[name][1]),
        ]:
            last_boundary = length * math.floor((info.stream_duration - 1e-9) / length)
            inside = [t for t in chosen[plan] if t < last_boundary]
            assert len(inside) == dj_count, (name, plan)
            assert len(chosen[plan]) - len(inside) == tail, (name, plan)


def test_decode_plan_returns_frames_with_pixels(dj_videos):
    frames = decode_plan(str(dj_videos / "video1.mp4"), uniform(3))
    assert [f.index for f in frames] == [0, 141, 281]
    assert frames[1].rgb().shape == (360, 640, 3)
