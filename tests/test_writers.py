"""An export format is one file that registers itself (djlite/formats/writer.py), issue 20: a writer defined in
tests/csv_lines_writer.py runs a recipe through djlite.run like a built-in format, its file committed with the
stats and errors files; the recipe's checks and the executors pick formats from the same registry."""

import os

import csv_lines_writer
import pytest
from helpers import read_jsonl, video_samples, write_jsonl

import djlite
from djlite.errors import RecipeError
from djlite.files import TMP_MARK
from djlite.formats.writer import LAYOUT, TABLE, writer_for, writer_names


def run_csv(tmp_path, clips, export_path, **keys):
    samples = video_samples([clips["moving"], clips["static"], clips["broken"]])
    for i, sample in enumerate(samples):
        sample["id"] = f"s{i}"
    dataset = write_jsonl(tmp_path / "data.jsonl", samples)
    config = {"dataset_path": str(dataset), "export_path": export_path, "np": 1}
    config["process"] = [{"video_duration_filter": {"min_duration": 1}}]
    return djlite.run({**config, **keys})


def test_a_writer_from_a_test_file_runs_a_recipe_with_its_stats_and_errors(tmp_path, clips):
    out = tmp_path / "out"
    result = run_csv(tmp_path, clips, str(out / "res.csvl"))
    assert result.result_paths == [str(out / "res.csvl")]
    lines = (out / "res.csvl").read_text().splitlines()
    assert lines == [f"s0,<__dj__video> clip,{clips['moving']}", f"s1,<__dj__video> clip,{clips['static']}"]
    # Beside it, as for every format: the stats of the kept samples, the errored sample, the summary.
    assert len(read_jsonl(out / "res_stats.jsonl")) == 2
    (errored,) = read_jsonl(out / "res_errors.jsonl")
    assert errored["id"] == "s2" and errored["__dj__errors__"][0]["op"] == "video_duration_filter"
    assert result.summary["kept"] == 2 and result.summary["errored"] == 1 and result.summary["balanced"]
    # Written atomically, with the set: the file was still a temporary when the writer returned.
    assert csv_lines_writer.seen_before_commit[str(out / "res.csvl")] is False
    assert not [n for n in os.listdir(out) if TMP_MARK in n or n.startswith(".")]


def test_a_registered_writer_is_chosen_by_export_type_and_shards_like_a_table(tmp_path, clips):
    out = tmp_path / "out"
    result = run_csv(tmp_path, clips, str(out / "res.txt"), export_type="csv_lines", export_shard_size=1)
    assert [os.path.basename(p) for p in result.result_paths] == ["res-00-of-02.txt", "res-01-of-02.txt"]
    assert [len((out / n).read_text().splitlines()) for n in ("res-00-of-02.txt", "res-01-of-02.txt")] == [1, 1]
    # A re-run without shards replaces the set: no shard of the previous one outlives it.
    run_csv(tmp_path, clips, str(out / "res.txt"), export_type="csv_lines")
    assert sorted(n for n in os.listdir(out) if n.startswith("res")) == [
        "res.txt",
        "res_errors.jsonl",
        "res_op_summary.json",
        "res_recipe_resolved.yaml",
        "res_stats.jsonl",
    ]


def test_the_registry_is_what_recipes_and_executors_read(tmp_path, clips):
    assert {"jsonl", "json", "parquet", "mediasequence", "video2tfrecord", "webdataset", "yt8m", "csv_lines"} <= set(
        writer_names()
    )
    assert writer_for("a/x.csvl", None).name == "csv_lines" and writer_for("a/x.csvl", None).kind == TABLE
    assert writer_for("a/x.tfrecord", None).name == "mediasequence"  # yt8m does not claim .tfrecord
    assert writer_for("a/x.tfrecord", "tfrecord").name == "mediasequence"  # Data-Juicer-style alias
    assert writer_for("a/x.tfrecord", "yt8m").kind == LAYOUT
    with pytest.raises(RecipeError, match="export_type 'csv_linez' is not a format djlite has; known: .*csv_lines"):
        run_csv(tmp_path, clips, str(tmp_path / "out" / "res.txt"), export_type="csv_linez")
    with pytest.raises(RecipeError, match=r"'.*res\.txt' must end in .*\.csvl"):
        run_csv(tmp_path, clips, str(tmp_path / "out" / "res.txt"))


def test_a_writer_that_fails_on_the_data_is_one_export_error_on_the_local_executor_too(tmp_path, clips):
    # export_failures wrapped only the Ray executor's export: the same failure on the local one was a traceback
    # after every op had run.
    from djlite.errors import ExportError

    export = tmp_path / "out" / "res.faill"
    export.parent.mkdir()
    export.write_text("the previous run's result\n")
    with pytest.raises(ExportError) as failed:
        run_csv(tmp_path, clips, str(export), export_type="failing_lines")
    assert str(failed.value) == f"export to {export} failed: ValueError: label 'dog' has no integer index"
    assert export.read_text() == "the previous run's result\n"
    assert not [p for p in os.listdir(export.parent) if TMP_MARK in p]
