"""export_type video2tfrecord (an export path ending in .tfrecords): one Example per video, video2tfrecord's layout
(blob/<i>, height, width, depth), in files batch_<k>_of_<N>.tfrecords in the export folder.

Options (export_extra_args): the frame and label options of every layout (djlite/formats/layout.py), num_frames
(default 5, or "all"), n_videos_in_record, payload (jpeg or raw), flow (a 4th channel, raw only), key_prefix,
compression.
"""

from djlite.errors import RecipeError
from djlite.formats.example import Blob, bytes_feature, encode_example_chunks, int64_feature
from djlite.formats.keys import RecordKeys, wanted_id
from djlite.formats.layout import FRAME_OPTIONS, LABEL_OPTIONS, Layout, label_pairs
from djlite.formats.spool import EXPORT_FRAMES
from djlite.formats.tfrecord import ShardedTFRecordWriter
from djlite.formats.writer import register_writer


@register_writer("video2tfrecord")
class Video2TFRecordLayout(Layout):
    suffix = ".tfrecords"
    shards = "batch"
    even_spread = True
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
        paths = self.paths(export_path)
        o = self.options
        # n_videos_in_record records a file, named batch_<k>_of_<N> once N is known (k from 1).
        writer = ShardedTFRecordWriter(
            paths.base,
            o["compression"],
            max_records=o["n_videos_in_record"],
            suffix=self.suffix,
            name=lambda i, count: paths.batch_file(i + 1, count),
        )
        keys = RecordKeys(self.name)
        with writer:
            for row in rows():
                spools = row.get(EXPORT_FRAMES) or []
                for k, spool in enumerate(spools):
                    example_id = keys.key(wanted_id(row, spool["path"], k, len(spools)))
                    writer.write_chunks(*encode_example_chunks(self.example(row, spool, example_id, index)))
        keys.report()
        if index.mapping and self.given_map is None:
            index.write(paths.label_map)
        return list(writer.paths)
