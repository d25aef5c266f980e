"""Export layouts for training: `export_type` (or the export path's extension) picks one from `LAYOUTS`.

    mediasequence (.tfrecord)   one SequenceExample per video of a kept sample, MediaPipe's keys, shards
                                <base>-00000-of-0000N.tfrecord
    video2tfrecord              one Example per video (blob/<i>, height, width, depth), files
                                batch_<k>_of_<N>.tfrecords in the export folder
    webdataset (.tar)           tar shards <base>-000000.tar of <key>.json (the sample with its stats) plus
                                <key>.<i>.jpg frames, or <key>.<ext> (the clip itself) with payload: clip

Every record's key (`example/id`, `id`, the WebDataset member prefix) comes from djlite.formats.keys: safe and
unique within the export (and short enough for a tar member name), whatever ids the samples have.

Options come from the recipe's `export_extra_args` (Data-Juicer's key for exporter arguments), checked against
each layout's table before any data is read. Frames come from the recipe's own decode (djlite.formats.spool);
the writers stream them from the spool into files under temporary names and rename the whole set when the
export is complete.
"""

import os
import shutil
import tarfile
import uuid

from djlite.errors import RecipeError
from djlite.files import commit_file, exclusive_temp
from djlite.formats.example import (
    Blob,
    SpooledBytes,
    bytes_feature,
    encode_example_chunks,
    encode_sequence_example_chunks,
    int64_feature,
)
from djlite.formats.keys import RecordKeys, sample_id, wanted_id
from djlite.formats.labels import LabelIndex, annotation
from djlite.formats.layout import FRAME_OPTIONS, LABEL_OPTIONS, Layout, label_pairs
from djlite.formats.mediasequence import (
    PREFIX_PATTERN,
    FloatFeatures,
    RecordError,
    Region,
    Segment,
    build_media_sequence,
)
from djlite.formats.spool import EXPORT_FRAMES, ExportFrames
from djlite.formats.tfrecord import ShardedTFRecordWriter, TFRecordFileWriter
from djlite.formats.yt8m import Yt8mLayout


def _seconds_to_us(value, what: str) -> int:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RecordError(f"{what} must be a number of seconds, got {value!r}")
    return round(value * 1e6)


