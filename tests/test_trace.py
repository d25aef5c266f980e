"""Why was it dropped: the filtered-samples file accounts for every removed sample; Data-Juicer's tracer files."""

import json

import pytest
from conftest import REPO
from helpers import dj_process, read_jsonl, video_samples, write_jsonl, write_recipe

import djlite
from djlite.errors import RecipeError
from djlite.fields import Fields
from djlite.trace import FILTERED

CORPUS_RECIPE = [
    {"video_duration_filter": {"min_duration": 1.0, "max_duration": 30}},
    {"video_resolution_filter": {"min_width": 256, "min_height": 200}},
    {"video_aspect_ratio_filter": {"min_ratio": "4/3", "max_ratio": "21/9"}},
    {"video_motion_score_filter": {"min_score": 0.5, "sampling_fps": 1}},
    {"video_deduplicator": {}},
]


def input_lines(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def assert_line_by_line(dataset_path, out_dir, summary, base="res"):
    """Every input sample is in exactly one of result, filtered and errors, and the counts agree."""
    kept = read_jsonl(out_dir / f"{base}.jsonl")
    filtered = read_jsonl(out_dir / f"{base}_filtered.jsonl")
    errored = read_jsonl(out_dir / f"{base}_errors.jsonl")
    key = lambda row: (row.get("id"), tuple(v.rsplit("/", 1)[-1] for v in row.get("videos") or []))  # noqa: E731
    inputs = sorted(key(r) for r in input_lines(dataset_path))
    assert sorted(key(r) for r in kept + filtered + errored) == inputs
    assert (len(kept), len(filtered), len(errored)) == (summary["kept"], summary["filtered"], summary["errored"])
    per_op = {}
    for row in filtered:
        entry = row[FILTERED]
        per_op[entry["step"]] = per_op.get(entry["step"], 0) + 1
    assert per_op == {op["step"]: op["filtered"] for op in summary["ops"] if op["filtered"]}
    return kept, filtered, errored


def test_demo_filtered_file_accounts_for_every_filtered_sample(tmp_path):
    done = dj_process("--config", str(REPO / "recipes" / "demo.yaml"), "--export_filtered", "true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "outputs" / "demo"
    summary = json.loads((out / "demo_op_summary.json").read_text())
    assert summary["filtered"] > 0
    _, filtered, _ = assert_line_by_line(REPO / "recipes" / "demo_data" / "demo.jsonl", out, summary, "demo")
    by_video = {row["videos"][0].rsplit("/", 1)[1]: row[FILTERED] for row in filtered}
    static = by_video["static.mp4"]
    assert static["op"] == "video_motion_score_filter" and static["thresholds"]["min_score"] == 0.25
    assert static["stats"]["video_motion_score"][0] < 0.25
    assert by_video["moving_reencoded.mp4"]["op"] == "video_near_deduplicator"
    assert by_video["moving_reencoded.mp4"]["duplicate_of"]["videos"][0].endswith("moving.mp4")
    assert "text" in filtered[0] and Fields.stats in filtered[0], "filtered samples are written whole"


@pytest.mark.slow  # the whole corpus
def test_corpus_recipe_filtered_file_line_by_line(tmp_path, corpus_videos):
    files = sorted(p for p in corpus_videos.iterdir() if p.name != "MANIFEST.tsv")
    rows = [dict(r, id=i) for i, r in enumerate(video_samples(files + files[:3]))]  # 3 exact duplicates
    dataset = write_jsonl(tmp_path / "corpus.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", dataset, CORPUS_RECIPE, export_filtered=True, np=2)
    res = djlite.run(str(recipe))
    summary = res.summary
    assert all(op["filtered"] > 0 for op in summary["ops"]), summary["ops"]
    _, filtered, _ = assert_line_by_line(dataset, tmp_path / "out", summary)
    for row in filtered:
        entry = row[FILTERED]
        if entry["op"] == "video_deduplicator":
            assert entry["duplicate_of"]["videos"] == row["videos"] and entry["stats"] == {}
        else:
            assert entry["stats"] and all(v is not None for v in entry["stats"].values()), entry


def test_tracer_writes_data_juicer_files(tmp_path, clips):
    videos = [clips[n] for n in ("moving", "static", "short", "moving")]
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples(videos))
    process = [
        {"video_duration_filter": {"min_duration": 1}},
        {"video_motion_score_filter": {"min_score": 0.25}},
        {"video_deduplicator": {}},
    ]
    recipe = write_recipe(tmp_path / "r.yaml", dataset, process, open_tracer=True, trace_num=1)
    res = djlite.run(str(recipe))
    trace = tmp_path / "out" / "trace"
    assert sorted(p.name for p in trace.iterdir()) == [
        "duplicate-video_deduplicator.jsonl",
        "filter-video_duration_filter.jsonl",
        "filter-video_motion_score_filter.jsonl",
    ]
    (short,) = read_jsonl(trace / "filter-video_duration_filter.jsonl")
    assert short["videos"] == [clips["short"]] and short[Fields.stats]["video_duration"][0] < 1
    (pair,) = read_jsonl(trace / "duplicate-video_deduplicator.jsonl")
    assert pair["dup1"]["videos"] == pair["dup2"]["videos"] == [clips["moving"]]
    assert not (tmp_path / "out" / "res_filtered.jsonl").exists()  # the tracer alone writes no filtered file
    assert res.summary["filtered"] == 3

    recipe = write_recipe(
        tmp_path / "r2.yaml", dataset, process, open_tracer=True, op_list_to_trace=["video_motion_score_filter"]
    )
    djlite.run(str(recipe), work_dir=str(tmp_path / "w2"))
    assert [p.name for p in (tmp_path / "w2" / "trace").iterdir()] == ["filter-video_motion_score_filter.jsonl"]
    djlite.run(str(recipe), work_dir=str(tmp_path / "out"))  # the same work dir: the earlier files do not linger
    assert [p.name for p in trace.iterdir()] == ["filter-video_motion_score_filter.jsonl"]


def test_trace_keys_are_checked(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]]))
    process = [{"video_duration_filter": {}}]
    with pytest.raises(RecipeError, match="op_list_to_trace names 'video_motion_score_filter'"):
        djlite.load_recipe(
            str(write_recipe(tmp_path / "a.yaml", dataset, process, op_list_to_trace=["video_motion_score_filter"]))
        )
    with pytest.raises(RecipeError, match="trace_num must be >= 1"):
        djlite.load_recipe(str(write_recipe(tmp_path / "b.yaml", dataset, process, open_tracer=True, trace_num=0)))


