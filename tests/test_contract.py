"""The op contract catches mistakes: declarations at registration, bugs in ops stop the run, time is honest."""

import sys

import datasets
import pytest
from datasets import List, Value
from helpers import read_jsonl, video_samples, write_jsonl, write_recipe

import djlite
from djlite.errors import OpBugError, VideoError
from djlite.fields import Fields
from djlite.ops.base import Deduplicator, Selection, Selector, VideoFilter, overrides
from djlite.ops.filter.video_duration_filter import VideoDurationFilter
from djlite.ops.filter.video_motion_score_filter import VideoMotionScoreFilter
from djlite.ops.mapper.video_extract_frames_mapper import VideoExtractFramesMapper
from djlite.recipe import load_recipe
from djlite.registry import OPERATORS, OpDeclarationError, register_op
from djlite.video.context import VideoContext
from djlite.video.reader import FrameConsumer
from djlite.video.sampling import uniform


@pytest.fixture
def registry():
    """Registrations made by a test are undone after it."""
    before = dict(OPERATORS)
    yield
    OPERATORS.clear()
    OPERATORS.update(before)


# ---------------------------------------------------------------- declarations, checked at registration


def test_a_filter_without_stats_features_fails_at_registration(registry):
    with pytest.raises(OpDeclarationError, match="'no_stats_filter'.*stats_features is empty"):

        @register_op("no_stats_filter")
        class NoStats(VideoFilter):
            def video_stats(self, path, context):
                return {}

            def process(self, sample):
                return True


def test_a_stat_type_that_is_not_a_feature_and_missing_hooks_fail_at_registration(registry):
    with pytest.raises(OpDeclarationError, match=r"stats_features\['my_stat'\]"):

        @register_op("bad_type_filter")
        class BadType(VideoFilter):
            stats_features = {"my_stat": "float"}

            def video_stats(self, path, context):
                return {"my_stat": 1.0}

            def process(self, sample):
                return True

    with pytest.raises(OpDeclarationError, match="'no_process_filter'.*must define process"):

        @register_op("no_process_filter")
        class NoProcess(VideoFilter):
            stats_features = {"my_stat": List(Value("float64"))}

            def video_stats(self, path, context):
                return {"my_stat": 1.0}

    with pytest.raises(OpDeclarationError, match="must define compute_hash, dedup_key"):

        @register_op("no_hash_dedup")
        class NoHash(Deduplicator):
            pass

    with pytest.raises(OpDeclarationError, match="must define select, input_columns"):

        @register_op("empty_selector")
        class Empty(Selector):
            pass


def test_hooks_are_detected_as_overrides_not_by_name():
    assert VideoMotionScoreFilter().reads_frames and VideoExtractFramesMapper(output_format="bytes").reads_frames
    assert not VideoDurationFilter().reads_frames
    assert overrides(VideoDurationFilter, "video_stats") and not overrides(VideoDurationFilter, "compute_stats")


# ---------------------------------------------------------------- bugs in ops stop the run


class BuggyFilter(VideoFilter):
    """A deliberate bug: an attribute that does not exist."""

    stats_features = {"buggy_stat": List(Value("float64"))}

    def video_stats(self, path, context):
        return {"buggy_stat": context.info(path).no_such_attribute}

    def process(self, sample):
        return True


class UndeclaredStatFilter(VideoFilter):
    stats_features = {"declared_stat": List(Value("float64"))}

    def video_stats(self, path, context):
        return {"declared_stat": 1.0}

    def compute_stats(self, sample, context=None):
        sample = super().compute_stats(sample, context)
        sample[Fields.stats]["undeclared_stat"] = [2.0]
        return sample

    def process(self, sample):
        return True


def _recipe(tmp_path, clips, ops, np=1, paths=None):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(paths or [clips["moving"], clips["static"]]))
    # use_cache off: the per-video stats cache would serve stats without decoding (decode counters below).
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, [], np=np, use_cache=False)))
    recipe.ops = ops
    return recipe


