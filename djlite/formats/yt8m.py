"""YouTube-8M records: `export_type: yt8m` writes them from frame embeddings; `read_yt8m` brings shards back in.

Export (one record per video of a kept sample, from the sidecars of `video_frame_embedding_mapper`, PCA'd with
the files `video_embedding_pca` saved):

    <base>_frame-00000-of-0000N.tfrecord   SequenceExample: context id (bytes), labels (int64, sorted);
                                           feature list rgb: per frame one 1024-byte string (quantized PCA
                                           features, `rounding` truncate by default)
    <base>_video-00000-of-0000N.tfrecord   Example: id, labels, mean_rgb (float[1024], the mean of the
                                           *unquantized* PCA features, as YouTube-8M computes it)

`level`: both (default), frame or video. Audio: djlite has no audio embedding, so by default no `audio` /
`mean_audio` key is written at all (YouTube-8M's legacy extractor writes 128 zero bytes per frame, which its own
dequantizer turns into -1.99, not silence). `audio: neutral` is for readers that insist on the keys: per frame
128 bytes of 127 (which dequantize to -3e-5), `mean_audio` 128 zeros and a context flag `has_audio` = 0.
`id_key` names the id feature (`id`; `video_id` for code written for the 2017 release).

Labels: the sample's `labels` field (integers, or strings mapped through `label_map` / assigned and written to
`<base>_label_map.json`), or `labels_csv`: YouTube-8M's extractor CSV, no header, lines `<video path>,<l1;l2;..>`
(a CSV with a header row is read as the other layouts read it).

Options (recipe `export_extra_args`): pca_dir (default: the `pca` folder beside the export), n_components
(default: all the PCA files hold), apply_pca (default true; false takes the frame vectors as PCA features
already, e.g. rows brought in by `read_yt8m`, so an import re-exports to the same bytes), level, rounding,
audio, id_key, frame_embedding_key, labels_csv, label_map, compression (GZIP/ZLIB), shard_records, shard_bytes.

Ids: the sample's `id` field, else the video's file stem (`_<k>` appended for the k-th video of a multi-video
sample), made unique within the export by djlite.formats.keys (a repeated id gets `~2`, `~3`, ... and one warning
line), so no two records share an id.

Import: `python -m djlite.formats.yt8m SHARD... --out data.jsonl` writes a jsonl dataset (id, labels, sidecar
paths of the dequantized frames, pooled vector) that recipes can filter, select and re-export. A record it cannot
read stops it with one line naming the file, the record and its byte offset (exit status 1); `--lenient` skips
such records and says how many.
"""

import csv
import os
from dataclasses import dataclass, field

import numpy as np
from loguru import logger

from djlite.embed.pca import Pca
from djlite.embed.quantize import dequantize, quantize
from djlite.embed.store import read_frame_embeddings, write_frame_embeddings
from djlite.errors import RecipeError, SampleError
from djlite.formats.example import (
    DecodeError,
    bytes_feature,
    decode_example,
    decode_sequence_example,
    encode_example,
    encode_sequence_example,
    float_feature,
    int64_feature,
)
from djlite.formats.keys import RecordKeys, wanted_id
from djlite.formats.labels import KEY_COLUMNS, LabelIndex, sample_label_strings
from djlite.formats.layout import LABEL_OPTIONS, Layout, label_pairs
from djlite.formats.tfrecord import CorruptRecordError, ShardedTFRecordWriter, TFRecordReader
from djlite.formats.writer import register_writer
from djlite.run_paths import embeddings_dir, pca_dir

AUDIO_DIM = 128
NEUTRAL_AUDIO_BYTE = 127  # dequantizes to -3.1e-5: as close to silence as a byte gets


