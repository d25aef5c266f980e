"""Every file and folder a run writes, named in one place: `RunPaths`.

Beside the export path (`<base>` is the export path without its extension, `<stem>` its file name up to the
first dot):

    <export path>                          the kept samples, or table shards <stem>-<i>-of-<n><ext>
    <base>-00000-of-0000N.tfrecord         record shards (mediasequence; yt8m: <base>_frame-..., <base>_video-...)
    <base>-000000.tar                      tar shards (webdataset)
    batch_<k>_of_<N>.tfrecords             video2tfrecord's files, in the export folder
    <base>_stats.jsonl                     stats of the kept samples
    <base>_errors.jsonl                    the samples an error dropped
    <base>_filtered.jsonl                  the samples filters removed (export_filtered)
    <base>_label_map.json                  the label map a layout assigned
    <base>_op_summary.json                 the summary, and <base>_recipe_resolved.yaml the resolved recipe; in a
                                           work_dir of its own (Recipe.own_work_dir) <work_dir>/op_summary.json and
                                           <work_dir>/recipe_resolved.yaml, as in Data-Juicer
    .<name>.lock  .<name>.commit.json      the export lock and the output set's commit journal
    .<name>.spool-<id>/  .<name>.parts-<pid>/   a training export's frame spool; Ray's result parts

In the work dir: `trace/` (Data-Juicer's tracer files), `ckpt/<export name>/` (use_checkpoint),
`.djlite_scratch/` (a cleaned copy of the dataset), `embeddings/` (frame-embedding sidecars), `pca/`, and
`__dj__produced_data__/<op>/` (clips and frames ops write).

`RunPaths.owns` is the output set's membership (djlite/output_set.py): a file is one of the run's outputs when
this module names it so, not because its name looks like one. `previous` lists the files of an earlier run on
the same export path that a new run replaces. Nothing here touches the disk except `previous` (a listing).
"""

import os
import re
from dataclasses import dataclass

STATS_SUFFIX = "_stats.jsonl"
ERRORS_SUFFIX = "_errors.jsonl"
FILTERED_SUFFIX = "_filtered.jsonl"
LABEL_MAP_SUFFIX = "_label_map.json"
SUMMARY_NAME = "op_summary.json"
RESOLVED_RECIPE_NAME = "recipe_resolved.yaml"
TRACE_DIR = "trace"
TRACE_KINDS = ("filter", "duplicate", "mapper")  # Data-Juicer's tracer file prefixes
CHECKPOINT_DIR = "ckpt"
DATASET_SCRATCH_DIR = ".djlite_scratch"
EMBEDDINGS_DIR = "embeddings"
PCA_DIR = "pca"
PRODUCED_DATA = "__dj__produced_data__"  # Data-Juicer's Fields.multimodal_data_output_dir

RECORD_SHARD_WIDTH = 5  # MediaPipe's and TensorFlow's <base>-00000-of-00004 (5 digits, at least)
TAR_SHARD_WIDTH = 6  # WebDataset's <base>-000000.tar


def export_base(export_path: str) -> str:
    """The export path without its extension: what the run's other files are named after."""
    return os.path.splitext(export_path)[0]


def produced_data_dir(folder: str, op_name: str) -> str:
    """Where an op's produced files (clips, frames) go: `<folder>/__dj__produced_data__/<op>`, the folder being
    the run's work dir or, for an op run alone, the video's folder."""
    return os.path.join(os.path.abspath(folder), PRODUCED_DATA, op_name)


def embeddings_dir(work_dir: str) -> str:
    return os.path.join(work_dir, EMBEDDINGS_DIR)


def pca_dir(folder: str) -> str:
    return os.path.join(folder, PCA_DIR)


def record_shard_name(base: str, index: int, count: int, suffix: str) -> str:
    """`<base>-00000-of-00004<suffix>`: MediaPipe's and TensorFlow's shard pattern."""
    width = max(RECORD_SHARD_WIDTH, len(str(count)))
    return f"{base}-{index:0{width}d}-of-{count:0{width}d}{suffix}"


