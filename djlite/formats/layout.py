"""What every training layout is (a Writer of kind `layout`, djlite/formats/writer.py): its options (checked against
its table before any data is read), the frames it asks the recipe's decode for, its labels, and its writer. The
layouts are one module each (mediasequence_layout, video2tfrecord, webdataset, yt8m), each registering itself.

A layout is written on the driver (djlite/exporter.py, `export_kept`); the run's plan (djlite/core/plan.py) puts the
frame spooler into the recipe's ops, so the records' frames come from the filters' own decode.
"""

import os

from djlite.errors import RecipeError
from djlite.formats.labels import CsvLabels, LabelIndex, annotation, as_label_list, read_label_map, sample_label_strings
from djlite.formats.mediasequence import RecordError
from djlite.formats.spool import EXPORT_FRAMES, SpoolSettings, plan_from_options
from djlite.formats.tfrecord import normalize_compression
from djlite.formats.writer import LAYOUT, Writer, paths_for
from djlite.run_paths import RunPaths

LABEL_OPTIONS = {"labels_csv": None, "csv_key": None, "csv_label": None, "label_map": None}
FRAME_OPTIONS = {
    "fps": 24.0,  # MediaPipe's demo graph (clipped_images_from_file_at_24fps)
    "num_frames": None,  # an int (evenly spaced) or "all" instead of the fps grid
    "jpeg_quality": 80,  # MediaPipe's demo
    "resize_short_side": None,
    "resize_fit": None,  # [width, height]: fit inside, aspect kept
}


class Layout(Writer):
    kind = LAYOUT
    defaults: dict = {}
    needs_frames = True
    # num_frames: N as the centres of N equal bins of the frames (spool.EvenSpreadPlan), else Data-Juicer's uniform
    even_spread = False

    @classmethod
    def from_recipe(cls, recipe, base_dir: str | None = None) -> "Layout":
        """The recipe's layout, options checked. Relative labels_csv / label_map paths are taken from the recipe's
        folder (`base_dir`) when not found from the working directory; the resolved paths are written back into
        the recipe's export_extra_args."""
        options = dict(getattr(recipe, "export_extra_args", None) or {})
        for key in ("labels_csv", "label_map"):
            value = options.get(key)
            if value and base_dir and not os.path.isabs(value) and not os.path.exists(value):
                if os.path.exists(os.path.join(base_dir, value)):
                    options[key] = os.path.abspath(os.path.join(base_dir, value))
        shard_size = getattr(recipe, "export_shard_size", 0)
        if shard_size and "shard_bytes" in cls.defaults and "shard_bytes" not in options:
            options["shard_bytes"] = shard_size  # Data-Juicer's key, where the layout cuts shards by bytes
        if base_dir is not None:
            recipe.export_extra_args = options
        return cls(options, where=f"{recipe.source}: export_extra_args")

    def paths(self, export_path: str) -> RunPaths:
        """The names of the layout's files for `export_path`."""
        return paths_for(export_path, None, self)

    def __init__(self, options: dict | None, where: str = "export_extra_args"):
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise RecipeError(
                f"{where}: unknown option(s) {unknown} for export_type {self.name}; known: {sorted(self.defaults)}"
            )
        self.options = {**self.defaults, **options}
        o = self.options
        if "jpeg_quality" in o and not (isinstance(o["jpeg_quality"], int) and 1 <= o["jpeg_quality"] <= 100):
            raise RecipeError(f"{where}: jpeg_quality must be an integer in [1, 100], got {o['jpeg_quality']!r}")
        if "fps" in o and not (isinstance(o["fps"], (int, float)) and o["fps"] > 0):
            raise RecipeError(f"{where}: fps must be > 0, got {o['fps']!r}")
        n = o.get("num_frames")
        if n is not None and n != "all" and not (isinstance(n, int) and n >= 1):
            raise RecipeError(f"{where}: num_frames must be a positive integer or 'all', got {n!r}")
        fit = o.get("resize_fit")
        if fit is not None and not (isinstance(fit, (list, tuple)) and len(fit) == 2 and all(v > 0 for v in fit)):
            raise RecipeError(f"{where}: resize_fit must be [width, height], got {fit!r}")
        if o.get("resize_fit") and o.get("resize_short_side"):
            raise RecipeError(f"{where}: give resize_short_side or resize_fit, not both")
        if "compression" in o:
            try:
                normalize_compression(o["compression"])
            except ValueError as e:
                raise RecipeError(f"{where}: {e}") from None
        for key in ("labels_csv", "label_map"):
            if o.get(key) and not os.path.exists(o[key]):
                raise RecipeError(f"{where}: {key} {o[key]!r} does not exist")
        self.csv = None
        self.given_map = None

    # -- per worker / per sample (inside the stage)

    def setup(self) -> None:
        o = self.options
        if o.get("labels_csv") and self.csv is None:
            self.csv = CsvLabels(o["labels_csv"], o.get("csv_key"), o.get("csv_label"))
        if o.get("label_map") and self.given_map is None:
            self.given_map = LabelIndex(read_label_map(o["label_map"]))

    def spool_settings(self) -> SpoolSettings:
        o = self.options
        return SpoolSettings(
            plan=plan_from_options(o.get("num_frames"), o.get("fps"), even=self.even_spread),
            payload=o.get("payload", "jpeg") if o.get("payload") in ("jpeg", "raw") else "jpeg",
            jpeg_quality=o.get("jpeg_quality", 80),
            resize_short_side=o.get("resize_short_side"),
            resize_fit=tuple(o["resize_fit"]) if o.get("resize_fit") else None,
            flow=self.flow_mode(),
            window=(o.get("clip_start"), o.get("clip_end")),
        )

    def flow_mode(self):
        return None

    def validate(self, sample: dict, spools: list[dict]) -> None:
        for spool in spools:
            if not spool["timestamps"]:
                raise RecordError(f"no frame of {spool['path']} falls in the export's plan and clip window")

    def clip_labels(self, sample: dict, path: str) -> list:
        if sample.get("labels") is not None:
            return as_label_list(annotation(sample, "labels"))
        if self.csv is not None:
            return self.csv.lookup(path, sample.get("id")) or []
        return []

    def label_index(self, rows) -> LabelIndex:
        if self.given_map is not None:
            return self.given_map
        found = set()
        for row in rows:
            found |= sample_label_strings(row)
            for spool in row.get(EXPORT_FRAMES) or [{"path": p} for p in row.get("videos") or []]:
                found |= {v for v in self.clip_labels(row, spool["path"]) if isinstance(v, str)}
        return LabelIndex.assign(found)

    # -- the writer (driver)

    def write(self, rows, export_path: str) -> list[str]:
        """Write the records of `rows()` (called once per pass) for `export_path`; return the files written."""
        raise NotImplementedError


def label_pairs(labels: list, index: LabelIndex | None) -> list[tuple]:
    """(string, index) of each label: through `index` when there is one, else as given (a string or an int)."""
    if index is None:
        return [(v, None) if isinstance(v, str) else (None, int(v)) for v in labels]
    return [index.pair(v) for v in labels]