def test_stale_filtered_file_is_removed(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["short"], clips["moving"]]))
    process = [{"video_duration_filter": {"min_duration": 1}}]
    djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, process, export_filtered=True)))
    assert len(read_jsonl(tmp_path / "out" / "res_filtered.jsonl")) == 1
    djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, process)))
    assert not (tmp_path / "out" / "res_filtered.jsonl").exists()


def test_a_selectors_removed_samples_are_recorded_with_its_stats(tmp_path, clips):
    from test_contract import TopTwoByDuration, _recipe

    from djlite.ops.filter.video_duration_filter import VideoDurationFilter

    names = ["short", "moving", "static"]
    recipe = _recipe(tmp_path, clips, [VideoDurationFilter(), TopTwoByDuration()], paths=[clips[n] for n in names])
    recipe.export_filtered = recipe.open_tracer = True
    result = djlite.run(recipe)
    (removed,) = read_jsonl(tmp_path / "out" / "res_filtered.jsonl")
    assert removed["videos"] == [clips["short"]] and result.summary["filtered"] == 1
    assert removed[FILTERED]["op"] == result.summary["ops"][1]["op"] and removed[FILTERED]["stats"] == {"rank": 2}
    (traced,) = read_jsonl(tmp_path / "out" / "trace" / f"filter-{removed[FILTERED]['op']}.jsonl")
    assert traced["videos"] == [clips["short"]]


def test_an_ops_thresholds_are_worked_out_once_per_step_not_per_removed_row(monkeypatch):
    # Every removed row used to recompute its op's thresholds (op.config: inspect.signature of the class), about
    # 0.6 ms a row: 20,000 filtered samples took 13 s to write, and again for the tracer.
    import datasets

    import djlite.trace as trace
    from djlite.registry import get_op

    op = get_op("video_duration_filter")(min_duration=2, max_duration=10)
    rows = 50
    marked = datasets.Dataset.from_dict(
        {
            "text": [f"t{i}" for i in range(rows)],
            Fields.stats: [{"video_duration": [1.0]}] * rows,
            Fields.dropped_by: [3] * rows,
        }
    )
    filtered = trace.FilteredSamples()
    filtered.add_stage(marked, {3: op})
    calls = []
    real = trace._thresholds
    monkeypatch.setattr(trace, "_thresholds", lambda o: calls.append(o) or real(o))
    out = list(filtered.rows())
    assert len(out) == rows and len(calls) == 1
    assert all(r[FILTERED]["thresholds"] == real(op) for r in out)
    entry = out[0][FILTERED]
    assert entry["thresholds"]["min_duration"] == 2 and entry["stats"] == {"video_duration": [1.0]}


def test_a_removed_samples_record_has_no_pointer_into_the_frame_spool():
    # A training export's frame spooler sits before a deduplicator: the samples it removes carry
    # __dj__export_frames__, a pointer into the spool that is deleted when the run ends. The errors file always
    # left it out; the filtered file (and so the tracer's) wrote it, several KB of offsets per sample.
    import datasets

    from djlite.registry import get_op
    from djlite.trace import FilteredSamples

    op = get_op("video_deduplicator")()
    dropped = datasets.Dataset.from_dict(
        {"text": ["b"], Fields.export_frames: [[{"spool": "/out/.res.tar.spool-1/frames.spool", "offsets": [0]}]]}
    )
    filtered = FilteredSamples()
    filtered.add_selection(dropped, 2, op, [{"text": "a"}])
    (row,) = filtered.rows()
    assert Fields.export_frames not in row
    assert row["text"] == "b" and row[FILTERED]["duplicate_of"] == {"text": "a"}