@pytest.mark.parametrize("np", [1, 2])
def test_a_bug_in_an_op_stops_the_run_with_its_traceback(tmp_path, clips, np):
    recipe = _recipe(tmp_path, clips, [VideoDurationFilter(), BuggyFilter()], np=np)
    with pytest.raises(
        OpBugError, match="(?s)step 1 op failed with AttributeError on its first sample.*no_such_attribute"
    ):
        djlite.run(recipe)


def test_an_undeclared_stat_stops_the_run_naming_op_and_key(tmp_path, clips):
    recipe = _recipe(tmp_path, clips, [UndeclaredStatFilter()])
    with pytest.raises(OpBugError, match="wrote stat 'undeclared_stat', which its stats_features do not declare"):
        djlite.run(recipe)


def test_bad_data_is_still_a_sample_error(tmp_path, clips):
    recipe = _recipe(tmp_path, clips, [VideoDurationFilter()], paths=[clips["broken"], clips["moving"]])
    result = djlite.run(recipe)
    assert result.summary["errored"] == 1 and result.summary["kept"] == 1 and not result.failed_ops


BUGGY_RUN = """
import sys
sys.path.insert(0, {tests!r})
from djlite.registry import register_op
from test_contract import BuggyFilter
register_op("buggy_filter")(BuggyFilter)
from djlite.cli.process import main
sys.exit(main(["--config", {recipe!r}]))
"""


def test_dj_process_exits_non_zero_with_the_traceback_on_a_buggy_op(tmp_path, clips):
    import subprocess
    from pathlib import Path

    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["static"]]))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"buggy_filter": {}}])
    script = BUGGY_RUN.format(tests=str(Path(__file__).parent), recipe=str(recipe))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode != 0
    assert "Traceback" in run.stderr and "no_such_attribute" in run.stderr and "OpBugError" in run.stderr


def test_an_op_that_fails_on_every_sample_fails_the_run_and_writes_the_errors_file(tmp_path, clips):
    from helpers import dj_process

    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["broken"], clips["broken"]]))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])
    run = dj_process("--config", str(recipe))
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("dj-process: error: ops failed on every sample") and "video_duration_filter" in last
    assert len(read_jsonl(tmp_path / "out" / "res_errors.jsonl")) == 2


# ---------------------------------------------------------------- dataset-level steps, one mechanism


class TopTwoByDuration(Selector):
    input_columns = ["video_duration"]
    stats_features = {"rank": Value("int64")}

    def select(self, table, show_num=0):
        durations = [d[0] for d in table["video_duration"].to_pylist()]
        order = sorted(range(len(durations)), key=lambda i: -durations[i])
        return Selection(order[:2], stats={"rank": [order.index(i) for i in range(len(durations))]})


def test_a_selector_keeps_its_picks_in_pick_order_and_writes_stats_for_every_row(tmp_path, clips):
    names = ["short", "moving", "static"]
    recipe = _recipe(tmp_path, clips, [VideoDurationFilter(), TopTwoByDuration()], paths=[clips[n] for n in names])
    result = djlite.run(recipe)
    kept = result.dataset.to_list()
    assert [row["videos"][0] for row in kept][0] != clips["short"] and len(kept) == 2
    assert [row[Fields.stats]["rank"] for row in kept] == [0, 1]
    assert result.summary["ops"][1]["filtered"] == 1 and result.summary["balanced"]
    stats_only = djlite.run(recipe, stats_only=True)
    assert sorted(row[Fields.stats]["rank"] for row in stats_only.dataset.to_list()) == [0, 1, 2]


def test_selection_stats_of_a_wrong_length_are_a_bug(clips):
    class Broken(Selector):
        input_columns = ["x"]
        stats_features = {"rank": Value("int64")}

        def select(self, table, show_num=0):
            return Selection([0], stats={"rank": [0]})

    with pytest.raises(ValueError, match="1 values of 'rank' for 2 rows"):
        Broken().process(datasets.Dataset.from_list([{"x": 1}, {"x": 2}]))


