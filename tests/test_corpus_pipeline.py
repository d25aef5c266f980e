"""The pieces together on real data: the shared corpus through a new user's recipe, np 2 and Ray.

One recipe over all 62 files of ../shared/videos/corpus: duration, resolution and aspect-ratio filters,
near-dedup, a split into 5 s clips by stream copy, motion and OCR filters, frame embeddings, a diversity
selector and a WebDataset export. It runs with the local executor (np 2) and again under Ray; then the kept
samples are exported as MediaSequence too. What is checked is what broke when these ran together: every clip
written decodes and starts on its source's frame, every record has its own key and its stats, the real readers
read every export, the two executors write the same records, and every input is accounted for.
"""

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers import read_jsonl, write_jsonl, write_recipe

import djlite
from djlite.video.clip_writer import Span
from djlite.video.verify import verify_clip

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("DJLITE_READER_VENV", REPO / ".venv-readers"))
CHECKER = Path(__file__).resolve().parent / "readers" / "check_with_tensorflow.py"
CLIP_STATS = ("video_duration", "video_width", "video_height", "video_aspect_ratios")
STATS = (*CLIP_STATS, "video_motion_score", "video_ocr_area_ratio", "diversity_rank")


def process(clips: str) -> list:
    return [
        {"video_duration_filter": {"min_duration": 1}},
        {"video_resolution_filter": {"min_width": 64, "min_height": 64}},
        {"video_aspect_ratio_filter": {"min_ratio": "9/16", "max_ratio": "16/9"}},
        {"video_near_deduplicator": {"keep": "best"}},
        # Both runs cut into one folder: the second finds the first's clips (and verifies them again).
        {
            "video_split_by_duration_mapper": {
                "split_duration": 5,
                "cut_mode": "copy",
                "keep_original_sample": False,
                "save_dir": clips,
            }
        },
        {"video_motion_score_filter": {"min_score": 0.25}},
        {"video_ocr_area_ratio_filter": {"max_area_ratio": 0.3}},
        {"video_frame_embedding_mapper": {"backend": "thumbnail_histogram", "sampling_fps": 1.0}},
        {"diversity_selector": {"select_num": 20}},
    ]


