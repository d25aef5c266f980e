"""The `diverse` frame sampling of video_extract_frames_mapper: K most diverse frames by farthest-first."""

import os

import numpy as np
from synthetic import _texture, _write

from djlite.embed.backends import make_backend
from djlite.ops.mapper.video_extract_frames_mapper import VideoExtractFramesMapper
from djlite.select.frames import DiverseCandidates, TimesPlan
from djlite.video.probe import probe_video
from djlite.video.reader import decode_plan, read_frames


def scenes_clip(path, scenes=6, seconds=2, fps=10, size=(96, 64)):
    """`scenes` different textures, `seconds` each, nearly still: one diverse frame per scene is the answer."""
    w, h = size
    frames = [_texture(h, w, seed=10 + s)[t % 4 : t % 4 + h, :w] for s in range(scenes) for t in range(seconds * fps)]
    return _write(str(path), frames, fps=fps)


def test_diverse_picks_one_frame_per_scene_with_timestamps(tmp_path):
    clip = scenes_clip(tmp_path / "scenes.mp4")
    op = VideoExtractFramesMapper(
        frame_sampling_method="diverse", frame_num=6, candidate_fps=5, frame_dir=str(tmp_path / "f")
    )
    sample = op.process({"videos": [clip]})
    times = sample["video_frames_timestamps"][0]
    assert len(sample["video_frames"][0]) == 6 and all(os.path.isfile(p) for p in sample["video_frames"][0])
    assert times == sorted(times)
    assert sorted(int(t // 2) for t in times) == list(range(6))  # one per 2-second scene
    again = VideoExtractFramesMapper(
        frame_sampling_method="diverse", frame_num=6, candidate_fps=5, frame_dir=str(tmp_path / "f")
    ).process({"videos": [clip]})
    assert again["video_frames"] == sample["video_frames"] and again["video_frames_timestamps"] == [times]


def test_min_distance_stops_early_and_bytes_output(tmp_path):
    clip = scenes_clip(tmp_path / "scenes.mp4", scenes=3)
    op = VideoExtractFramesMapper(
        frame_sampling_method="diverse", frame_num=20, candidate_fps=5, min_distance=0.3, output_format="bytes"
    )
    sample = op.process({"videos": [clip]})
    assert 3 <= len(sample["video_frames"][0]) < 20  # near-still frames within a scene are closer than 0.3
    assert all(isinstance(b, bytes) and b[:2] == b"\xff\xd8" for b in sample["video_frames"][0])


def test_candidates_keep_vectors_only_and_times_plan_decodes_exactly_those_frames(tmp_path):
    clip = scenes_clip(tmp_path / "scenes.mp4", scenes=2)
    consumer = DiverseCandidates(make_backend("thumbnail_histogram"), 5, 2, None)
    read_frames(probe_video(clip), [consumer])
    assert consumer.pending == [] or len(consumer.pending) < consumer.batch
    pick = consumer.result()
    assert pick.candidates == 20 and len(pick.times) == 2 and pick.ranks[0] == 0
    frames = decode_plan(clip, TimesPlan(tuple(pick.times)))
    assert np.allclose([f.time for f in frames], pick.times)


def test_a_re_run_looks_up_each_videos_frame_folder_once(tmp_path, monkeypatch):
    """A diverse re-run found the finished folder (claim, record) for the frames, then looked it up again (a
    stat, the claim, the record) for the timestamps: the record's times are now kept when it is first read."""
    clip = scenes_clip(tmp_path / "scenes.mp4", scenes=2)
    params = dict(frame_sampling_method="diverse", frame_num=2, candidate_fps=5, frame_dir=str(tmp_path / "f"))
    first = VideoExtractFramesMapper(**params).process({"videos": [clip]})
    lookups, folder = [], VideoExtractFramesMapper.folder

    def counting(self, path, claim=False):
        lookups.append(path)
        return folder(self, path, claim)

    monkeypatch.setattr(VideoExtractFramesMapper, "folder", counting)
    again = VideoExtractFramesMapper(**params).process({"videos": [clip]})
    assert again == first and lookups == [clip]
