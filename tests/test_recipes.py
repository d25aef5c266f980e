"""Every recipe in recipes/ runs, as a user would run it, and the demo does what its comments say."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO
from helpers import dj_process, read_jsonl

import djlite

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def missing_media(recipe: Path) -> list[str]:
    """Videos that the recipe's dataset names (relative to the recipe folder) but that are not on disk."""
    text = recipe.read_text()
    missing = []
    for dataset in (p for p in recipe.parent.glob("*.jsonl") if p.name in text):
        for line in dataset.read_text().splitlines():
            for video in json.loads(line).get("videos", []) if line.strip() else []:
                if not (dataset.parent / video).exists():
                    missing.append(video)
    return missing


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipe_runs_from_a_clone(recipe, tmp_path):
    # Every video a shipped recipe names is shipped with it (a clone has no ../shared/videos).
    assert not missing_media(recipe)
    clone = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes", clone, ignore=shutil.ignore_patterns("outputs"))
    result = djlite.run(str(clone / recipe.name), export_path=str(tmp_path / "out" / "res.jsonl"), np=1)
    summary = result.summary
    assert summary["balanced"] and summary["input"] > 0 and summary["kept"] > 0
    assert not result.failed_ops, "no op fails on every sample"
    assert result.stats_path and read_jsonl(result.stats_path), "filters wrote stats"


def test_demo_as_in_the_readme(tmp_path):
    done = dj_process("--config", str(REPO / "recipes" / "demo.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "outputs" / "demo"
    names = ["demo.jsonl", "demo_stats.jsonl", "demo_errors.jsonl", "demo_op_summary.json", "demo_recipe_resolved.yaml"]
    for name in names:
        assert (out / name).is_file(), name
    assert list((out / "log").glob("dj-process_*.txt"))
    kept_ids = [row["id"] for row in read_jsonl(out / "demo.jsonl")]
    # short: too short; text: burned-in text; static: no motion; moving_reencoded: near-duplicate of moving.
    assert kept_ids == ["moving", "caption_only"]
    assert [row["id"] for row in read_jsonl(out / "demo_errors.jsonl")] == ["broken"]
    summary = __import__("json").loads((out / "demo_op_summary.json").read_text())
    dropped = {op["op"]: op["filtered"] for op in summary["ops"]}
    assert dropped == {
        "video_duration_filter": 1,
        "video_resolution_filter": 0,
        "video_aspect_ratio_filter": 0,
        "video_ocr_area_ratio_filter": 1,
        "video_motion_score_filter": 1,
        "video_deduplicator": 0,
        "video_near_deduplicator": 1,
    }
    stats = read_jsonl(out / "demo_stats.jsonl")
    assert len(stats) == len(kept_ids) and all("video_duration" in s["__dj__stats__"] for s in stats)
