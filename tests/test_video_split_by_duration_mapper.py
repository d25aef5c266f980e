"""video_split_by_duration_mapper: fixed-length clips, copied where the cuts are keyframes, else re-encoded."""

import av
import pytest
from synthetic import make_scenes

from djlite.errors import RecipeError
from djlite.fields import Fields
from djlite.ops.base import FailedClip
from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
from djlite.recipe import load_recipe
from djlite.video.probe import probe_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 6.5 s at 24 fps, a keyframe every second.
    return make_scenes(str(tmp_path_factory.mktemp("dur") / "v.mp4"), (2.0, 3.0, 1.5), gop=24)[0]


def frames_in(path) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def spans(clips):
    return [(c[Fields.clip]["start"], c[Fields.clip]["end"]) for c in clips]


def test_pieces_of_split_duration_and_a_shorter_last_one(video, tmp_path):
    op = VideoSplitByDurationMapper(split_duration=2, keep_original_sample=False, save_dir=str(tmp_path))
    clips = op.process({"text": "<__dj__video> v", "videos": [video]})
    assert spans(clips) == [(0, 2), (2, 4), (4, 6), (6, 6.5)]
    assert [frames_in(c["videos"][0]) for c in clips] == [48, 48, 48, 12]


def test_min_last_split_duration_drops_a_short_tail(video, tmp_path):
    op = VideoSplitByDurationMapper(split_duration=2, min_last_split_duration=1, save_dir=str(tmp_path))
    out = op.process({"text": "<__dj__video> v", "videos": [video]})
    assert out[0]["videos"] == [video]  # keep_original_sample (default) emits the original first
    assert spans(out[1:]) == [(0, 2), (2, 4), (4, 6)]


def test_cuts_on_keyframes_are_stream_copied_and_others_re_encoded(video, tmp_path):
    copied = VideoSplitByDurationMapper(split_duration=2, save_dir=str(tmp_path / "a"))
    assert copied.plan(video, _context())[1] is False
    odd = VideoSplitByDurationMapper(split_duration=1.5, save_dir=str(tmp_path / "b"))
    assert odd.plan(video, _context())[1] is True
    snapped = VideoSplitByDurationMapper(split_duration=1.5, cut_mode="copy", save_dir=str(tmp_path / "c"))
    got, reencode = snapped.plan(video, _context())
    assert not reencode and [(s.start, s.end) for s in got] == [(0, 1), (1, 3), (3, 4), (4, 6), (6, 6.5)]


def _context():
    from djlite.video.context import VideoContext

    return VideoContext()


def test_a_truncated_file_gives_error_clips_not_a_lost_parent(bad_videos, tmp_path):
    path = str(bad_videos / "derived__truncated_30pct_faststart.mp4")
    op = VideoSplitByDurationMapper(split_duration=1, save_dir=str(tmp_path), cut_mode="reencode")
    made = op.split({"videos": [path]})
    good = [m for m in made if not isinstance(m, FailedClip)]
    failed = [m for m in made if isinstance(m, FailedClip)]
    assert good and failed, "the readable start becomes clips, the missing rest error records"
    assert all(probe_video(c["videos"][0]).duration == pytest.approx(1.0, abs=0.01) for c in good)
    # The clip the truncation cuts short is an error naming its real length, not a "1 s" clip of 0.83 s.
    assert "it lasts 0.834s but the split promised 1.000s" in str(failed[0].error)
    assert all("no frames" in str(f.error) for f in failed[1:])


def test_bad_parameters_fail_before_any_data_is_read():
    for params, word in [({"split_duration": 0}, "split_duration"), ({"cut_mode": "fast"}, "cut_mode")]:
        with pytest.raises(RecipeError, match=word):
            load_recipe(data={"process": [{"video_split_by_duration_mapper": params}]})
