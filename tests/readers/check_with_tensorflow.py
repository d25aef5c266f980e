"""Runs inside the reader venv (tools/reader_env.sh), never in djlite's own environment.

Reads djlite's TFRecords with TensorFlow's own reader and parsers and with MediaPipe's media_sequence.py
accessors, and its tar shards with WebDataset, and prints what they found as JSON for
tests/test_formats_readers.py to compare with what went in.

    python check_with_tensorflow.py '{"mediasequence": [{"files": [...], "compression": "GZIP"}], ...}'
"""

import hashlib
import json
import sys

import tensorflow as tf
from mediapipe.util.sequence import media_sequence as ms


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_float_features(raw, example, prefix):
    """PREFIX/feature/* through MediaPipe's prefixed accessors, and the floats through TensorFlow's parser."""
    n = ms.get_feature_floats_size(example, prefix=prefix)
    dimensions = list(ms.get_feature_dimensions(example, prefix=prefix))
    _, sequence = tf.io.parse_single_sequence_example(
        raw,
        sequence_features={
            f"{prefix}/feature/floats": tf.io.FixedLenSequenceFeature(dimensions, tf.float32),
            f"{prefix}/feature/timestamp": tf.io.FixedLenSequenceFeature([], tf.int64),
        },
    )
    return {
        "floats": [list(ms.get_feature_floats_at(i, example, prefix=prefix)) for i in range(n)],
        "timestamps": [
            ms.get_feature_timestamp_at(i, example, prefix=prefix)
            for i in range(ms.get_feature_timestamp_size(example, prefix=prefix))
        ],
        "dimensions": dimensions,
        "rate": ms.get_feature_rate(example, prefix=prefix) if ms.has_feature_rate(example, prefix=prefix) else None,
        "tf_floats": sequence[f"{prefix}/feature/floats"].numpy().tolist(),
        "tf_timestamps": sequence[f"{prefix}/feature/timestamp"].numpy().tolist(),
    }


def read_mediasequence(files, compression, float_prefixes=()):
    out = []
    dataset = tf.data.TFRecordDataset(files, compression_type=compression or "")
    for serialized in dataset:
        raw = serialized.numpy()
        context, sequence = tf.io.parse_single_sequence_example(
            raw,
            context_features={
                "example/id": tf.io.FixedLenFeature([], tf.string),
                "clip/label/index": tf.io.VarLenFeature(tf.int64),
                "image/height": tf.io.FixedLenFeature([], tf.int64),
                "image/width": tf.io.FixedLenFeature([], tf.int64),
            },
            sequence_features={
                "image/encoded": tf.io.FixedLenSequenceFeature([], tf.string),
                "image/timestamp": tf.io.FixedLenSequenceFeature([], tf.int64),
            },
        )
        decoded = [tf.io.decode_jpeg(e).shape.as_list() for e in sequence["image/encoded"]]
        example = tf.train.SequenceExample.FromString(raw)
        record = {
            "tf_id": context["example/id"].numpy().decode(),
            "tf_label_index": tf.sparse.to_dense(context["clip/label/index"]).numpy().tolist(),
            "tf_height": int(context["image/height"].numpy()),
            "tf_width": int(context["image/width"].numpy()),
            "tf_timestamps": sequence["image/timestamp"].numpy().tolist(),
            "tf_frames_sha": [sha(e) for e in sequence["image/encoded"].numpy().tolist()],
            "tf_decoded_shapes": decoded,
            "ms_id": ms.get_example_id(example).decode(),
            "ms_data_path": ms.get_clip_data_path(example).decode(),
            "ms_clip_start": ms.get_clip_start_timestamp(example),
            "ms_clip_end": ms.get_clip_end_timestamp(example),
            "ms_timestamps": [
                ms.get_image_timestamp_at(i, example) for i in range(ms.get_image_timestamp_size(example))
            ],
            "ms_frames_sha": [
                sha(ms.get_image_encoded_at(i, example)) for i in range(ms.get_image_encoded_size(example))
            ],
            "ms_format": ms.get_image_format(example).decode(),
            "ms_frame_rate": ms.get_image_frame_rate(example),
            "ms_channels": ms.get_image_channels(example),
        }
        if ms.has_clip_label_string(example):
            record["ms_clip_label_string"] = [s.decode() for s in ms.get_clip_label_string(example)]
            record["ms_clip_label_index"] = list(ms.get_clip_label_index(example))
        if ms.has_segment_start_timestamp(example):
            record["ms_segments"] = {
                "start": list(ms.get_segment_start_timestamp(example)),
                "end": list(ms.get_segment_end_timestamp(example)),
                "start_index": list(ms.get_segment_start_index(example)),
                "end_index": list(ms.get_segment_end_index(example)),
                "label_string": [s.decode() for s in ms.get_segment_label_string(example)],
                "label_index": list(ms.get_segment_label_index(example)),
            }
        if ms.get_bbox_timestamp_size(example):
            n = ms.get_bbox_timestamp_size(example)
            record["ms_boxes"] = {
                "timestamp": [ms.get_bbox_timestamp_at(i, example) for i in range(n)],
                "is_annotated": [ms.get_bbox_is_annotated_at(i, example) for i in range(n)],
                "num_regions": [ms.get_bbox_num_regions_at(i, example) for i in range(n)],
                "bbox": [ms.get_bbox_at(i, example).tolist() for i in range(n)],
                "label_string": [[s.decode() for s in ms.get_bbox_label_string_at(i, example)] for i in range(n)],
            }
        for prefix in float_prefixes:
            record.setdefault("ms_float_features", {})[prefix] = read_float_features(raw, example, prefix)
        out.append(record)
    return out


