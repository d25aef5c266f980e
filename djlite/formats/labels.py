"""Labels for exported records: from sample fields or a Kinetics / YouTube-8M style CSV, and a label map.

Sample fields (seconds for times, boxes normalised to [0, 1] as (ymin, xmin, ymax, xmax)):

    labels:   ["nebula", "space"] | [3, 7]   (a bare "nebula" or 3 works too, if every line uses that form)
    segments: [{"start": 1.0, "end": 2.5, "label": "jump"}, ...]
    regions:  [{"time": 0.5, "bbox": [ymin, xmin, ymax, xmax], "label": "person"}, ...]   one box per entry

CSV (`labels_csv`): a header row; the join column is `csv_key` (default: the first of video, path, youtube_id,
id, video_id present) matched against the sample's video path, its file name, its stem, or the sample's `id`;
the label column is `csv_label` (default: label, labels, or label_name). Several labels in one cell are split on
";" (YouTube-8M style `path,l1;l2`); several rows for one key add up.

A label map (`label_map`) is a JSON object {string: index} or a text file with one label a line (index = line
number). Without one, indices are assigned to the sorted label strings of the whole export and the map is
written next to the output (`<base>_label_map.json`).
"""

import csv
import json
import os

from djlite.errors import RecipeError
from djlite.files import atomic_path

KEY_COLUMNS = ("video", "path", "youtube_id", "id", "video_id")
LABEL_COLUMNS = ("label", "labels", "label_name")


def read_label_map(path: str) -> dict[str, int]:
    if not os.path.exists(path):
        raise RecipeError(f"label_map {path!r} does not exist; give an existing file, or leave label_map out")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise RecipeError(f"label_map {path!r} must be a JSON object {{label: integer index}}")
        return {str(k): int(v) for k, v in data.items()}
    return {line.strip(): i for i, line in enumerate(text.splitlines()) if line.strip()}


class CsvLabels:
    """{join key: [labels]} from a CSV, looked up by a sample's video path, file name, stem or id."""

    def __init__(self, path: str, key_column: str | None = None, label_column: str | None = None):
        if not os.path.exists(path):
            raise RecipeError(f"labels_csv {path!r} does not exist")
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            key_column = key_column or next((c for c in KEY_COLUMNS if c in columns), None)
            label_column = label_column or next((c for c in LABEL_COLUMNS if c in columns), None)
            if key_column not in columns or label_column not in columns:
                raise RecipeError(
                    f"labels_csv {path!r}: needs a key column ({key_column or ' / '.join(KEY_COLUMNS)}) and a label "
                    f"column ({label_column or ' / '.join(LABEL_COLUMNS)}); it has {columns}. Set csv_key / csv_label"
                )
            self.labels: dict[str, list[str]] = {}
            for row in reader:
                key = (row.get(key_column) or "").strip()
                cell = row.get(label_column) or ""
                values = [v.strip() for v in cell.split(";") if v.strip()]
                if key:
                    self.labels.setdefault(key, []).extend(values)

    def lookup(self, video_path: str, sample_id: str | None) -> list[str] | None:
        name = os.path.basename(video_path)
        for key in (video_path, name, os.path.splitext(name)[0], sample_id):
            if key and key in self.labels:
                return self.labels[key]
        return None


def annotation(sample: dict, key: str):
    """sample[key], decoded when the loader kept it as JSON text.

    Arrow's JSON reader turns a column whose rows disagree in type (a string label here, a list there; boxes with
    and without a label) into strings holding the JSON; the annotation is the same either way.
    """
    value = _json_text(sample.get(key))
    if isinstance(value, list):
        value = [_json_text(v) for v in value]
    return value


def _json_text(value):
    if isinstance(value, str) and value[:1] in ("[", "{", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def as_label_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def sample_label_strings(sample: dict) -> set[str]:
    """Every label string a sample names (clip labels, segment and region labels)."""
    found = {v for v in as_label_list(annotation(sample, "labels")) if isinstance(v, str)}
    for item in list(annotation(sample, "segments") or []) + list(annotation(sample, "regions") or []):
        if isinstance(item, dict) and isinstance(item.get("label"), str):
            found.add(item["label"])
    return found


class LabelIndex:
    """string <-> index, from a given map or assigned to the sorted strings of the export."""

    def __init__(self, mapping: dict[str, int], written_to: str | None = None):
        self.mapping = dict(mapping)
        self.inverse = {v: k for k, v in self.mapping.items()}
        self.written_to = written_to

    @classmethod
    def assign(cls, labels) -> "LabelIndex":
        return cls({label: i for i, label in enumerate(sorted(set(labels)))})

    def pair(self, label) -> tuple[str | None, int | None]:
        """(string, index) of a label given as either; the other is looked up (None when unknown)."""
        if isinstance(label, bool):
            raise ValueError(f"a label must be a string or an integer index, got {label!r}")
        if isinstance(label, int):
            return self.inverse.get(label), label
        if isinstance(label, str):
            if label not in self.mapping:
                raise ValueError(f"label {label!r} is not in the label map; add it there or leave label_map out")
            return label, self.mapping[label]
        raise ValueError(f"a label must be a string or an integer index, got {label!r}")

    def write(self, path: str) -> str:
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(self.mapping.items(), key=lambda kv: kv[1])), f, indent=1, ensure_ascii=False)
            f.write("\n")
        self.written_to = path
        return path
