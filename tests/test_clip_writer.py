"""djlite.video.clip_writer: stream copy and re-encode cut the right frames, atomically, with stable names."""

import os

import av
import pytest
from helpers import without_carried_sei
from synthetic import make_scenes

from djlite.errors import SampleError
from djlite.video import clip_writer
from djlite.video.clip_writer import Span, copy_clip, keyframe_times, reencode_clip, write_clip
from djlite.video.probe import probe_video


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    path, cuts = make_scenes(str(tmp_path_factory.mktemp("src") / "scenes.mp4"), (2.0, 3.0, 1.5), gop=24)
    return path


def frame_count(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def test_keyframes_of_a_fixed_gop(scenes):
    keys, end = keyframe_times(scenes)
    assert keys[:3] == [0.0, 1.0, 2.0] and end == pytest.approx(6.5)


def test_copy_between_keyframes_is_exact_and_lossless(scenes, tmp_path):
    out = copy_clip(scenes, str(tmp_path / "c.mp4"), Span(2.0, 5.0))
    assert frame_count(out) == 72 and probe_video(out).duration == pytest.approx(3.0)
    with av.open(scenes) as a, av.open(out) as b:  # the same packets, unchanged but for the SEI carried along
        src = [bytes(p) for p in a.demux(video=0) if p.size]
        dst = [bytes(p) for p in b.demux(video=0) if p.size]
    assert without_carried_sei(dst, src[0]) == src[48:120] and dst[0] != src[48]


def test_reencode_cuts_on_the_exact_frame(scenes, tmp_path):
    out = reencode_clip(scenes, str(tmp_path / "r.mp4"), Span(2.5, 4.25))
    assert frame_count(out) == 42  # frames 60..101 at 24 fps


def test_clips_of_a_video_add_up_to_it(scenes, tmp_path):
    bounds = [0.0, 1.5, 4.0, 6.5]
    outs = [
        reencode_clip(scenes, str(tmp_path / f"{i}.mp4"), Span(a, b))
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]
    assert sum(frame_count(p) for p in outs) == 156
    assert sum(probe_video(p).duration for p in outs) == pytest.approx(6.5, abs=0.01)


def test_names_never_collide_across_folders_and_repeat_for_a_rerun(tmp_path):
    a = clip_writer.clip_name("/data/x/clip.mp4", "op", {"k": 1}, 0, 3, ".mp4")
    b = clip_writer.clip_name("/data/y/clip.mp4", "op", {"k": 1}, 0, 3, ".mp4")
    again = clip_writer.clip_name("/data/x/clip.mp4", "op", {"k": 1}, 0, 3, ".mp4")
    other_params = clip_writer.clip_name("/data/x/clip.mp4", "op", {"k": 2}, 0, 3, ".mp4")
    assert a != b and a == again and a != other_params
    assert a.startswith("clip__") and a.endswith("_000.mp4")


def test_a_rerun_writes_nothing_and_a_failed_write_leaves_no_file(scenes, tmp_path):
    target = str(tmp_path / "out" / "c.mp4")
    write_clip(scenes, target, Span(0.0, 2.0), reencode=False)
    stamp = os.stat(target).st_mtime_ns
    write_clip(scenes, target, Span(0.0, 2.0), reencode=False)
    assert os.stat(target).st_mtime_ns == stamp
    with pytest.raises(SampleError, match="no frames"):
        write_clip(scenes, str(tmp_path / "out" / "empty.mp4"), Span(9.0, 10.0), reencode=True)
    assert sorted(os.listdir(tmp_path / "out")) == ["c.mp4"]  # no temporary, no empty clip


def test_a_file_that_is_not_a_video_is_a_sample_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SampleError):
        write_clip(str(bad), str(tmp_path / "o.mp4"), Span(0, 1), reencode=False)


def test_rotation_metadata_survives_copy_and_re_encode(tmp_path):
    from synthetic import make_moving

    src = make_moving(str(tmp_path / "rotated.mp4"), seconds=1, rotation=-90)
    assert probe_video(src).rotation == -90
    copied = copy_clip(src, str(tmp_path / "c.mp4"), Span(0, 1))
    encoded = reencode_clip(src, str(tmp_path / "r.mp4"), Span(0.25, 1))
    assert probe_video(copied).rotation == -90 and probe_video(encoded).rotation == -90


def test_several_clips_copied_in_one_pass_keep_every_packet(dj_videos, tmp_path):
    # video1 has AAC audio interleaved with the video: no packet of either stream is lost between clips.
    source = str(dj_videos / "video1.mp4")
    keys, end = keyframe_times(source)
    bounds = keys + [end]
    items = [(str(tmp_path / f"{i}.mp4"), Span(a, b)) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    assert clip_writer.copy_clips(source, items) == [None] * len(items)

    def count(path, kind):
        with av.open(path) as container:
            return sum(1 for p in container.demux(**{kind: 0}) if p.size)

    assert sum(count(t, "video") for t, _ in items) == count(source, "video")
    assert sum(count(t, "audio") for t, _ in items) >= count(source, "audio") - 1  # the last may outlast the video
    stamps = [os.stat(t).st_mtime_ns for t, _ in items]
    assert clip_writer.copy_clips(source, items) == [None] * len(items)
    assert [os.stat(t).st_mtime_ns for t, _ in items] == stamps