def read_video2tfrecord(files, n_frames):
    out = []
    for serialized in tf.data.TFRecordDataset(files):
        spec = {f"blob/{i}": tf.io.FixedLenFeature([], tf.string) for i in range(n_frames)}
        spec.update({k: tf.io.FixedLenFeature([], tf.int64) for k in ("height", "width", "depth")})
        parsed = tf.io.parse_single_example(serialized, spec)
        out.append(
            {
                "height": int(parsed["height"]),
                "width": int(parsed["width"]),
                "depth": int(parsed["depth"]),
                "frames_sha": [sha(parsed[f"blob/{i}"].numpy()) for i in range(n_frames)],
                "decoded_shapes": [tf.io.decode_jpeg(parsed[f"blob/{i}"]).shape.as_list() for i in range(n_frames)],
            }
        )
    return out


def read_webdataset(urls):
    import webdataset as wds

    out = []
    for sample in wds.WebDataset(urls, shardshuffle=False):
        jpgs = sorted(k for k in sample if k.endswith(".jpg"))
        out.append(
            {
                "key": sample["__key__"],
                "url": sample["__url__"],
                "suffixes": sorted(k for k in sample if not k.startswith("__")),
                "json": json.loads(sample["json"]),
                "jpgs": jpgs,
                "frames_sha": [sha(sample[k]) for k in jpgs],
                "decoded_shapes": [tf.io.decode_jpeg(sample[k]).shape.as_list() for k in jpgs],
            }
        )
    return out


def main():
    request = json.loads(sys.argv[1])
    answer = {"tensorflow": tf.__version__}
    answer["mediasequence"] = [
        read_mediasequence(r["files"], r.get("compression"), r.get("float_prefixes", ()))
        for r in request.get("mediasequence", [])
    ]
    answer["video2tfrecord"] = [
        read_video2tfrecord(r["files"], r["n_frames"]) for r in request.get("video2tfrecord", [])
    ]
    answer["webdataset"] = [read_webdataset(r["urls"]) for r in request.get("webdataset", [])]
    print("RESULT " + json.dumps(answer))


if __name__ == "__main__":
    main()
