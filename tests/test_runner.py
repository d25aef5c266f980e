"""The runner end to end: accounting, error isolation, workers, caching and export."""

import json
import shutil

import pytest
from helpers import dj_process, read_jsonl, video_samples, write_jsonl, write_recipe
from test_probe import NO_DECODABLE_FRAME, PARTLY_DECODABLE

import djlite
from djlite.exporter import atomic_path
from djlite.fields import Fields

GOOD = ["video1.mp4", "video2.mp4", "video3.mp4", "video4.mp4", "video10.mp4"]


def summary_of(out_dir):
    return json.loads((out_dir / "res_op_summary.json").read_text())


def test_bad_files_plus_good_ones_nothing_lost(tmp_path, bad_videos, dj_videos):
    bad = sorted(p for p in bad_videos.iterdir() if p.name != "MANIFEST.tsv")
    rows = video_samples(bad) + video_samples(dj_videos / g for g in GOOD)
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {"max_duration": 25}}])
    done = dj_process("--config", str(recipe))
    assert done.returncode == 0, done.stderr[-2000:]

    out = tmp_path / "out"
    errors = read_jsonl(out / "res_errors.jsonl")
    errored_files = [e["videos"][0].rsplit("/", 1)[1] for e in errors]
    assert sorted(errored_files) == sorted(NO_DECODABLE_FRAME)  # each exactly once
    for e in errors:
        (entry,) = e[Fields.errors]
        assert entry["op"] == "video_duration_filter" and entry["error"].startswith("VideoError: ")
        assert e["text"] == "<__dj__video> clip", "errored samples are written whole"
    kept = read_jsonl(out / "res.jsonl")
    stats = read_jsonl(out / "res_stats.jsonl")
    assert len(stats) == len(kept)
    summary = summary_of(out)
    assert summary["input"] == len(rows) == summary["kept"] + summary["filtered"] + summary["errored"]
    assert summary["errored"] == len(NO_DECODABLE_FRAME) and summary["balanced"]
    (op,) = summary["ops"]
    assert op["input"] == len(rows) and op["errors"] == len(NO_DECODABLE_FRAME)
    kept_names = {k["videos"][0].rsplit("/", 1)[1] for k in kept}
    # Partly decodable files have a readable header: they get stats (the truncated webm claims 30 s).
    assert {"derived__corrupt_middle_64KiB.mp4", "derived__truncated_30pct_faststart.mp4"} <= kept_names
    assert "derived__truncated_30pct.webm" not in kept_names and set(PARTLY_DECODABLE) - kept_names
    assert "op=video_duration_filter in=23" in done.stderr


def test_np2_gives_the_same_result_as_np1(tmp_path, dj_videos, clips):
    rows = video_samples(sorted(dj_videos.glob("*.mp4"))) + video_samples(clips.values())
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    process = [{"video_duration_filter": {"max_duration": 25}}, {"video_resolution_filter": {"min_width": 100}}]
    results = {}
    for np_workers in (1, 2):
        res = djlite.run(
            str(write_recipe(tmp_path / f"r{np_workers}.yaml", dataset, process)),
            np=np_workers,
            export_path=str(tmp_path / f"o{np_workers}" / "res.jsonl"),
        )
        results[np_workers] = (read_jsonl(res.result_paths[0]), read_jsonl(res.stats_path), read_jsonl(res.errors_path))
    assert results[1] == results[2]
    assert len(results[1][0]) > 0 and len(results[1][2]) == 1  # the broken clip


def test_error_policies(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["broken"], clips["moving"]]))
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}]))
    kept = djlite.run(recipe, on_error="keep", export_path=str(tmp_path / "k" / "res.jsonl"))
    assert len(kept.dataset) == 2 and kept.summary["errored"] == 0 and kept.summary["ops"][0]["errors"] == 1
    stats = read_jsonl(kept.stats_path)
    assert stats[0][Fields.errors][0]["error"].startswith("VideoError: cannot open")
    with pytest.raises(Exception, match="cannot open"):
        djlite.run(recipe, on_error="raise", export_path=str(tmp_path / "r" / "res.jsonl"))


def test_cache_reuses_computed_stats(tmp_path, clips):
    video = tmp_path / "clip.mp4"
    shutil.copy(clips["moving"], video)
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([video]))
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}]))
    first = djlite.run(recipe)
    second = djlite.run(recipe)
    assert second.summary["errored"] == 0 and read_jsonl(second.stats_path) == read_jsonl(first.stats_path)
    video.unlink()  # issue 15.5: a deleted video is not served from the cache; it is an error now
    third = djlite.run(recipe)
    assert third.summary["errored"] == 1


def test_stats_already_present_are_not_recomputed(tmp_path):
    rows = [{"videos": ["missing.mp4"], Fields.stats: {"video_duration": [3.0]}}]
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {"max_duration": 5}}])))
    assert res.summary["kept"] == 1 and read_jsonl(res.stats_path)[0][Fields.stats]["video_duration"] == [3.0]


