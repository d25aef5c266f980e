"""video_extract_frames_mapper: Data-Juicer's counts, unique and stable frame folders, atomic re-runs."""

import os

import pytest
from helpers import read_jsonl, write_jsonl, write_recipe
from synthetic import make_moving

import djlite
from djlite.errors import RecipeError, VideoError
from djlite.ops.mapper.video_extract_frames_mapper import VideoExtractFramesMapper
from djlite.recipe import build_op


def counts(op, videos) -> list[int]:
    return [len(frames) for frames in op.process({"videos": [str(v) for v in videos]})["video_frames"]]


def files_under(folder) -> dict[str, int]:
    return {
        os.path.join(root, n): os.stat(os.path.join(root, n)).st_mtime_ns for root, _, ns in os.walk(folder) for n in ns
    }


def test_data_juicer_counts(dj_videos, tmp_path):
    videos = [dj_videos / f"video{i}.mp4" for i in (1, 2, 3)]  # 11.75 s, 23.17 s, 49.58 s
    op = lambda **kw: VideoExtractFramesMapper(frame_dir=str(tmp_path), **kw)  # noqa: E731
    assert counts(op(frame_sampling_method="all_keyframes"), videos) == [3, 3, 6]
    assert counts(op(frame_sampling_method="uniform", frame_num=2), videos) == [2, 2, 2]
    # Data-Juicer's test_uniform_sampling and test_all_keyframes_sampling: whole segments only.
    assert counts(op(frame_sampling_method="uniform", frame_num=3, duration=10), videos) == [3, 6, 12]
    assert counts(op(frame_sampling_method="all_keyframes", duration=5), videos) == [4, 5, 13]
    # keep_partial_segment samples the final partial segment too.
    partial = dict(keep_partial_segment=True)
    assert counts(op(frame_sampling_method="uniform", frame_num=3, duration=10, **partial), videos) == [6, 9, 15]
    assert counts(op(frame_sampling_method="all_keyframes", duration=5, **partial), videos) == [5, 7, 15]
    # A video shorter than one segment gives no frames, as in Data-Juicer.
    assert counts(op(frame_sampling_method="uniform", duration=20), videos[:1]) == [0]


def test_same_file_name_in_two_folders_gives_two_frame_sets(tmp_path):
    a = make_moving(str(tmp_path / "a" / "clip.mp4"), seconds=1, seed=1)
    b = make_moving(str(tmp_path / "b" / "clip.mp4"), seconds=1, seed=2)
    op = VideoExtractFramesMapper(frame_dir=str(tmp_path / "frames"), frame_sampling_method="uniform", frame_num=2)
    frames_a, frames_b = op.process({"videos": [a, b]})["video_frames"]
    assert len(frames_a) == len(frames_b) == 2
    # Data-Juicer's layout for the first; the second would share its folder, so it gets one of its own.
    assert os.path.dirname(frames_a[0]) == str(tmp_path / "frames" / "clip")
    assert os.path.basename(os.path.dirname(frames_b[0])).startswith("clip-")
    assert sorted(os.listdir(tmp_path / "frames" / "clip")) == ["frame_0.jpg", "frame_1.jpg"]
    assert open(frames_a[0], "rb").read() != open(frames_b[0], "rb").read()
    # The same video again, in another sample or another run: the same folder.
    assert op.process({"videos": [b]})["video_frames"] == [frames_b]


def test_rerun_writes_nothing_new_and_leaves_no_temporary_files(tmp_path):
    video = make_moving(str(tmp_path / "v.mp4"), seconds=2)
    frame_dir = tmp_path / "frames"
    op = VideoExtractFramesMapper(frame_dir=str(frame_dir), frame_sampling_method="fps", sampling_fps=2)
    first = op.process({"videos": [video]})["video_frames"]
    written = files_under(frame_dir)
    assert len(first[0]) == 4 and len(written) == 6  # 4 frames + the folder's claim and completion record
    assert not [p for p in written if ".tmp-" in p]
    again = VideoExtractFramesMapper(frame_dir=str(frame_dir), frame_sampling_method="fps", sampling_fps=2)
    assert again.process({"videos": [video]})["video_frames"] == first
    assert files_under(frame_dir) == written, "same files, same modification times"
    # Other parameters never reuse those frames.
    other = VideoExtractFramesMapper(frame_dir=str(frame_dir), frame_sampling_method="uniform", frame_num=2)
    assert os.path.dirname(other.process({"videos": [video]})["video_frames"][0][0]) != os.path.dirname(first[0][0])


