"""video_split_by_key_frame_mapper: one clip per group of pictures, packets copied unchanged (each keyframe
with x264's version SEI from the source's first packet in front, see djlite.video.clip_writer)."""

import av
import pytest
from helpers import read_jsonl, without_carried_sei, write_jsonl, write_recipe
from synthetic import make_scenes

import djlite
from djlite.fields import Fields
from djlite.ops.mapper.video_split_by_key_frame_mapper import VideoSplitByKeyFrameMapper


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_scenes(str(tmp_path_factory.mktemp("kf") / "v.mp4"), (2.0, 2.5), gop=24)[0]


def packets(path) -> list[bytes]:
    with av.open(path) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def test_clips_are_the_groups_of_pictures_copied(video, tmp_path):
    op = VideoSplitByKeyFrameMapper(keep_original_sample=False, save_dir=str(tmp_path))
    clips = op.process({"text": "<__dj__video> v", "videos": [video]})
    starts = [c[Fields.clip]["start"] for c in clips]
    assert starts == [0.0, 1.0, 2.0, 3.0, 4.0]
    source = packets(video)
    assert sum((without_carried_sei(packets(c["videos"][0]), source[0]) for c in clips), []) == source


def test_two_videos_and_their_text_tokens(video, tmp_path, clips):
    sample = {"text": "<__dj__video> first <__dj__video> second<|__dj__eoc|>", "videos": [video, clips["moving"]]}
    made = VideoSplitByKeyFrameMapper(keep_original_sample=False, save_dir=str(tmp_path)).process(sample)
    first = [m for m in made if m[Fields.source_file] == [video]]
    second = [m for m in made if m[Fields.source_file] == [clips["moving"]]]
    assert len(first) == 5 and second
    assert first[0]["text"] == "<__dj__video> first  second<|__dj__eoc|>"
    assert second[0]["text"] == " first <__dj__video> second<|__dj__eoc|>"


def test_same_name_in_two_folders_never_collides(tmp_path):
    a = make_scenes(str(tmp_path / "a" / "clip.mp4"), (1.0,), gop=12)[0]
    b = make_scenes(str(tmp_path / "b" / "clip.mp4"), (1.0,), gop=12, seed=3)[0]
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "x", "videos": [a]}, {"text": "y", "videos": [b]}])
    recipe = write_recipe(tmp_path / "r.yaml", data, [{"video_split_by_key_frame_mapper": {}}])
    result = djlite.run(str(recipe))
    rows = read_jsonl(result.result_paths[0])
    made = [r["videos"][0] for r in rows if r.get(Fields.clip)]
    assert len(made) == 4 and len(set(made)) == 4
    assert result.summary["ops"][0]["created"] == 4 and result.summary["balanced"]
