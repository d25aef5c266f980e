"""Where a run writes: never over its input, writable and with room, checked before any work."""

import os
import shutil
import subprocess
import uuid

import pytest
from helpers import dj_process, read_jsonl, video_samples, write_jsonl, write_recipe

from djlite.errors import RecipeError
from djlite.recipe import load_recipe


def one_error_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("suffix", ["", "_stats", "_errors"])
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
