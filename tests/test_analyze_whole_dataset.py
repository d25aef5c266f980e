"""dj-analyze --stats on a dj-process run: the whole dataset (with the filtered file) or a clear note; the motion
score's -1 placeholder is counted apart, never averaged in."""

import csv
import json

from helpers import read_jsonl, write_jsonl, write_recipe

import djlite
from djlite.cli.analyze import main
from djlite.fields import Fields

PROCESS = [
    {"video_duration_filter": {"min_duration": 1.0}},
    {"video_motion_score_filter": {"min_score": 0.25}},
]


def read_csv(path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row.get("stat") or row["op"]: row for row in csv.DictReader(f)}


def samples(clips) -> list[dict]:
    return [{"text": name, "videos": [clips[name]]} for name in ("moving", "static", "text", "short", "broken")]


def test_stats_of_a_process_run_with_filtered_file_cover_every_sample(clips, tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", samples(clips))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, PROCESS, export_filtered=True)
    processed = djlite.run(str(recipe))
    assert processed.summary["filtered"] >= 2 and processed.summary["kept"] >= 1

    assert main(["--stats", processed.stats_path, "--config", str(recipe), "--work_dir", str(tmp_path / "a")]) == 0
    overall = read_csv(tmp_path / "a" / "analysis" / "overall.csv")
    # Every decodable sample has a duration: kept ones and filtered ones alike (the broken one errored).
    assert int(overall["video_duration"]["samples"]) == processed.summary["kept"] + processed.summary["filtered"]
    # The what-if sequence replays the run exactly: same thresholds, same per-op counts.
    whatif = read_csv(tmp_path / "a" / "analysis" / "whatif.csv")
    for op in processed.summary["ops"]:
        row = whatif[op["op"]]
        assert (int(row["seq_kept"]), int(row["seq_filtered"]), int(row["seq_unknown"])) == (
            op["kept"],
            op["filtered"],
            0,
        )
    assert "filtered samples of" in (tmp_path / "a" / "analysis" / "overall.md").read_text()

    # Thumbnails: the result file gives the kept samples' videos, the filtered file the removed ones'.
    args = ["--stats", processed.stats_path, "--dataset", processed.result_paths[0], "--work_dir", str(tmp_path / "t")]
    assert main(args) == 0
    report = (tmp_path / "t" / "analysis" / "report.html").read_text()
    assert "static.mp4" in report and "moving.mp4" in report and "no thumbnail" not in report

    # Looser thresholds: the short clip now passes the duration step but was never scored for motion.
    assert main(["--stats", processed.stats_path, "--config", str(recipe), "--work_dir", str(tmp_path / "b"),
                 "--video_duration_filter.min_duration", "0"]) == 0  # fmt: skip
    whatif = read_csv(tmp_path / "b" / "analysis" / "whatif.csv")
    assert int(whatif["video_motion_score_filter"]["seq_unknown"]) >= 1
    assert "lower bound" in (tmp_path / "b" / "analysis" / "overall.md").read_text()


def test_stats_of_a_process_run_without_filtered_file_say_they_are_survivors(clips, tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", samples(clips))
    processed = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, PROCESS)))
    assert main(["--stats", processed.stats_path, "--work_dir", str(tmp_path / "a")]) == 0
    text = (tmp_path / "a" / "analysis" / "overall.md").read_text()
    assert f"{processed.summary['filtered']} filtered samples are not in it" in text
    assert "export_filtered: true" in (tmp_path / "a" / "analysis" / "report.html").read_text()


def test_motion_placeholder_is_not_averaged(tmp_path):
    rows = [{Fields.stats: {"video_motion_score": [v]}} for v in (2.0, -1.0, 4.0)]
    rows.append({Fields.stats: {"video_motion_score": [-1.0, 6.0]}})
    stats = write_jsonl(tmp_path / "x_stats.jsonl", rows)
    assert main(["--stats", str(stats)]) == 0
    row = read_csv(tmp_path / "analysis" / "overall.csv")["video_motion_score"]
    assert int(row["count"]) == 3 and float(row["mean"]) == 4.0 and float(row["min"]) == 2.0
    assert float(row["p50"]) == 4.0 and int(row["samples"]) == 3
    assert "2 placeholder values" in (tmp_path / "analysis" / "overall.md").read_text()


def test_stats_pass_writes_stats_of_every_sample(clips, tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", samples(clips))
    recipe = write_recipe(tmp_path / "r.yaml", dataset, PROCESS, export_filtered=True, open_tracer=True)
    assert main(["--config", str(recipe)]) == 0
    analysis = tmp_path / "out" / "analysis"
    stats = read_jsonl(analysis / "res_stats.jsonl")
    summary = json.loads((analysis / "res_op_summary.json").read_text())
    assert len(stats) == summary["input"] - summary["errored"] == 4 and summary["filtered"] == 0
    assert all("video_motion_score" in row[Fields.stats] for row in stats)  # none stopped at the duration step
    assert not (analysis / "res_filtered.jsonl").exists() and not (analysis / "trace").exists()