def test_unknown_keys_carried_text_optional_paths_resolved(tmp_path, clips):
    shutil.copy(clips["moving"], tmp_path / "clip.mp4")
    rows = [{"videos": ["clip.mp4"], "meta": {"source": "x", "tags": [1, 2]}, "id": 7}]
    dataset = write_jsonl(tmp_path / "sub" / "data.jsonl", rows)
    (tmp_path / "sub" / "clip.mp4").write_bytes((tmp_path / "clip.mp4").read_bytes())
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    (row,) = read_jsonl(res.result_paths[0])
    assert row["meta"] == {"source": "x", "tags": [1, 2]} and row["id"] == 7
    assert row["videos"] == [str(tmp_path / "sub" / "clip.mp4")]


def test_invalid_json_line_is_an_error_record_not_fatal(tmp_path, clips):
    dataset = tmp_path / "data.jsonl"
    dataset.write_text(json.dumps(video_samples([clips["moving"]])[0]) + "\n{broken json\n")
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    assert res.summary["kept"] == 1 and res.summary["errored"] == 1 and res.summary["balanced"]
    (bad,) = read_jsonl(res.errors_path)
    assert bad["line"] == "{broken json" and "line 2" in bad[Fields.errors][0]["error"]


@pytest.mark.parametrize("suffix", ["parquet", "json"])
def test_export_formats_and_kept_stats(tmp_path, clips, suffix):
    import datasets

    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"], clips["static"]]))
    res = djlite.run(
        str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])),
        export_path=str(tmp_path / "o" / f"res.{suffix}"),
        keep_stats_in_res_ds=True,
    )
    loaded = datasets.load_dataset(
        "parquet" if suffix == "parquet" else "json", data_files=res.result_paths[0], split="train"
    )
    assert len(loaded) == 2 and loaded[0][Fields.stats]["video_duration"] == [pytest.approx(3.0, abs=0.05)]
    assert (tmp_path / "o" / "res_stats.jsonl").exists()


def test_shards(tmp_path, clips):
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["moving"]] * 6))
    res = djlite.run(
        str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])), export_shard_size=100
    )
    assert len(res.result_paths) > 1
    assert res.result_paths[0].endswith("res-01-of-06.jsonl") or "-of-" in res.result_paths[0]
    assert sum(len(read_jsonl(p)) for p in res.result_paths) == 6


def test_an_interrupted_write_leaves_no_finished_looking_file(tmp_path):
    target = tmp_path / "res.jsonl"
    with pytest.raises(KeyboardInterrupt), atomic_path(str(target)) as tmp:
        with open(tmp, "w") as f:
            f.write('{"half": ')
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_op_works_on_a_sample_without_the_runner(clips):
    from djlite.ops.filter.video_duration_filter import VideoDurationFilter

    op = djlite.build_op("video_duration_filter", {"min_duration": 1})
    assert isinstance(op, VideoDurationFilter)
    assert op.process(op.compute_stats({"videos": [clips["moving"]]}))
    assert not op.process(op.compute_stats({"videos": [clips["short"]]}))


def test_empty_dataset_and_a_stage_that_receives_nothing(tmp_path, clips):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", empty, [{"video_duration_filter": {}}])))
    assert res.summary["input"] == 0 and res.summary["balanced"] and read_jsonl(res.result_paths[0]) == []
    # Every sample filtered by the first stage: the deduplicator's stage then receives no rows.
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["short"]]))
    process = [
        {"video_duration_filter": {"min_duration": 1}},
        {"video_deduplicator": {}},
        {"video_resolution_filter": {}},
    ]
    res = djlite.run(str(write_recipe(tmp_path / "r2.yaml", dataset, process)))
    assert res.summary["filtered"] == 1 and [r["input"] for r in res.summary["ops"]] == [1, 0, 0]


@pytest.mark.parametrize(
    "step",
    [{"video_deduplicator": {}}, {"video_near_deduplicator": {}}, {"video_extract_frames_mapper": {"frame_dir": "F"}}],
    ids=lambda s: next(iter(s)),
)
def test_an_op_that_adds_a_column_fails_on_one_sample_and_the_run_goes_on(tmp_path, clips, step):
    # The failing sample never gets the op's column: the stage fills it with null so the Arrow schema holds.
    name, params = next(iter(step.items()))
    step = {name: {k: str(tmp_path / v) if k == "frame_dir" else v for k, v in params.items()}}
    dataset = write_jsonl(tmp_path / "data.jsonl", video_samples([clips["broken"], clips["moving"]]))
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [step])))
    assert res.summary["errored"] == 1 and res.summary["kept"] == 1 and res.summary["balanced"]
    (error,) = read_jsonl(res.errors_path)
    assert error[Fields.errors][0]["op"] == name and "broken.mp4" in error[Fields.errors][0]["error"]