def test_lists_align_with_videos_and_bytes_output(clips, tmp_path):
    op = VideoExtractFramesMapper(output_format="bytes", frame_sampling_method="uniform", frame_num=2)
    out = op.process({"videos": [clips["moving"], clips["static"], clips["moving"]]})["video_frames"]
    assert [len(x) for x in out] == [2, 2, 2] and out[0] == out[2] and out[0] != out[1]
    assert all(isinstance(b, bytes) and b[:2] == b"\xff\xd8" for b in out[0])
    assert op.process({"videos": [], "text": "no video"}) == {"videos": [], "text": "no video", "video_frames": []}
    assert op.process({"videos": [clips["moving"]], "video_frames": [["kept"]]})["video_frames"] == [["kept"]]


def test_bad_input(clips, tmp_path):
    op = VideoExtractFramesMapper(frame_dir=str(tmp_path))
    with pytest.raises(VideoError, match="broken.mp4"):
        op.process({"videos": [clips["broken"]]})
    with pytest.raises(VideoError, match="file not found"):
        op.process({"videos": [str(tmp_path / "missing.mp4")]})
    assert not os.listdir(tmp_path)
    with pytest.raises(RecipeError, match="frame_field 'a' and frame_key 'b' disagree"):
        build_op("video_extract_frames_mapper", {"frame_field": "a", "frame_key": "b"})
    with pytest.raises(RecipeError, match="frame_sampling_method"):
        build_op("video_extract_frames_mapper", {"frame_sampling_method": "random", "frame_dir": "x"})


def test_run_exports_the_frames_column(clips, tmp_path):
    rows = [{"id": n, "videos": [clips[n]]} for n in ("moving", "static", "broken")]
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    step = {"video_extract_frames_mapper": {"frame_dir": str(tmp_path / "frames"), "frame_sampling_method": "uniform"}}
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [step], np=1)))
    kept = read_jsonl(res.result_paths[0])
    assert [row["id"] for row in kept] == ["moving", "static"] and res.summary["errored"] == 1
    assert all(len(row["video_frames"]) == 1 and len(row["video_frames"][0]) == 3 for row in kept)
    assert all(os.path.isfile(p) for row in kept for p in row["video_frames"][0])


def test_default_frame_dir_is_beside_the_export_and_frame_field_names_the_column(clips, tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", [{"id": "moving", "videos": [clips["moving"]]}])
    step = {"video_extract_frames_mapper": {"frame_sampling_method": "uniform", "frame_field": "frames"}}
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [step], np=1)))
    (row,) = read_jsonl(res.result_paths[0])
    expected = tmp_path / "out" / "__dj__produced_data__" / "video_extract_frames_mapper" / "moving"
    assert row["frames"] == [[str(expected / f"frame_{i}.jpg") for i in range(3)]]
    # Outside a run, Data-Juicer's default: beside the video.
    op = VideoExtractFramesMapper(frame_sampling_method="uniform", frame_num=1)
    video = make_moving(str(tmp_path / "videos" / "v.mp4"), seconds=1)
    (frames,) = op.process({"videos": [video]})["video_frames"]
    assert frames == [
        str(tmp_path / "videos" / "__dj__produced_data__" / "video_extract_frames_mapper" / "v" / "frame_0.jpg")
    ]


def test_frames_stream_to_disk_as_they_are_decoded(tmp_path):
    """Issue 15.6: `all` on a long video held every JPEG in memory until the video ended."""
    import av
    import numpy as np

    from djlite.video.jpeg import JpegFrames
    from djlite.video.reader import DecodedFrame
    from djlite.video.sampling import all_frames

    folder = tmp_path / "frames"
    planted = tmp_path / "victim.jpg"
    planted.write_bytes(b"precious")
    folder.mkdir()
    (folder / f"frame_0.jpg.tmp-{os.getpid()}").symlink_to(planted)  # the mapper's old temporary name
    consumer = JpegFrames(all_frames(), 75, folder=str(folder))
    for i in range(5):
        picture = np.full((36, 64, 3), i * 40, np.uint8)
        consumer.feed(DecodedFrame(i, i / 25, av.VideoFrame.from_ndarray(picture, format="rgb24")))
        assert (folder / f"frame_{i}.jpg").stat().st_size > 0, "written when decoded, not when the video ends"
        assert consumer.jpegs == []
    assert consumer.result() == [f"frame_{i}.jpg" for i in range(5)]
    assert planted.read_bytes() == b"precious"
