"""A stand-in `data_juicer` package that maps the names Data-Juicer's video op tests import onto djlite.

Only what those tests touch: `NestedDataset`, `Fields` / `MetaKeys` / `HashKeys`, `SpecialTokens`,
`DataJuicerTestCaseBase`, and the op classes. The ops are djlite's own; two thin bridges cover calling
conventions Data-Juicer's tests use and djlite's ops do not:
- `op.run(dataset)` (Data-Juicer's OP.run) maps the op over the dataset with its num_proc;
- the frame extractor's output, which Data-Juicer's tests read from `__dj__meta__[frame_key]` as a JSON
  {video: frame folder} (djlite writes the frame paths to a top-level column, as Data-Juicer 1.6 does).
"""

import json
import os
import sys
import types
import unittest

import datasets

from djlite.fields import Fields as DjliteFields
from djlite.fields import HashKeys as DjliteHashKeys
from djlite.registry import get_op

VIDEO_OPS = {
    "filter": [
        "video_aspect_ratio_filter",
        "video_duration_filter",
        "video_motion_score_filter",
        "video_ocr_area_ratio_filter",
        "video_resolution_filter",
    ],
    "mapper": ["video_extract_frames_mapper"],
    "deduplicator": ["video_deduplicator"],
}


class Fields:
    stats = DjliteFields.stats
    meta = DjliteFields.meta
    multimodal_data_output_dir = "__dj__produced_data__"


class MetaKeys:
    video_frames = "video_frames"


class HashKeys:
    videohash = DjliteHashKeys.videohash
    hash = DjliteHashKeys.hash


class SpecialTokens:
    video = "<__dj__video>"
    eoc = "<|__dj__eoc|>"


class DataJuicerTestCaseBase(unittest.TestCase):
    maxDiff = None


def _class_name(op_name: str) -> str:
    return "".join(part.capitalize() for part in op_name.split("_"))


def _run(self, dataset, *args, **kwargs):
    """Data-Juicer's OP.run for a mapper: the op over every sample, with its num_proc."""
    return dataset.map(self.process, num_proc=self.num_proc if self.num_proc and self.num_proc > 1 else None)


def _frames_mapper(cls):
    """djlite's frame extractor, reporting its folders in __dj__meta__ as Data-Juicer's tests expect."""

    class VideoExtractFramesMapper(cls):
        def _get_default_frame_dir(self, path):
            return os.path.join(self.root(path), os.path.splitext(os.path.basename(path))[0])

        def run(self, dataset, *args, **kwargs):
            column = self.frame_key
            done = _run(self, dataset)

            def to_meta(sample):
                folders = {}
                for video, frames in zip(sample[self.video_key], sample[column] or []):
                    folder = os.path.dirname(frames[0]) if frames else self.folder(video)
                    folders[video] = folder
                meta = dict(sample.get(Fields.meta) or {})
                meta[column] = json.dumps(folders)
                return {Fields.meta: meta}

            return done.map(to_meta).remove_columns([column])

    VideoExtractFramesMapper._name = cls._name
    return VideoExtractFramesMapper


def _with_backend(cls, backend: str):
    """The OCR filter with another default backend (easyocr reproduces Data-Juicer's numbers where it imports)."""

    class VideoOcrAreaRatioFilter(cls):
        def __init__(self, *args, backend: str = backend, **kwargs):
            super().__init__(*args, backend=backend, **kwargs)

    VideoOcrAreaRatioFilter._name = cls._name
    return VideoOcrAreaRatioFilter


def install() -> None:
    """Put the stand-in package into sys.modules (idempotent)."""
    if "data_juicer" in sys.modules and getattr(sys.modules["data_juicer"], "__djlite_shim__", False):
        return

    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        mod.__path__ = []  # a package, so that submodules resolve
        sys.modules[name] = mod
        return mod

    module("data_juicer", __djlite_shim__=True)
    module("data_juicer.core")
    module("data_juicer.core.data", NestedDataset=datasets.Dataset)
    module("data_juicer.utils")
    module("data_juicer.utils.constant", Fields=Fields, MetaKeys=MetaKeys, HashKeys=HashKeys)
    module("data_juicer.utils.mm_utils", SpecialTokens=SpecialTokens)
    module("data_juicer.utils.unittest_utils", DataJuicerTestCaseBase=DataJuicerTestCaseBase)
    module("data_juicer.ops")
    for kind, names in VIDEO_OPS.items():
        module(f"data_juicer.ops.{kind}")
        for name in names:
            cls = get_op(name)
            if name == "video_extract_frames_mapper":
                cls = _frames_mapper(cls)
            elif name == "video_ocr_area_ratio_filter" and os.environ.get("DJ_TESTS_OCR_BACKEND"):
                cls = _with_backend(cls, os.environ["DJ_TESTS_OCR_BACKEND"])
            elif not hasattr(cls, "run"):
                cls.run = _run
            module(f"data_juicer.ops.{kind}.{name}", **{_class_name(name): cls, "OP_NAME": name})
