"""video_split_by_scene_mapper: PySceneDetect's cuts from the shared decode, one sample per scene."""

import av
import pytest
from helpers import read_jsonl, write_jsonl, write_recipe
from synthetic import make_scenes

import djlite
from djlite.errors import RecipeError
from djlite.fields import Fields
from djlite.ops.mapper.video_split_by_scene_mapper import VideoSplitBySceneMapper
from djlite.recipe import load_recipe
from djlite.video.probe import probe_video
from djlite.video.reader import read_frames
from djlite.video.scenes import SceneCuts, make_detector

SCENES = (2.0, 3.0, 1.5, 0.4, 2.5, 4.0, 1.0)  # the 0.4 s scene is shorter than min_scene_len and merges


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    return make_scenes(str(tmp_path_factory.mktemp("scenes") / "scenes.mp4"), SCENES)


def our_scene_starts(path, **kwargs) -> list[int]:
    info = probe_video(path)
    cuts = SceneCuts(lambda: make_detector("ContentDetector", 27.0, 15, info.fps, kwargs), info.fps)
    read_frames(info, [cuts])
    return [first for first, *_ in cuts.result()]


def pyscenedetect_starts(path, **kwargs) -> list[int]:
    scenedetect = pytest.importorskip("scenedetect")
    scenes = scenedetect.detect(str(path), scenedetect.ContentDetector(27.0, 15, **kwargs), start_in_scene=True)
    return [start.frame_num for start, _ in scenes]


def frames_in(path) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def test_cuts_are_the_generated_scene_changes(scene_video):
    path, cuts = scene_video
    # The 0.4 s scene (frames 156..165) is shorter than min_scene_len: its end cut merges away.
    assert cuts == [48, 120, 156, 166, 226, 322]
    assert our_scene_starts(path) == [0, 48, 120, 156, 226, 322]


@pytest.mark.parametrize("kwargs", [{}, {"luma_only": True}])
def test_cuts_equal_pyscenedetect_on_a_generated_video(scene_video, kwargs):
    path, _ = scene_video
    assert our_scene_starts(path, **kwargs) == pyscenedetect_starts(path, **kwargs)


# The corpus's longest clips with cuts, and the rotated / variable-frame-rate GoldenEye excerpt.
CORPUS = [
    "rapidvideocr__3.mp4",
    "moviepy__robot_basketball.mp4",
    "moviepy__big_buck_bunny_0_30.webm",
    "pyscenedetect__issue-134-rotate.mp4",
]


@pytest.mark.parametrize("name", CORPUS)
def test_cuts_equal_pyscenedetect_on_the_corpus(corpus_videos, name):
    assert our_scene_starts(corpus_videos / name) == pyscenedetect_starts(corpus_videos / name)


def test_variable_frame_rate_cuts_are_within_one_frame(corpus_videos):
    # goldeneye-vfr-drop3 drops every third frame: OpenCV numbers frames from their timestamps times the nominal
    # rate, djlite counts the frames decoded, so a cut late in the file lands one number apart (140 vs 141).
    path = corpus_videos / "pyscenedetect__goldeneye-vfr-drop3.mp4"
    ours, theirs = our_scene_starts(path), pyscenedetect_starts(path)
    assert len(ours) == len(theirs) and all(abs(a - b) <= 1 for a, b in zip(ours, theirs))


def test_split_samples_decode_and_add_up_to_the_source(scene_video, tmp_path):
    path, _ = scene_video
    op = VideoSplitBySceneMapper(keep_original_sample=False, save_dir=str(tmp_path / "clips"))
    sample = {"text": "<__dj__video> caption", "videos": [path], "id": 7}
    clips = op.process(sample)
    assert len(clips) == 6
    assert [c[Fields.clip]["index"] for c in clips] == list(range(6))
    assert all(c[Fields.source_file] == [path] for c in clips)
    assert [c["id"] for c in clips] == [f"7_{n}" for n in range(6)]
    assert all(c["text"] == "<__dj__video> caption<|__dj__eoc|>" for c in clips)
    assert sum(frames_in(c["videos"][0]) for c in clips) == frames_in(path)
    total = sum(c[Fields.clip]["end"] - c[Fields.clip]["start"] for c in clips)
    assert total == pytest.approx(probe_video(path).duration, abs=1e-3)
    assert sum(probe_video(c["videos"][0]).duration for c in clips) == pytest.approx(total, abs=0.01)


def test_keep_original_sample_and_a_video_of_one_scene(tmp_path, clips):
    sample = {"text": "<__dj__video> x", "videos": [clips["static"]]}
    (alone,) = VideoSplitBySceneMapper(save_dir=str(tmp_path)).process(dict(sample))
    assert alone["videos"] == sample["videos"], "one scene: the original file, not a copy (as Data-Juicer)"
    assert alone[Fields.clip]["start"] == 0 and not list(tmp_path.iterdir())
    kept = VideoSplitBySceneMapper(save_dir=str(tmp_path), keep_original_sample=True).process(dict(sample))
    assert kept == [sample]  # nothing new


def test_a_run_accounts_for_parents_and_clips_and_a_rerun_writes_nothing(scene_video, tmp_path, clips):
    path, _ = scene_video
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "scenes", "text": "<__dj__video> s", "videos": [path]},
            {"id": "missing", "text": "<__dj__video> m", "videos": [str(tmp_path / "nope.mp4")]},
            {"id": "static", "text": "<__dj__video> one scene", "videos": [clips["static"]]},
        ],
    )
    recipe = write_recipe(tmp_path / "r.yaml", data, [{"video_split_by_scene_mapper": {"keep_original_sample": False}}])
    result = djlite.run(str(recipe))
    summary = result.summary
    assert summary["balanced"]
    (op,) = summary["ops"]
    assert (op["input"], op["created"], op["consumed"], op["errors"], op["kept"]) == (3, 7, 2, 1, 7)
    rows = read_jsonl(result.result_paths[0])
    assert [r["id"] for r in rows] == [f"scenes_{n}" for n in range(6)] + ["static_0"]  # each clip its own id
    written = sorted(p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.mp4"))
    assert len(written) == 6  # the one-scene video is not rewritten
    again = djlite.run(str(recipe), use_cache=False)
    assert again.summary["kept"] == 7
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.mp4")) == written


def test_bad_parameters_fail_before_any_data_is_read():
    for params, word in [({"detector": "Magic"}, "detector"), ({"threshold": -1}, "threshold")]:
        with pytest.raises(RecipeError, match=word):
            load_recipe(data={"process": [{"video_split_by_scene_mapper": params}]})
