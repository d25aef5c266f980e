"""export_type mediasequence (alias tfrecord; an export path ending in .tfrecord): one SequenceExample per video of a
kept sample, MediaPipe's keys (djlite/formats/mediasequence.py builds the record), in shards
<base>-00000-of-0000N.tfrecord cut by records and bytes.

Options (export_extra_args): the frame and label options of every layout (djlite/formats/layout.py), clip_start /
clip_end (a sample's own fields win), flow (Farneback flow images), compression, shard_records, shard_bytes,
dataset_name, float_features ({key, prefix}: frame-embedding sidecars as PREFIX/feature/floats).
"""

from djlite.errors import RecipeError
from djlite.formats.example import SpooledBytes, encode_sequence_example_chunks
from djlite.formats.keys import RecordKeys, wanted_id
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
from djlite.formats.spool import EXPORT_FRAMES
from djlite.formats.tfrecord import ShardedTFRecordWriter
from djlite.formats.writer import register_writer


def _seconds_to_us(value, what: str) -> int:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RecordError(f"{what} must be a number of seconds, got {value!r}")
    return round(value * 1e6)


def _label_pair(annotated: dict, index: LabelIndex | None) -> tuple:
    """(string, index) of a segment's or region's `label`; (None, None) when it has none."""
    label = annotated.get("label")
    return label_pairs([label], index)[0] if label is not None else (None, None)


@register_writer("mediasequence", "tfrecord")
class MediaSequenceLayout(Layout):
    suffix = ".tfrecord"
    shards = "records"
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
        start, end = (
            self.options[key] if sample.get(key) is None else sample[key] for key in ("clip_start", "clip_end")
        )
        segments = []
        for s in annotation(sample, "segments") or []:
            if not isinstance(s, dict):
                raise RecordError(f"a segment must be {{start, end, label}}, got {s!r}")
            string, idx = _label_pair(s, index)
            segments.append(Segment(_seconds_to_us(s.get("start"), "segment start"),
                                    _seconds_to_us(s.get("end"), "segment end"), string, idx))  # fmt: skip
        regions = []
        for r in annotation(sample, "regions") or []:
            if not isinstance(r, dict):
                raise RecordError(f"a region must be {{time, bbox, label}}, got {r!r}")
            string, idx = _label_pair(r, index)
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
        paths = self.paths(export_path)
        o = self.options
        writer = ShardedTFRecordWriter(paths.base, o["compression"], o["shard_records"], o["shard_bytes"], self.suffix)
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
            index.write(paths.label_map)  # beside the shards, like the stats file: not a result file
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
