"""Where a run writes: never over its input, writable and with room, checked before any work; what a result
shows: no internal column."""

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid

import pytest
from formats_helpers import tar_members
from helpers import dj_process, read_jsonl, video_samples, write_jsonl, write_recipe

import djlite
from djlite.errors import RecipeError
from djlite.fields import Fields, HashKeys
from djlite.recipe import load_recipe


def one_error_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("suffix", ["", "_stats", "_errors", "_filtered"])
def test_export_that_is_the_dataset_exits_2_before_work_and_keeps_it(tmp_path, suffix):
    export = tmp_path / "data.jsonl"
    dataset = tmp_path / f"data{suffix}.jsonl"
    write_jsonl(dataset, [{"text": "keep me", "videos": ["a.mp4"]}])
    before = dataset.read_bytes()
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], export_path=str(export))
    done = dj_process("--config", str(recipe))
    assert done.returncode == 2 and "dataset file" in one_error_line(done)
    assert dataset.read_bytes() == before


def test_export_inside_a_folder_dataset_is_refused(tmp_path):
    folder = tmp_path / "ds"
    write_jsonl(folder / "a.jsonl", [{"videos": ["a.mp4"]}])
    recipe = write_recipe(tmp_path / "r.yaml", folder, [], export_path=str(folder / "out" / "res.jsonl"))
    with pytest.raises(RecipeError, match="inside the folder dataset"):
        load_recipe(str(recipe))
    recipe = write_recipe(tmp_path / "r.yaml", folder, [], work_dir=str(folder / "work"))
    with pytest.raises(RecipeError, match="work_dir .* inside the folder dataset"):
        load_recipe(str(recipe))


def test_replaced_outputs_are_named_in_the_log(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])
    assert dj_process("--config", str(recipe)).returncode == 0
    again = dj_process("--config", str(recipe))
    assert again.returncode == 0
    assert "replaces 5 existing output(s)" in again.stderr and str(tmp_path / "out" / "res.jsonl") in again.stderr


@pytest.fixture
def small_mount(tmp_path):
    """A 2 MiB tmpfs (real full-disk and read-only behaviour); skipped where mounting is not allowed."""
    point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(point)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def test_read_only_export_folder_is_found_before_the_work(tmp_path, small_mount, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    recipe = write_recipe(
        tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], export_path=str(small_mount / "o" / "r.jsonl")
    )
    done = dj_process("--config", str(recipe))
    assert done.returncode == 2
    line = one_error_line(done)
    assert "cannot write to" in line and "Read-only file system" in line and "loaded" not in done.stderr
    import djlite

    with pytest.raises(RecipeError, match="Read-only file system"):  # from Python too, before any work
        djlite.run(str(recipe))


def test_full_disk_stops_with_one_line_and_old_outputs_intact(tmp_path, small_mount, clips):
    rows = video_samples([clips["moving"]])
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    export = small_mount / "r.jsonl"
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}], export_path=str(export))
    assert dj_process("--config", str(recipe)).returncode == 0
    old = export.read_bytes()
    big = write_jsonl(tmp_path / "big.jsonl", [rows[0] | {"pad": "x" * 2000, "i": i} for i in range(1500)])
    recipe = write_recipe(tmp_path / "r.yaml", big, [{"video_duration_filter": {}}], export_path=str(export))
    done = dj_process("--config", str(recipe))
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].endswith("No space left on device; earlier outputs are unchanged")
    assert "Traceback" not in done.stderr
    assert export.read_bytes() == old and read_jsonl(export)[0]["text"] == rows[0]["text"]
    assert not [p for p in os.listdir(small_mount) if ".tmp" in p]
    # Nearly full before the run: found before any work.
    free = shutil.disk_usage(small_mount).free
    (small_mount / "filler").write_bytes(b"x" * (free - 64 * 1024))
    done = dj_process("--config", str(recipe))
    assert done.returncode == 2 and "no space left for outputs" in one_error_line(done)


# ---------------------------------------------------------------- what a result shows