def read_with_real_readers(request: dict) -> dict:
    if not (VENV / "bin" / "python").exists():
        pytest.skip(f"reader venv {VENV} is absent: build it with `bash tools/reader_env.sh`")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [str(VENV / "bin" / "python"), str(CHECKER), json.dumps(request)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def tar_members(paths) -> list[tuple[str, bytes]]:
    """(name, bytes) of every member, in order; the run's own export folder (where the embedding sidecars
    live) written as <export>."""
    members = []
    for path in paths:
        here = os.path.dirname(path).encode()
        with tarfile.open(path) as tar:
            members += [(m.name, tar.extractfile(m).read().replace(here, b"<export>")) for m in tar.getmembers()]
    return members


def jsonl_text(path) -> str:
    return Path(path).read_text().replace(os.path.dirname(path), "<export>")


@pytest.fixture(scope="module")
def runs(corpus_videos, tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus_pipeline")
    rows = [
        {"id": os.path.splitext(name)[0], "text": f"<__dj__video> {name}", "videos": [str(corpus_videos / name)]}
        for name in sorted(os.listdir(corpus_videos))
        if name != "MANIFEST.tsv"
    ]
    data = write_jsonl(folder / "corpus.jsonl", rows)
    clips = str(folder / "clips")
    recipe = str(write_recipe(folder / "recipe.yaml", data, process(clips), np=2))  # WebDataset: JPEG frames
    with pytest.MonkeyPatch.context() as env:
        # Each executor computes every stat itself (a fresh cache each); the MediaSequence export of the same
        # recipe reuses the local run's stats.
        env.setenv("DJLITE_CACHE_DIR", str(folder / "cache-local"))
        local = djlite.run(recipe, export_path=str(folder / "local" / "corpus.tar"), export_filtered=True)
        sequences = djlite.run(recipe, export_path=str(folder / "ms" / "corpus.tfrecord"))
        env.setenv("DJLITE_CACHE_DIR", str(folder / "cache-ray"))
        on_ray = djlite.run(recipe, executor_type="ray", export_path=str(folder / "ray" / "corpus.tar"))
    return {"rows": rows, "clips": clips, "local": local, "ray": on_ray, "ms": sequences, "folder": folder}


def kept_samples(result) -> list[dict]:
    return [json.loads(data) for name, data in tar_members(result.result_paths) if name.endswith(".json")]


def test_every_input_is_accounted_for(runs):
    for name in ("local", "ray", "ms"):
        summary = runs[name].summary
        assert summary["input"] == len(runs["rows"]) == 62
        assert summary["balanced"], name
        assert summary["kept"] == 20, name  # the selector's budget: the corpus has more clips than that


def test_both_executors_write_the_same_records(runs):
    local, on_ray = tar_members(runs["local"].result_paths), tar_members(runs["ray"].result_paths)
    assert [name for name, _ in on_ray] == [name for name, _ in local]
    assert on_ray == local
    assert jsonl_text(runs["ray"].stats_path) == jsonl_text(runs["local"].stats_path)
    assert jsonl_text(runs["ray"].errors_path) == jsonl_text(runs["local"].errors_path)


def test_every_record_has_its_own_key_and_its_stats(runs):
    samples = kept_samples(runs["local"])
    assert len(samples) == 20
    ids = [s["id"] for s in samples]
    assert len(set(ids)) == len(ids), "a clip keeps its parent's id"
    parents = {row["id"] for row in runs["rows"]}
    for sample in samples:
        clip = sample["__dj__clip__"]
        parent, n = sample["id"].rsplit("_", 1)
        assert parent in parents and n == str(clip["index"])  # one video per sample: n is the clip's index
        stats = sample["__dj__stats__"]
        missing = [key for key in STATS if stats.get(key) in (None, [], [None])]
        assert not missing, f"{sample['id']}: no {missing}"
        # A stream copy's clip is not exactly 5 s long: its stats say how long it is.
        assert stats["video_duration"][0] == pytest.approx(clip["end"] - clip["start"], abs=0.1)
        shown = {"__dj__stats__", "__dj__clip__", "__dj__source_file__"}
        leaked = [key for key in sample if key.startswith("__dj__") and key not in shown]
        assert not leaked, f"internal columns leak into the records: {leaked}"


def test_every_clip_written_decodes_and_starts_on_its_source_frame(runs):
    local = runs["local"]
    filtered = read_jsonl(runs["folder"] / "local" / "corpus_filtered.jsonl")
    made = kept_samples(local) + [row for row in filtered if row.get("__dj__clip__")]
    assert len(made) > 40
    written = {sample["videos"][0]: sample["__dj__clip__"] for sample in made}
    on_disk = {str(p) for p in Path(runs["clips"]).rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert set(written) <= on_disk
    problems = {}
    for path, clip in written.items():  # PSNR >= 30 dB against the source's frame at the cut, and more
        problem = verify_clip(clip["source"], path, Span(clip["start"], clip["end"]))
        if problem:
            problems[os.path.basename(path)] = problem
    assert not problems


def test_the_real_readers_read_every_export_with_unique_keys(runs):
    shards = sorted(p for p in runs["local"].result_paths if p.endswith(".tar"))
    records = sorted(p for p in runs["ms"].result_paths if p.endswith(".tfrecord"))
    answer = read_with_real_readers({"webdataset": [{"urls": shards}], "mediasequence": [{"files": records}]})
    (samples,) = answer["webdataset"]
    keys = [s["key"] for s in samples]
    assert len(keys) == len(set(keys)) == 20
    assert all(s["jpgs"] and all(shape[2] == 3 for shape in s["decoded_shapes"]) for s in samples)
    (sequences,) = answer["mediasequence"]
    ids = [r["ms_id"] for r in sequences]
    assert len(ids) == len(set(ids)) == 20
    assert sorted(ids) == sorted(s["json"]["id"] for s in samples)
