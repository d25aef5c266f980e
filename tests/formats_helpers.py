"""Shared by the export-format tests: a small labelled dataset of generated clips, exported through djlite.run,
and the real readers (TensorFlow, MediaPipe, WebDataset) run in the reader venv of tools/reader_env.sh."""

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers import write_jsonl
from synthetic import make_moving, make_static

from djlite.formats.example import decode_sequence_example
from djlite.formats.tfrecord import read_records

MOTION = [{"video_motion_score_filter": {"min_score": 0.0}}]  # reads frames, keeps everything that decodes


def labelled_rows(folder: Path) -> list[dict]:
    moving = make_moving(str(folder / "moving.mp4"), seconds=2.0, fps=30, size=(160, 96))
    panning = make_moving(str(folder / "panning.mp4"), seconds=1.5, fps=25, size=(128, 96), seed=3)
    static = make_static(str(folder / "static.mp4"), seconds=1.0, fps=24)
    return [
        {
            "id": "moving",
            "text": "<__dj__video> a",
            "videos": [moving],
            "labels": ["galaxy", "nebula"],
            "segments": [{"start": 0.2, "end": 0.9, "label": "nebula"}, {"start": 1.0, "end": 1.9, "label": "galaxy"}],
            "regions": [
                {"time": 0.1, "bbox": [0.1, 0.2, 0.5, 0.6], "label": "star"},
                {"time": 0.1, "bbox": [0.0, 0.0, 1.0, 0.5], "label": "gas"},
                {"time": 1.03, "bbox": [0.2, 0.2, 0.3, 0.3], "label": "star"},
            ],
        },
        {"id": "panning", "text": "<__dj__video> b", "videos": [panning], "labels": ["nebula"]},
        {"id": "static", "text": "<__dj__video> c", "videos": [static]},
    ]


def rows_with_ids(folder: Path, ids: list[str]) -> list[dict]:
    """One row per id (repeats and all), cycling through the three clips of labelled_rows."""
    base = labelled_rows(folder)
    return [
        {"id": sample_id, "text": f"<__dj__video> {i}", "videos": base[i % len(base)]["videos"]}
        for i, sample_id in enumerate(ids)
    ]


def run_export(folder: Path, rows: list[dict], export_path: str, process=None, **keys):
    import djlite

    dataset = write_jsonl(folder / "data.jsonl", rows)
    config = {"dataset_path": str(dataset), "export_path": export_path, "np": 1, "process": process or MOTION}
    config.update(keys)
    return djlite.run(config)


def read_sequences(paths) -> list[tuple[dict, dict]]:
    return [decode_sequence_example(r) for p in sorted(paths) if ".tfrecord" in p for r in read_records(p)]


REPO = Path(__file__).resolve().parent.parent
READER_VENV = Path(os.environ.get("DJLITE_READER_VENV", REPO / ".venv-readers"))
READER_PYTHON = READER_VENV / "bin" / "python"
READERS = Path(__file__).resolve().parent / "readers"
needs_readers = pytest.mark.skipif(
    not READER_PYTHON.exists(), reason=f"reader venv {READER_VENV} is absent: build it with `bash tools/reader_env.sh`"
)


def run_reader(script: str, request: dict) -> dict:
    """What tests/readers/<script> found in the files `request` names, read in the reader venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [str(READER_PYTHON), str(READERS / script), json.dumps(request)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def tar_members(path) -> list[tuple[str, bytes]]:
    """Every member of a tar, in order, duplicates included (a dict would hide them)."""
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