class MediaSequenceLayout(Layout):
    name = "mediasequence"
    suffix = ".tfrecord"
    defaults = {
        **FRAME_OPTIONS,
        **LABEL_OPTIONS,
        "clip_start": None,  # seconds; a sample's own clip_start / clip_end fields win
        "clip_end": None,
        "flow": False,  # FORWARD_FLOW/image/encoded: Farneback flow images between consecutive frames
        "compression": None,  # GZIP or ZLIB
        "shard_records": 0,  # cut a shard after this many records (0: no limit)
        "shard_bytes": 256 << 20,  # or before it passes this many bytes (0: no limit)
        "dataset_name": None,
        # {key, prefix} (or a list of them): the frame-embedding sidecars a row names under `key` (default
        # video_frame_embeddings) become PREFIX/feature/floats with PREFIX/feature/timestamp
        "float_features": None,
    }

    def __init__(self, options, where="export_extra_args"):
        super().__init__(options, where)
        self.float_specs = _float_feature_specs(self.options["float_features"], where)

    def flow_mode(self):
        return "image" if self.options["flow"] else None

    def float_features(self, sample: dict, k: int, start, end) -> list[FloatFeatures]:
        """Each spec's vectors for video k of the sample, from its sidecar, inside the clip window [start, end)."""
        from djlite.embed.store import read_frame_embeddings

        out = []
        for key, prefix in self.float_specs:
            refs = sample.get(key)
            ref = refs[k] if isinstance(refs, (list, tuple)) and k < len(refs) else None
            if not ref:
                raise RecordError(
                    f"float_features: the sample has no {key!r} for video {k}; run video_frame_embedding_mapper "
                    f"(frame_embedding_key: {key}) before the export"
                )
            try:
                table = read_frame_embeddings(ref)
            except (OSError, ValueError) as e:
                raise RecordError(f"float_features {prefix}: {e}") from None
            times = [round(float(t) * 1e6) for t in table.times]
            low = _seconds_to_us(start, "clip_start") if start is not None else None
            high = _seconds_to_us(end, "clip_end") if end is not None else None
            keep = [i for i, t in enumerate(times) if (low is None or t >= low) and (high is None or t < high)]
            out.append(FloatFeatures(prefix, [times[i] for i in keep], table.vectors[keep]))
        return out

    def record(self, sample: dict, spool: dict, k: int, example_id: str, index: LabelIndex | None):
        """The record of the sample's video k (its spool), called `example_id`."""
        images = SpooledBytes(spool["spool"], spool["offsets"], spool["lengths"])
        flows = SpooledBytes(spool["spool"], spool["flow_offsets"], spool["flow_lengths"])
        start, end = sample.get("clip_start", self.options["clip_start"]), sample.get("clip_end")
        end = end if end is not None else self.options["clip_end"]
        segments = []
        for s in annotation(sample, "segments") or []:
            if not isinstance(s, dict):
                raise RecordError(f"a segment must be {{start, end, label}}, got {s!r}")
            label = s.get("label")
            string, idx = label_pairs([label], index)[0] if label is not None else (None, None)
            segments.append(Segment(_seconds_to_us(s.get("start"), "segment start"),
                                    _seconds_to_us(s.get("end"), "segment end"), string, idx))  # fmt: skip
        regions = []
        for r in annotation(sample, "regions") or []:
            if not isinstance(r, dict):
                raise RecordError(f"a region must be {{time, bbox, label}}, got {r!r}")
            label = r.get("label")
            string, idx = label_pairs([label], index)[0] if label is not None else (None, None)
            bbox = r.get("bbox")
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                raise RecordError(f"a region's bbox must be [ymin, xmin, ymax, xmax], got {bbox!r}")
            time = r.get("time", r.get("timestamp"))
            regions.append(Region(_seconds_to_us(time, "region time"), tuple(bbox), string, idx))
        return build_media_sequence(
            example_id=example_id,
            data_path=spool["path"],
            timestamps_us=spool["timestamps"],
            images=images,
            clip_start_us=_seconds_to_us(start, "clip_start") if start is not None else 0,
            clip_end_us=_seconds_to_us(end, "clip_end") if end is not None else spool["duration_us"],
            clip_labels=label_pairs(self.clip_labels(sample, spool["path"]), index),
            segments=segments,
            regions=regions,
            flow_timestamps_us=spool["flow_timestamps"] if self.options["flow"] else None,
            flow_images=flows if self.options["flow"] else None,
            dataset_name=self.options["dataset_name"],
            float_features=self.float_features(sample, k, start, end) if self.float_specs else (),
        )

    def validate(self, sample, spools):
        super().validate(sample, spools)
        for k, spool in enumerate(spools):
            self.record(sample, spool, k, wanted_id(sample, spool["path"], k, len(spools)), self.given_map)

    def write(self, rows, export_path):
        index = self.label_index(rows())
        base = os.path.splitext(export_path)[0]
        o = self.options
        writer = ShardedTFRecordWriter(base, o["compression"], o["shard_records"], o["shard_bytes"], self.suffix)
        keys = RecordKeys(self.name)
        with writer:
            for row in rows():
                spools = row.get(EXPORT_FRAMES) or []
                for k, spool in enumerate(spools):
                    example_id = keys.key(wanted_id(row, spool["path"], k, len(spools)))
                    record = self.record(row, spool, k, example_id, index)
                    writer.write_chunks(*encode_sequence_example_chunks(record.context, record.feature_lists))
        keys.report()
        if index.mapping and self.given_map is None:
            index.write(base + "_label_map.json")  # beside the shards, like the stats file: not a result file
        return list(writer.paths)


def _float_feature_specs(value, where: str) -> list[tuple[str, str]]:
    """float_features as [(row key, prefix)], checked before any data is read."""
    if value is None:
        return []
    specs = value if isinstance(value, list) else [value]
    out = []
    for spec in specs:
        if not isinstance(spec, dict) or set(spec) - {"key", "prefix"}:
            raise RecipeError(f"{where}: float_features must be {{key, prefix}} or a list of them, got {spec!r}")
        key, prefix = spec.get("key", "video_frame_embeddings"), spec.get("prefix")
        if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix):
            raise RecipeError(
                f"{where}: float_features prefix must be upper-case letters, digits and underscores (MediaPipe's "
                f"stream-tag rule), e.g. EMBEDDING; got {prefix!r}"
            )
        if not isinstance(key, str) or not key:
            raise RecipeError(f"{where}: float_features key must be a column name, got {key!r}")
        out.append((key, prefix))
    prefixes = [p for _, p in out]
    if len(set(prefixes)) != len(prefixes):
        raise RecipeError(f"{where}: float_features prefixes must differ, got {prefixes}")
    return out