@dataclass(frozen=True)
class RunPaths:
    """The names of one run's files. `work_dir` defaults to the export's folder; `own_work_dir` is the work dir
    when it is a folder of its own (then the summary and the resolved recipe go there, named as Data-Juicer names
    them), else None. `suffix` is the extension of the result files (a layout's own, e.g. `.tar` for webdataset;
    default: the export path's); `shards` the naming scheme of its shards (the writer's `shards`: table, records,
    tagged_records, tar or batch), which `owns` and `previous` recognise."""

    export_path: str
    work_dir: str | None = None
    suffix: str | None = None
    shards: str = "table"

    def __post_init__(self):
        object.__setattr__(self, "export_path", os.path.abspath(self.export_path))
        object.__setattr__(self, "work_dir", os.path.abspath(self.work_dir or self.folder))
        if self.suffix is None:
            object.__setattr__(self, "suffix", os.path.splitext(self.export_path)[1])

    # -- beside the export

    @property
    def folder(self) -> str:
        return os.path.dirname(self.export_path)

    @property
    def name(self) -> str:
        return os.path.basename(self.export_path)

    @property
    def stem(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def base(self) -> str:
        return export_base(self.export_path)

    @property
    def result(self) -> str:
        return self.export_path

    @property
    def stats(self) -> str:
        return self.base + STATS_SUFFIX

    @property
    def errors(self) -> str:
        return self.base + ERRORS_SUFFIX

    @property
    def filtered(self) -> str:
        return self.base + FILTERED_SUFFIX

    @property
    def label_map(self) -> str:
        return self.base + LABEL_MAP_SUFFIX

    @property
    def own_work_dir(self) -> str | None:
        """The work dir when it is a folder of its own; None when it is the export's folder (the default)."""
        return None if self.work_dir == self.folder else self.work_dir

    def _run_file(self, name: str) -> str:
        return os.path.join(self.own_work_dir, name) if self.own_work_dir else f"{self.base}_{name}"

    @property
    def summary(self) -> str:
        """op_summary.json: in a work_dir of its own as in Data-Juicer; else beside the export and named after it,
        so that two runs exporting to one folder never replace each other's."""
        return self._run_file(SUMMARY_NAME)

    @property
    def resolved_recipe(self) -> str:
        """recipe_resolved.yaml, placed and named as the summary."""
        return self._run_file(RESOLVED_RECIPE_NAME)

    def table_shards(self, count: int) -> list[str]:
        """`<stem>-<i>-of-<n><ext>` for a table export cut into `count` shards (export_shard_size)."""
        width = len(str(count)) + 1
        return [
            os.path.join(self.folder, f"{self.stem}-{i:0{width}d}-of-{count:0{width}d}{self.suffix}")
            for i in range(count)
        ]

    def record_shard(self, index: int, count: int) -> str:
        """`<base>-00000-of-0000N<suffix>`: record shards (mediasequence)."""
        return record_shard_name(self.base, index, count, self.suffix)

    def tagged_base(self, tag: str) -> str:
        """`<base>_<tag>`, what a layout with several record sets names each after (yt8m's frame and video)."""
        return f"{self.base}_{tag}"

    def tar_shard(self, index: int) -> str:
        return f"{self.base}-{index:0{TAR_SHARD_WIDTH}d}{self.suffix}"

    def batch_file(self, number: int, count: int) -> str:
        """video2tfrecord's `batch_<k>_of_<N><suffix>` (k from 1), in the export folder."""
        return os.path.join(self.folder, f"batch_{number}_of_{count}{self.suffix}")

    def _shard_pattern(self) -> re.Pattern:
        """The names of the result shards this run's writer (its `shards` scheme) writes."""
        stem, base, suffix = (re.escape(s) for s in (self.stem, os.path.basename(self.base), self.suffix))
        schemes = {
            "table": rf"{stem}-\d+-of-\d+{suffix}",
            "records": rf"{base}-\d+-of-\d+{suffix}",
            "tagged_records": rf"{base}_[a-z]+-\d+-of-\d+{suffix}",
            "tar": rf"{base}-\d+{suffix}",
            "batch": rf"batch_\d+_of_\d+{suffix}",
        }
        if self.shards not in schemes:
            raise ValueError(f"unknown shard scheme {self.shards!r}; known: {', '.join(schemes)}")
        return re.compile(rf"^{schemes[self.shards]}$")

    # -- internal files beside the export

    @property
    def lock(self) -> str:
        return os.path.join(self.folder, f".{self.name}.lock")

    @property
    def journal(self) -> str:
        return os.path.join(self.folder, f".{self.name}.commit.json")

    def spool_dir(self, token: str) -> str:
        """A training export's frame spool; `token` makes it unique per run."""
        return os.path.join(self.folder, f".{self.name}.spool-{token}")

    def parts_dir(self, pid: int) -> str:
        """Where the Ray workers of driver `pid` write their result parts."""
        return os.path.join(self.folder, f".{self.name}.parts-{pid}")

    def part_files(self, parts_dir: str, count: int) -> list[str]:
        """`part-<i><ext>` in the parts folder, in dataset order."""
        width = len(str(count)) + 1
        return [os.path.join(parts_dir, f"part-{i:0{width}d}{self.suffix}") for i in range(count)]

    # -- in the work dir

    @property
    def trace_dir(self) -> str:
        return os.path.join(self.work_dir, TRACE_DIR)

    def trace_file(self, kind: str, op_name: str) -> str:
        """Data-Juicer's tracer file `<work_dir>/trace/<kind>-<op>.jsonl` (kind: filter, duplicate, mapper)."""
        return os.path.join(self.trace_dir, f"{kind}-{op_name}.jsonl")

    @property
    def checkpoint_dir(self) -> str:
        """work_dir/ckpt/<export name>/ (Data-Juicer: work_dir/ckpt)."""
        return os.path.join(self.work_dir, CHECKPOINT_DIR, self.name)

    @property
    def dataset_scratch_dir(self) -> str:
        return os.path.join(self.work_dir, DATASET_SCRATCH_DIR)

    # -- the set

    def fixed_outputs(self) -> list[str]:
        """The run's outputs whose names do not depend on the data (result shards aside)."""
        return [self.result, self.stats, self.errors, self.filtered, self.summary, self.resolved_recipe]

    def owns(self, path: str) -> bool:
        """Whether `path` is one of the run's outputs (committed with the set): a file named above, a result
        shard, the label map, or a tracer file. Scratch (a cleaned copy of the dataset, spools, parts) is not."""
        path = os.path.abspath(path)
        if path in self.fixed_outputs() or path == self.label_map:
            return True
        folder, name = os.path.split(path)
        if folder == self.folder and self._shard_pattern().match(name):
            return True
        return folder == self.trace_dir

    def previous(self) -> list[str]:
        """The files of an earlier run on this export path that this run replaces or must remove: the result, its
        stats and errors, and every result shard there is (a run with fewer shards leaves none behind)."""
        pattern = self._shard_pattern()
        names = os.listdir(self.folder) if os.path.isdir(self.folder) else []
        shards = sorted(os.path.join(self.folder, n) for n in names if pattern.match(n))
        return [self.result, self.stats, self.errors, *shards]


@dataclass(frozen=True)
class StatsFilePaths:
    """The files of the run that wrote a stats file, found from the stats file alone (dj-analyze --stats)."""

    stats: str

    @property
    def base(self) -> str:
        if self.stats.endswith(STATS_SUFFIX):
            return self.stats[: -len(STATS_SUFFIX)]
        return os.path.splitext(self.stats)[0]

    @property
    def errors(self) -> str:
        return self.base + ERRORS_SUFFIX

    @property
    def filtered(self) -> str:
        return self.base + FILTERED_SUFFIX

    @property
    def summary(self) -> str:
        """The run's summary beside its stats file: <base>_op_summary.json, or the folder's op_summary.json, where
        djlite versions that named it so wrote it."""
        named = f"{self.base}_{SUMMARY_NAME}"
        folder = os.path.dirname(os.path.abspath(self.stats))
        return named if os.path.exists(named) else os.path.join(folder, SUMMARY_NAME)