# ---------------------------------------------------------------- time of a shared decode


def test_a_shared_decode_is_charged_to_every_op_that_uses_it(clips):
    motion = VideoMotionScoreFilter()
    frames = VideoExtractFramesMapper(output_format="bytes", frame_sampling_method="all")
    with VideoContext(frame_ops=[motion, frames]) as context:
        motion.compute_stats({"videos": [clips["moving"]]}, context)
        # The mapper asked for nothing yet, but the decode served it too: it gets its share.
        assert context.charged[id(frames)] > 0 and context.charged[id(motion)] > 0
        total = context.charged[id(frames)] + context.charged[id(motion)]
        assert total == pytest.approx(context.decode_seconds, rel=0.05)


def test_a_decode_error_is_recorded_for_every_frame_op(clips):
    motion = VideoMotionScoreFilter()
    with VideoContext(frame_ops=[motion]) as context, pytest.raises(VideoError):
        motion.compute_stats({"videos": [clips["broken"]]}, context)


# ---------------------------------------------------------------- byte-identical copies decoded once


def test_byte_identical_copies_are_decoded_and_scored_once_per_worker(tmp_path, clips, monkeypatch):
    import shutil

    import djlite.video.reader as reader

    decoded = []
    real = reader.read_frames
    monkeypatch.setattr(
        reader, "read_frames", lambda info, consumers, **kw: decoded.append(info.path) or real(info, consumers, **kw)
    )
    copy = tmp_path / "copy_of_moving.mp4"
    shutil.copy(clips["moving"], copy)
    paths = [clips["moving"], str(copy), clips["static"], clips["moving"], str(copy)]
    recipe = _recipe(tmp_path, clips, [VideoMotionScoreFilter(min_score=0)], paths=paths)
    result = djlite.run(recipe)
    assert sorted(decoded) == sorted([clips["moving"], clips["static"]])  # one decode per unique content
    scores = [row[Fields.stats]["video_motion_score"][0] for row in result.dataset.to_list()]
    assert scores[0] == scores[1] == scores[3] == scores[4] and scores[2] != scores[0]


# ---------------------------------------------------------------- a new frame op is one class


class MeanBrightness(FrameConsumer):
    def __init__(self, plan):
        super().__init__(plan)
        self.values = []

    def feed(self, frame):
        self.values.append(float(frame.gray().mean()))

    def result(self):
        return sum(self.values) / len(self.values)


class VideoBrightnessFilter(VideoFilter):
    """Everything a frame filter needs: its stat, its frames (a plan) and its rule."""

    stats_features = {"video_brightness": List(Value("float64"))}

    def __init__(self, min_brightness: float = 0, **kwargs):
        super().__init__(**kwargs)
        self.min_brightness = min_brightness

    def frame_consumer(self, info):
        return MeanBrightness(uniform(3))

    def process(self, sample):
        values = sample[Fields.stats]["video_brightness"]
        return self.keep_by_videos([v >= self.min_brightness for v in values])


def test_a_new_frame_filter_is_one_class_and_shares_the_decode(tmp_path, clips, registry, monkeypatch):
    import djlite.video.reader as reader

    register_op("video_brightness_filter")(VideoBrightnessFilter)
    decoded = []
    real = reader.read_frames
    monkeypatch.setattr(reader, "read_frames", lambda info, c, **kw: decoded.append(len(c)) or real(info, c, **kw))
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["static"]]))
    steps = [{"video_brightness_filter": {"min_brightness": 1}}, {"video_motion_score_filter": {"min_score": 0}}]
    result = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, steps, use_cache=False)))
    assert decoded == [2, 2]  # one decode per video, serving both frame ops
    assert all(row[Fields.stats]["video_brightness"][0] > 1 for row in result.dataset.to_list())
