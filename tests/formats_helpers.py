"""Shared by the export-format tests: a small labelled dataset of generated clips, exported through djlite.run."""

from pathlib import Path

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


def run_export(folder: Path, rows: list[dict], export_path: str, process=None, **keys):
    import djlite

    dataset = write_jsonl(folder / "data.jsonl", rows)
    config = {"dataset_path": str(dataset), "export_path": export_path, "np": 1, "process": process or MOTION}
    config.update(keys)
    return djlite.run(config)


def read_sequences(paths) -> list[tuple[dict, dict]]:
    return [decode_sequence_example(r) for p in sorted(paths) if ".tfrecord" in p for r in read_records(p)]