class Yt8mCsvLabels:
    """YouTube-8M's extractor CSV: no header, `<video path>,<label;label;...>`, integer labels."""

    def __init__(self, path: str):
        self.labels: dict[str, list] = {}
        with open(path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if not row or not row[0].strip():
                    continue
                cells = [v.strip() for v in (row[1] if len(row) > 1 else "").split(";") if v.strip()]
                try:
                    values = sorted(int(v) for v in cells)
                except ValueError:
                    raise RecipeError(
                        f"labels_csv {path!r} line {line}: YouTube-8M labels are integers, got {row[1]!r}"
                    ) from None
                self.labels.setdefault(row[0].strip(), []).extend(values)

    def lookup(self, video_path: str, sample_id: str | None) -> list | None:
        name = os.path.basename(video_path)
        for key in (video_path, os.path.abspath(video_path), name, os.path.splitext(name)[0], sample_id):
            if key and key in self.labels:
                return self.labels[key]
        return None


def _has_header(path: str) -> bool:
    with open(path, newline="", encoding="utf-8") as f:
        first = next(csv.reader(f), [])
    return bool(first) and first[0].strip() in KEY_COLUMNS


@register_writer("yt8m")
class Yt8mLayout(Layout):
    suffix = ".tfrecord"
    shards = "tagged_records"
    claims_suffix = False  # a .tfrecord export path is mediasequence; yt8m is asked for by export_type
    needs_frames = False  # the records are made of embeddings, read from their sidecars
    defaults = {
        **LABEL_OPTIONS,
        "pca_dir": None,
        "n_components": None,
        "apply_pca": True,
        "level": "both",
        "rounding": "truncate",
        "audio": "omit",
        "id_key": "id",
        "frame_embedding_key": "video_frame_embeddings",
        "compression": None,
        "shard_records": 0,
        "shard_bytes": 256 << 20,
    }

    def __init__(self, options, where="export_extra_args"):
        super().__init__(options, where)
        o = self.options
        choices = {"level": ("both", "frame", "video"), "rounding": ("truncate", "round"), "audio": ("omit", "neutral")}
        for key, allowed in choices.items():
            if o[key] not in allowed:
                raise RecipeError(f"{where}: {key} must be one of {', '.join(allowed)}, got {o[key]!r}")
        if o["id_key"] not in ("id", "video_id"):
            raise RecipeError(f"{where}: id_key must be id or video_id, got {o['id_key']!r}")
        if not isinstance(o["apply_pca"], bool):
            raise RecipeError(f"{where}: apply_pca must be true or false, got {o['apply_pca']!r}")
        if o["pca_dir"] is not None and o["apply_pca"]:
            try:
                Pca.load(o["pca_dir"], o["n_components"])
            except (OSError, ValueError) as e:
                raise RecipeError(f"{where}: {e}") from None

    def setup(self) -> None:
        o = self.options
        if o.get("labels_csv") and self.csv is None and not _has_header(o["labels_csv"]):
            self.csv = Yt8mCsvLabels(o["labels_csv"])
        super().setup()

    def clip_labels(self, sample, path):
        return sorted(super().clip_labels(sample, path), key=lambda v: (isinstance(v, str), v))

    def _pca(self, export_path: str) -> Pca:
        folder = self.options["pca_dir"] or pca_dir(self.paths(export_path).folder)
        try:
            return Pca.load(folder, self.options["n_components"])
        except FileNotFoundError as e:
            raise RecipeError(
                f"export_type yt8m needs PCA files: {e}. Add video_embedding_pca to the recipe (after "
                f"video_frame_embedding_mapper), or set export_extra_args.pca_dir"
            ) from None

    def records(self, row: dict, pca: Pca | None, index, keys: RecordKeys) -> list[tuple[dict, dict, dict]]:
        """[(context, feature_lists, video-level features)] for each video of the row that has embeddings; the
        frame- and video-level records of a video share the id `keys` gives it."""
        o = self.options
        refs = row.get(o["frame_embedding_key"]) or []
        videos = row.get("videos") or [None] * len(refs)
        out = []
        for k, (ref, path) in enumerate(zip(refs, videos)):
            if not ref:
                continue
            vectors = read_frame_embeddings(ref).vectors
            features = pca.transform(vectors) if pca is not None else vectors
            labels = [i for _, i in label_pairs(self.clip_labels(row, path or ref), index)]
            if any(i is None for i in labels):
                raise ValueError(f"{row.get('id') or path}: a label has no integer index; give a label_map")
            video_id = bytes_feature(keys.key(wanted_id(row, path or ref, k, len(refs))))
            context = {o["id_key"]: video_id, "labels": int64_feature(sorted(labels))}
            frames = quantize(features, rounding=o["rounding"])
            lists = {"rgb": [bytes_feature([f.tobytes()]) for f in frames]}
            video = dict(context, mean_rgb=float_feature(features.mean(axis=0, dtype=np.float64).astype(np.float32)))
            if o["audio"] == "neutral":
                lists["audio"] = [bytes_feature([bytes([NEUTRAL_AUDIO_BYTE]) * AUDIO_DIM])] * len(frames)
                context["has_audio"] = int64_feature(0)
                video["has_audio"] = int64_feature(0)
                video["mean_audio"] = float_feature([0.0] * AUDIO_DIM)
            out.append((context, lists, video))
        return out

    def write(self, rows, export_path):
        o = self.options
        pca = self._pca(export_path) if o["apply_pca"] else None
        index = self.label_index(rows())
        paths = self.paths(export_path)
        levels = ("frame", "video") if o["level"] == "both" else (o["level"],)
        writers = {
            level: ShardedTFRecordWriter(
                paths.tagged_base(level), o["compression"], o["shard_records"], o["shard_bytes"], self.suffix
            )
            for level in levels
        }
        without = 0
        keys = RecordKeys(self.name)
        try:
            for row in rows():
                records = self.records(row, pca, index, keys)
                without += not records
                for context, lists, video in records:
                    if "frame" in writers:
                        writers["frame"].write(encode_sequence_example(context, lists))
                    if "video" in writers:
                        writers["video"].write(encode_example(video))
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        written = [p for writer in writers.values() for p in writer.close()]
        keys.report()
        if without:
            logger.warning(f"yt8m export: {without} kept sample(s) have no frame embeddings (no video) and no record")
        if index is not None and index.mapping and self.given_map is None:
            index.write(paths.label_map)  # beside the shards, like the stats file: not a result file
        return written

    def label_index(self, rows) -> LabelIndex | None:
        """The given label_map; else, when a record has a label string, one assigned to the strings (None: every
        label is an integer and passes through). In one pass, over the labels `records` asks for (by embedding
        sidecar when a row has no `videos`, as rows brought in by read_yt8m have)."""
        if self.given_map is not None:
            return self.given_map
        found, of_records = set(), set()
        for row in rows:
            found |= sample_label_strings(row)
            of_records |= {v for v in self._row_labels(row) if isinstance(v, str)}
        return LabelIndex.assign(found | of_records) if of_records else None

    def _row_labels(self, row) -> list:
        refs = row.get(self.options["frame_embedding_key"]) or []
        videos = row.get("videos") or [None] * len(refs)
        return [v for ref, path in zip(refs, videos) if ref for v in self.clip_labels(row, path or ref)]


class Yt8mImportError(SampleError, ValueError):
    """A record the importer cannot use: one line naming the file, the record's number and its byte offset."""


@dataclass
class Yt8mImport:
    """What `import_yt8m` brought in: the rows, and in lenient mode the records it skipped."""

    rows: list[dict] = field(default_factory=list)
    skipped: int = 0
    problems: list[str] = field(default_factory=list)  # the first few skipped records, one line each

    def skip(self, message: str) -> None:
        self.skipped += 1
        if len(self.problems) < 20:
            self.problems.append(message)


def import_yt8m(paths: list[str], embedding_dir: str, id_key: str | None = None, strict: bool = True) -> Yt8mImport:
    """Rows from YouTube-8M shards, frame-level or video-level (told apart per record), for a djlite dataset.

    Each row: `id`, `labels` (int list), `video_embedding` ([mean vector]: `mean_rgb`, or the mean of the
    dequantized frames) and, for frame-level records, `video_frame_embeddings` ([sidecar path]) holding the
    dequantized `rgb` frames (times 0, 1, 2 ... seconds: YouTube-8M's one frame per second), readable with
    djlite.embed.store.read_frame_embeddings. Audio, when present, is dequantized into `audio_embedding`.

    A record that cannot be read (a bad CRC, a cut file, bytes that are no protobuf, a feature of the wrong type
    or shape) raises, strict, a one-line `CorruptRecordError` / `Yt8mImportError` naming the file, the record and
    its byte offset; lenient (strict=False), it is skipped and counted in `skipped`.
    """
    found = Yt8mImport()
    for shard, path in enumerate(paths):
        reader = TFRecordReader(path, strict=strict)
        for n, offset, record in reader.positioned():
            try:
                # Shard position and record number in the sidecar's name: two shards of one name never share one.
                sidecar_tag = f"{shard}-{os.path.basename(path)}-{n}"
                found.rows.append(_row_of_record(record, id_key, embedding_dir, sidecar_tag))
            except (DecodeError, _BadRecord) as e:
                what = f"not a tf.train.SequenceExample ({e})" if isinstance(e, DecodeError) else str(e)
                message = f"{path}: record {n} at byte {offset}: {what}"
                if strict:
                    raise Yt8mImportError(message) from None
                found.skip(message)
        found.skipped += reader.bad_records
        found.problems.extend(reader.problems[: max(0, 20 - len(found.problems))])
    return found


def read_yt8m(paths: list[str], embedding_dir: str, id_key: str | None = None, strict: bool = True) -> list[dict]:
    """The rows of `import_yt8m`; lenient, the count of skipped records is logged (one line)."""
    found = import_yt8m(paths, embedding_dir, id_key, strict)
    if found.skipped:
        logger.warning(f"yt8m import: {found.skipped} bad record(s) skipped; the first: {found.problems[0]}")
    return found.rows


class _BadRecord(SampleError, ValueError):
    """A well-formed protobuf that is not a YouTube-8M record (a missing key, a feature of the wrong type)."""


def _one_text(feature, key: str) -> str:
    if feature.kind != "bytes" or len(feature.values) != 1:
        got = f"{len(feature.values)} {feature.kind} value(s)" if feature.kind else "an empty feature"
        raise _BadRecord(f"{key!r} must be one bytes value, got {got}")
    try:
        return feature.values[0].decode("utf-8")
    except UnicodeDecodeError as e:
        raise _BadRecord(f"{key!r} is not UTF-8 ({e.reason} at byte {e.start})") from None


def _ints(feature, key: str) -> list[int]:
    if feature is None or feature.kind is None:
        return []
    if feature.kind != "int64":
        raise _BadRecord(f"{key!r} must be int64 values, got {feature.kind}")
    return [int(v) for v in feature.values]


def _floats(feature, key: str) -> list[float]:
    if feature.kind != "float" or not feature.values:
        raise _BadRecord(f"{key!r} must be float values, got {feature.kind or 'an empty feature'}")
    return list(feature.values)


def _frames(steps: list, key: str) -> np.ndarray:
    """The dequantized frames of a bytes feature list: one value a frame, all of one length."""
    if not steps:
        raise _BadRecord(f"the {key!r} feature list has no frame")
    sizes = set()
    for i, step in enumerate(steps):
        if step.kind != "bytes" or len(step.values) != 1:
            raise _BadRecord(f"{key!r} frame {i} must be one bytes value, got {step.kind or 'an empty feature'}")
        sizes.add(len(step.values[0]))
    if len(sizes) != 1 or 0 in sizes:
        raise _BadRecord(f"{key!r} frames must all have one non-zero length, got lengths {sorted(sizes)[:5]}")
    return np.stack([dequantize(step.values[0]) for step in steps])


def _row_of_record(record: bytes, id_key: str | None, embedding_dir: str, sidecar_tag: str) -> dict:
    context, lists = decode_sequence_example(record)
    key = id_key or ("id" if "id" in context else "video_id")
    if key not in context:
        raise _BadRecord(f"no {key!r} feature; set id_key")
    video_id = _one_text(context[key], key)
    row = {"id": video_id, "labels": _ints(context.get("labels"), "labels")}
    if "rgb" in lists:
        frames = _frames(lists["rgb"], "rgb")
        audio = _frames(lists["audio"], "audio") if "audio" in lists else None
        ref = os.path.join(embedding_dir, f"{_safe(video_id)}-{sidecar_tag}.npy")
        write_frame_embeddings(ref, frames, np.arange(len(frames), dtype=np.float64))
        row["video_frame_embeddings"] = [ref]
        row["video_embedding"] = [frames.mean(axis=0).tolist()]
        if audio is not None:
            row["audio_embedding"] = [audio.mean(axis=0).tolist()]
    else:
        features = decode_example(record)
        if "mean_rgb" not in features:
            raise _BadRecord("neither an rgb feature list nor mean_rgb")
        row["video_embedding"] = [_floats(features["mean_rgb"], "mean_rgb")]
        if "mean_audio" in features:
            row["audio_embedding"] = [_floats(features["mean_audio"], "mean_audio")]
    return row


def main(argv=None) -> int:
    """python -m djlite.formats.yt8m SHARD... --out data.jsonl [--embedding_dir DIR] [--lenient]: YouTube-8M
    shards -> jsonl. A bad record stops the import with one line naming it (exit status 1), or with --lenient is
    skipped and counted."""
    import argparse
    import json
    import sys

    from djlite.files import atomic_path

    parser = argparse.ArgumentParser(description="Bring YouTube-8M TFRecord shards into a djlite jsonl dataset.")
    parser.add_argument("shards", nargs="+")
    parser.add_argument("--out", required=True, help="the jsonl dataset to write")
    parser.add_argument("--embedding_dir", help="where the dequantized frame features go (default: beside --out)")
    parser.add_argument("--id_key", choices=["id", "video_id"], help="default: whichever the records have")
    parser.add_argument("--lenient", action="store_true", help="skip records that cannot be read, and count them")
    args = parser.parse_args(argv)
    folder = args.embedding_dir or embeddings_dir(os.path.dirname(os.path.abspath(args.out)))
    try:
        found = import_yt8m(args.shards, folder, args.id_key, strict=not args.lenient)
    except (CorruptRecordError, Yt8mImportError) as e:
        print(f"yt8m import: error: {e}; --lenient skips such records", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"yt8m import: error: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    with atomic_path(args.out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in found.rows:
            f.write(json.dumps(row) + "\n")
    skipped = f"; {found.skipped} bad record(s) skipped, the first: {found.problems[0]}" if found.skipped else ""
    print(f"{len(found.rows)} records from {len(args.shards)} shard(s) -> {args.out} (features in {folder}){skipped}")
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:80]


if __name__ == "__main__":
    raise SystemExit(main())