class Video2TFRecordLayout(Layout):
    name = "video2tfrecord"
    suffix = ".tfrecords"
    defaults = {
        **FRAME_OPTIONS,
        **LABEL_OPTIONS,
        "num_frames": 5,  # video2tfrecord's CLI default; "all" for every frame
        "n_videos_in_record": 10,
        "payload": "jpeg",  # or "raw": H*W*depth uint8 bytes, as video2tfrecord's PyPI release writes
        "flow": False,  # a 4th channel of Farneback flow magnitude (needs payload: raw)
        "key_prefix": "blob/",  # "blobs/" for code that followed video2tfrecord's README
        "compression": None,
    }

    def __init__(self, options, where="export_extra_args"):
        super().__init__(options, where)
        o = self.options
        if o["payload"] not in ("jpeg", "raw"):
            raise RecipeError(f"{where}: payload must be jpeg or raw, got {o['payload']!r}")
        if o["flow"] and o["payload"] != "raw":
            raise RecipeError(f"{where}: flow adds a 4th channel, which JPEG cannot hold; set payload: raw")
        if not (isinstance(o["n_videos_in_record"], int) and o["n_videos_in_record"] >= 1):
            raise RecipeError(f"{where}: n_videos_in_record must be a positive integer")

    def flow_mode(self):
        return "channel" if self.options["flow"] else None

    def example(self, sample, spool, example_id: str, index):
        o = self.options
        features = {
            f"{o['key_prefix']}{i}": Blob(spool["spool"], off, n)
            for i, (off, n) in enumerate(zip(spool["offsets"], spool["lengths"]))
        }
        features = {key: bytes_feature([blob]) for key, blob in features.items()}
        features.update(
            height=int64_feature(spool["height"]),
            width=int64_feature(spool["width"]),
            depth=int64_feature(spool["channels"]),
            # Beyond video2tfrecord's layout (its readers ignore them): what the frames are.
            id=bytes_feature(example_id),
            path=bytes_feature(spool["path"]),
            timestamp=int64_feature(spool["timestamps"]),
        )
        pairs = label_pairs(self.clip_labels(sample, spool["path"]), index)
        if pairs and all(s is not None for s, _ in pairs):
            features["label/string"] = bytes_feature([s for s, _ in pairs])
        if pairs and all(i is not None for _, i in pairs):
            features["label/index"] = int64_feature([i for _, i in pairs])
        return features

    def write(self, rows, export_path):
        index = self.label_index(rows())
        folder = os.path.dirname(export_path)
        total = sum(len(row.get(EXPORT_FRAMES) or []) for row in rows())
        per_file = self.options["n_videos_in_record"]
        files = max(1, -(-total // per_file))
        writers: list[TFRecordFileWriter] = []
        keys = RecordKeys(self.name)
        try:
            done = 0
            for row in rows():
                spools = row.get(EXPORT_FRAMES) or []
                for k, spool in enumerate(spools):
                    if done % per_file == 0:
                        name = f"batch_{done // per_file + 1}_of_{files}{self.suffix}"
                        if writers:
                            writers[-1].close(commit=False)
                        writers.append(TFRecordFileWriter(os.path.join(folder, name), self.options["compression"]))
                    example_id = keys.key(wanted_id(row, spool["path"], k, len(spools)))
                    writers[-1].write_chunks(*encode_example_chunks(self.example(row, spool, example_id, index)))
                    done += 1
            if not writers:
                writers.append(TFRecordFileWriter(os.path.join(folder, f"batch_1_of_1{self.suffix}")))
            for w in writers:
                w.close(commit=False)
            for w in writers:
                commit_file(w.tmp_path, w.path)
            keys.report()
        except BaseException:
            for w in writers:
                w.abort()
            raise
        if index.mapping and self.given_map is None:
            index.write(os.path.splitext(export_path)[0] + "_label_map.json")
        return [w.path for w in writers]


# In each WebDataset sample's .json: the key its members are stored under (WebDataset's own `__key__`), beside the
# sample's original `id` (djlite/formats/keys.py says how one becomes the other).
SAMPLE_KEY = "__key__"


class WebDatasetLayout(Layout):
    name = "webdataset"
    suffix = ".tar"
    defaults = {
        **FRAME_OPTIONS,
        **LABEL_OPTIONS,
        "payload": "frames",  # or "clip": the video file itself as <key>.<ext>, no frames decoded
        "shard_records": 1000,  # samples per tar shard
        "clip_start": None,
        "clip_end": None,
    }

    def __init__(self, options, where="export_extra_args"):
        super().__init__(options, where)
        if self.options["payload"] not in ("frames", "clip"):
            raise RecipeError(f"{where}: payload must be frames or clip, got {self.options['payload']!r}")
        self.needs_frames = self.options["payload"] == "frames"

    def write(self, rows, export_path):
        from djlite.exporter import _dumps

        base = os.path.splitext(export_path)[0]
        per_shard = self.options["shard_records"] or 1 << 62
        keys = RecordKeys(self.name, member_names=True)
        temps: list[tuple[str, str]] = []
        tar = None
        try:
            for n, row in enumerate(rows()):
                if n % per_shard == 0:
                    if tar is not None:
                        tar.close()
                    tar = self._open_shard(base, temps)
                key = keys.key(sample_id(row) or f"{n:09d}")
                spools = row.pop(EXPORT_FRAMES, None) or []
                meta = dict(row)
                if spools:
                    meta["frames"] = [{"video": s["path"], "timestamps_us": s["timestamps"]} for s in spools]
                meta[SAMPLE_KEY] = key
                _add(tar, f"{key}.json", _dumps(meta).encode("utf-8"))
                if self.options["payload"] == "clip":
                    for k, path in enumerate(row.get("videos") or []):
                        ext = os.path.splitext(path)[1].lstrip(".").lower() or "bin"
                        _add_file(tar, f"{key}.{ext}" if k == 0 else f"{key}.{k}.{ext}", path)
                else:
                    i = 0
                    for spool in spools:
                        for off, length in zip(spool["offsets"], spool["lengths"]):
                            _add(tar, f"{key}.{i:04d}.jpg", Blob(spool["spool"], off, length).read())
                            i += 1
            if tar is None:
                tar = self._open_shard(base, temps)
            tar.close()
            for tmp, final in temps:
                commit_file(tmp, final)
        except BaseException:
            if tar is not None:
                tar.close()
            for tmp, _ in temps:
                if os.path.exists(tmp):
                    os.remove(tmp)
            raise
        keys.report()
        return [final for _, final in temps]

    def _open_shard(self, base: str, temps: list[tuple[str, str]]) -> tarfile.TarFile:
        tmp = exclusive_temp(base + self.suffix)
        temps.append((tmp, f"{base}-{len(temps):06d}{self.suffix}"))
        # The pax format writes a plain USTAR header for a name that fits one (every bounded key with the usual
        # suffixes) and a pax header only for a longer or non-ASCII name, so no member name aborts the export.
        return tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # the same samples give the same bytes
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: str) -> None:
    info = tar.gettarinfo(path, arcname=name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    with open(path, "rb") as f:
        tar.addfile(info, f)


LAYOUTS = {
    "mediasequence": MediaSequenceLayout,
    "tfrecord": MediaSequenceLayout,
    "video2tfrecord": Video2TFRecordLayout,
    "webdataset": WebDatasetLayout,
    "yt8m": Yt8mLayout,  # records of frame embeddings (djlite/formats/yt8m.py)
}
SUFFIX_LAYOUTS = {".tfrecord": "mediasequence", ".tfrecords": "video2tfrecord", ".tar": "webdataset"}


TABLE_FORMATS = ("jsonl", "json", "parquet")


def format_of_suffix(suffix: str) -> str | None:
    """The format an export path's extension names (jsonl, json, parquet or a layout), or None."""
    return suffix[1:] if suffix[1:] in TABLE_FORMATS else SUFFIX_LAYOUTS.get(suffix)


def suffix_of_format(export_type: str) -> str | None:
    """The extension the files of an export_type take (.tfrecord for mediasequence and yt8m), or None."""
    if export_type in TABLE_FORMATS:
        return f".{export_type}"
    layout = LAYOUTS.get(export_type)
    return layout.suffix if layout else None


def layout_name(export_path: str, export_type: str | None) -> str | None:
    """The training layout an export names, or None for a table format (jsonl, json, parquet)."""
    if export_type:
        return "mediasequence" if export_type == "tfrecord" else export_type if export_type in LAYOUTS else None
    return SUFFIX_LAYOUTS.get(os.path.splitext(export_path)[1])


def make_layout(recipe, base_dir: str | None = None) -> Layout | None:
    """The recipe's training layout (options checked), or None for a table format.

    Relative labels_csv / label_map paths are taken from the recipe's folder when not found from the working
    directory; the resolved paths are written back into the recipe's export_extra_args.
    """
    name = layout_name(recipe.export_path, recipe.export_type)
    if name is None:
        return None
    options = dict(getattr(recipe, "export_extra_args", None) or {})
    for key in ("labels_csv", "label_map"):
        value = options.get(key)
        if value and base_dir and not os.path.isabs(value) and not os.path.exists(value):
            if os.path.exists(os.path.join(base_dir, value)):
                options[key] = os.path.abspath(os.path.join(base_dir, value))
    layout_class = LAYOUTS[name]
    shard_size = getattr(recipe, "export_shard_size", 0)
    if shard_size and "shard_bytes" in layout_class.defaults and "shard_bytes" not in options:
        options["shard_bytes"] = shard_size  # Data-Juicer's key, where the layout cuts shards by bytes
    if base_dir is not None:
        recipe.export_extra_args = options
    return layout_class(options, where=f"{recipe.source}: export_extra_args")


def spool_dir_for(export_path: str) -> str:
    # Unique per run: a stage loaded from the datasets cache must never point into a spool already removed.
    return os.path.join(os.path.dirname(export_path), f".{os.path.basename(export_path)}.spool-{uuid.uuid4().hex}")


def _reads_frames(op) -> bool:
    # The op contract's `reads_frames` where it exists; before it, having a frame_consumer at all.
    return bool(op.reads_frames) if hasattr(type(op), "reads_frames") else hasattr(op, "frame_consumer")


def with_export_frames(ops: list, layout: Layout | None, export_path: str) -> tuple[list, str | None]:
    """The ops with the export's frame spooler placed right after the last op that reads frames (so it joins
    that op's stage and shares its decode); else after the last per-sample op. (ops, spool folder)."""
    if layout is None or not layout.needs_frames:
        return ops, None
    from djlite.ops.base import Deduplicator

    spool_dir = spool_dir_for(export_path)
    op = ExportFrames(layout=layout, spool_dir=spool_dir)
    readers = [i for i, o in enumerate(ops) if _reads_frames(o) and not isinstance(o, Deduplicator)]
    if readers:
        at = readers[-1] + 1
    else:
        per_sample = [i for i, o in enumerate(ops) if not isinstance(o, Deduplicator)]
        at = per_sample[-1] + 1 if per_sample else 0
    return ops[:at] + [op] + ops[at:], spool_dir


def export_layout(dataset, layout: Layout, export_path: str, spool_dir: str | None) -> list[str]:
    """Write the kept samples in `layout`; the spool folder is removed whatever happens."""
    from djlite.exporter import iter_rows

    try:
        layout.setup()
        return layout.write(lambda: iter_rows(dataset), export_path)
    finally:
        if spool_dir:
            shutil.rmtree(spool_dir, ignore_errors=True)


def export_layout_result(dataset, layout: Layout, recipe, spool_dir: str | None) -> list[str]:
    """The layout's files, plus the stats file every export writes (`<base>_stats.jsonl`). The layout sees the
    samples as a result shows them (with their stats; the hash columns only with keep_hashes_in_res_ds)."""
    from djlite.exporter import shown, write_stats

    write_stats(dataset, recipe.export_path)
    rows = shown(dataset, keep_stats=True, keep_hashes=recipe.keep_hashes_in_res_ds)
    return export_layout(rows, layout, recipe.export_path, spool_dir)
