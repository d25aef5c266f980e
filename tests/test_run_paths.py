"""One owner of output names (djlite/run_paths.py, issue 20): no other module formats a run's file names, the output
set's membership is RunPaths', and a re-run removes every shard of the previous set whatever the layout."""

import ast
import os
import re
from pathlib import Path

from formats_helpers import labelled_rows, run_export

from djlite.formats.writer import paths_for, writer_for
from djlite.output_set import output_set
from djlite.run_paths import RunPaths, StatsFilePaths, record_shard_name

REPO = Path(__file__).resolve().parents[1]
# A string fragment that names one of a run's files: "_stats.jsonl", f"{base}_errors.jsonl", "op_summary.json"...
NAME = re.compile(
    r"(stats|errors|filtered)\.jsonl|label_map\.json|op_summary\.json|recipe_resolved\.yaml"
    r"|^_(stats|errors|filtered|label_map)(\.\w+)?$"
)


def modules_formatting_output_names(package: Path) -> dict[str, list[str]]:
    """{module: fragments} for every string in code (docstrings and prose with spaces left out) naming a run file."""
    found: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
                if not re.search(r"\s", text) and NAME.search(text):
                    found.setdefault(str(path.relative_to(package.parent)), []).append(text)
    return found


def test_output_file_names_are_derived_in_exactly_one_module():
    found = modules_formatting_output_names(REPO / "djlite")
    assert set(found) == {"djlite/run_paths.py"}, found
    assert {"_stats.jsonl", "_errors.jsonl", "_filtered.jsonl", "op_summary.json"} <= set(found["djlite/run_paths.py"])


def test_the_scan_finds_a_second_module_that_formats_a_name(tmp_path):
    package = tmp_path / "djlite"
    package.mkdir()
    (package / "run_paths.py").write_text('STATS = "_stats.jsonl"\n')
    (package / "sneaky.py").write_text(
        '"""Writes <base>_errors.jsonl (a docstring: prose)."""\n'
        'def f(base):\n    log(f"see {base}_errors.jsonl for the errors")\n    return f"{base}_filtered.jsonl"\n'
    )
    assert modules_formatting_output_names(package) == {
        "djlite/run_paths.py": ["_stats.jsonl"],
        "djlite/sneaky.py": ["_filtered.jsonl"],
    }


def test_run_paths_name_every_file_of_a_run(tmp_path):
    paths = RunPaths(str(tmp_path / "out" / "res.jsonl"))
    out = str(tmp_path / "out")
    assert (paths.stats, paths.errors, paths.filtered) == (
        f"{out}/res_stats.jsonl",
        f"{out}/res_errors.jsonl",
        f"{out}/res_filtered.jsonl",
    )
    assert (paths.summary, paths.resolved_recipe) == (f"{out}/res_op_summary.json", f"{out}/res_recipe_resolved.yaml")
    assert paths.own_work_dir is None and paths.trace_dir == f"{out}/trace"
    assert paths.checkpoint_dir == f"{out}/ckpt/res.jsonl"
    assert paths.table_shards(2) == [f"{out}/res-00-of-02.jsonl", f"{out}/res-01-of-02.jsonl"]
    # A work_dir of its own holds the summary and resolved recipe, as in Data-Juicer.
    own = RunPaths(str(tmp_path / "out" / "res.jsonl"), str(tmp_path / "work"))
    assert own.own_work_dir == str(tmp_path / "work")
    assert (own.summary, own.resolved_recipe) == (
        str(tmp_path / "work" / "op_summary.json"),
        str(tmp_path / "work" / "recipe_resolved.yaml"),
    )
    assert StatsFilePaths(paths.stats).errors == paths.errors and StatsFilePaths(paths.stats).filtered == paths.filtered


def test_the_output_set_holds_what_run_paths_names_and_nothing_else(tmp_path):
    paths = RunPaths(str(tmp_path / "res.tar"), shards="tar")
    for name in (
        "res-000000.tar",
        "res_stats.jsonl",
        "res_label_map.json",
        "res_op_summary.json",
        "trace/filter-x.jsonl",
    ):
        assert paths.owns(str(tmp_path / name)), name
    # Beside the export but no output of this run: a user's file whose name starts like it, scratch, another scheme.
    for name in ("res_notes.txt", "res-2023.jsonl", ".djlite_scratch/data.jsonl", "res-00-of-02.jsonl", "other.tar"):
        assert not paths.owns(str(tmp_path / name)), name
    with output_set(paths):
        pass  # nothing written: an empty set commits nothing
    assert os.listdir(tmp_path) == []


def test_a_re_run_with_fewer_webdataset_shards_leaves_none_of_the_previous_set(tmp_path):
    """The previous set's shards were found by the table-shard pattern only: res-000001.tar outlived a re-run
    that wrote one shard, and a reader globbing res-*.tar read the stale samples."""
    rows = labelled_rows(tmp_path)
    export = str(tmp_path / "out" / "w.tar")
    extra = {"payload": "clip"}
    first = run_export(tmp_path, rows, export, export_extra_args={**extra, "shard_records": 1})
    assert [os.path.basename(p) for p in first.result_paths] == ["w-000000.tar", "w-000001.tar", "w-000002.tar"]
    again = run_export(tmp_path, rows, export, export_extra_args={**extra, "shard_records": 10})
    assert [os.path.basename(p) for p in again.result_paths] == ["w-000000.tar"]
    assert sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".tar")) == ["w-000000.tar"]


def test_every_built_in_writers_result_files_belong_to_the_set(tmp_path):
    """video2tfrecord's batch files (not named after the export) were renamed at once, outside the set: a run killed
    between them and the stats file left a mixed set. Every writer's files are now the set's, by its scheme."""

    def shards(export_type, export_name):
        paths = paths_for(str(tmp_path / export_name), None, writer_for(export_name, export_type))
        return paths, {
            "jsonl": paths.table_shards(2)[1],
            "mediasequence": paths.record_shard(1, 2),
            "yt8m": record_shard_name(paths.tagged_base("frame"), 0, 1, paths.suffix),
            "webdataset": paths.tar_shard(1),
            "video2tfrecord": paths.batch_file(2, 2),
        }[export_type]

    for export_type, name in [
        ("jsonl", "r.jsonl"),
        ("mediasequence", "r.tfrecord"),
        ("yt8m", "r.tfrecord"),
        ("webdataset", "r.tar"),
        ("video2tfrecord", "r.tfrecords"),
    ]:
        paths, shard = shards(export_type, name)
        assert paths.owns(shard), (export_type, shard)
        open(shard, "w").close()
        assert shard in paths.previous(), (export_type, shard)  # a re-run with fewer shards removes it
        os.remove(shard)