# Data-Juicer's reserved columns, in a result by keep_stats_in_res_ds (and always in RunResult.dataset and a
# WebDataset sample's .json, where the docs say so); every other __dj__ column is internal.
STATS_COLUMNS = {Fields.stats, Fields.meta}
RESULT_ROWS = {
    ".jsonl": read_jsonl,
    ".json": lambda path: json.loads(open(path).read()),
    ".parquet": lambda path: __import__("pyarrow.parquet").parquet.read_table(path).to_pylist(),
    ".tar": lambda path: [json.loads(data) for name, data in tar_members(path) if name.endswith(".json")],
}


def dj_columns(rows) -> set[str]:
    return {key for row in rows for key in row if key.startswith("__dj__")}


def run_with_hashes_and_errors(tmp_path, clips, suffix: str, **keys):
    """A run whose kept samples carry every internal column: hash and signature (two deduplicators) and, with
    on_error: keep, a sample kept with its error."""
    rows = video_samples([clips["moving"], clips["moving"], clips["static"], clips["broken"]])
    for i, row in enumerate(rows):
        row["id"] = f"s{i}"
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    process = [{"video_deduplicator": {}}, {"video_near_deduplicator": {}}]
    export = str(tmp_path / "out" / f"res{suffix}")
    recipe = write_recipe(tmp_path / "r.yaml", dataset, process, export_path=export, on_error="keep", **keys)
    return djlite.run(str(recipe))


@pytest.mark.parametrize("executor", ["default", "ray"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".tar"])
def test_internal_columns_reach_no_result(tmp_path, clips, suffix, executor):
    if executor == "ray":
        pytest.importorskip("ray", reason="the Ray executor needs `pip install djlite[ray]`")
    result = run_with_hashes_and_errors(tmp_path, clips, suffix, executor_type=executor)
    assert result.summary["kept"] == 3 and result.summary["errored"] == 0  # the copy went, the broken one stayed
    exported = [row for path in result.result_paths for row in RESULT_ROWS[suffix](path)]
    assert len(exported) == 3
    if suffix == ".tar":  # the sample with its stats, as documented
        assert dj_columns(exported) == STATS_COLUMNS - {Fields.meta}
    else:
        assert dj_columns(exported) == set()
    assert dj_columns(result.dataset.to_list()) <= STATS_COLUMNS
    # The kept sample's error is reported where on_error: keep says: in the stats file, whatever the format.
    stats = read_jsonl(result.stats_path)
    assert len(stats) == 3 and [bool(row.get(Fields.errors)) for row in stats] == [False, False, True]


@pytest.mark.parametrize("suffix", [".jsonl", ".tar"])
def test_keep_hashes_in_res_ds_keeps_the_hash_columns(tmp_path, clips, suffix):
    result = run_with_hashes_and_errors(tmp_path, clips, suffix, keep_hashes_in_res_ds=True, keep_stats_in_res_ds=True)
    exported = [row for path in result.result_paths for row in RESULT_ROWS[suffix](path)]
    hashes = {HashKeys.videohash, HashKeys.videosig}
    assert hashes <= dj_columns(exported) and Fields.stats in dj_columns(exported)
    assert Fields.errors not in dj_columns(exported)
    assert hashes <= set(result.dataset.column_names) and Fields.errors not in result.dataset.column_names


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(tmp_path, clips, umask):
    """Issue 19 item 14: every output was created 0600 (mkstemp) whatever the umask, so a trainer running as
    another user could not read the results. Clips, frames, trace files, logs and folders included."""
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["short"]]))
    process = [
        {"video_split_by_duration_mapper": {"split_duration": 1}},
        {"video_duration_filter": {"min_duration": 0.9}},
        {"video_extract_frames_mapper": {"frame_sampling_method": "uniform", "frame_num": 1}},
    ]
    recipe = write_recipe(tmp_path / "r.yaml", dataset, process, export_filtered=True, open_tracer=True, np=2)
    done = subprocess.run(
        [sys.executable, "-m", "djlite.cli.process", "--config", str(recipe)],
        capture_output=True, text=True, umask=umask,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "out"
    files = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    folders = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_dir()}
    kinds = {name.rsplit(".", 1)[-1] for name in files}
    assert {"jsonl", "json", "yaml", "txt", "mp4", "jpg"} <= kinds, sorted(files)  # every kind of output ran
    assert any(name.startswith("trace/") for name in files) and "res_filtered.jsonl" in files
    assert files == dict.fromkeys(files, 0o666 & ~umask)
    assert folders == dict.fromkeys(folders, 0o777 & ~umask)
