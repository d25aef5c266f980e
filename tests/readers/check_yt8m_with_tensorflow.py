"""Runs inside the reader venv (tools/reader_env.sh), never in djlite's own environment.

Parses djlite's YouTube-8M records with the feature spec of YouTube-8M's starter code (readers.py): frame level
`id` (string) and `labels` (VarLen int64) in the context, `rgb` and `audio` as string feature lists decoded with
decode_raw(uint8); video level `id`, `labels`, `mean_rgb` as a fixed-length float list. Prints what it found as
JSON for tests/test_formats_yt8m.py.

    python check_yt8m_with_tensorflow.py '{"frame": [...files], "video": [...files], "dim": 1024, "audio": false}'
"""

import json
import sys

import tensorflow as tf


def main(request):
    dim = request["dim"]
    out = {"frame": [], "video": []}
    sequence_features = {"rgb": tf.io.FixedLenSequenceFeature([], dtype=tf.string)}
    if request["audio"]:
        sequence_features["audio"] = tf.io.FixedLenSequenceFeature([], dtype=tf.string)
    for serialized in tf.data.TFRecordDataset(request["frame"]):
        context, sequence = tf.io.parse_single_sequence_example(
            serialized,
            context_features={"id": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)},
            sequence_features=sequence_features,
        )
        rgb = tf.reshape(tf.cast(tf.io.decode_raw(sequence["rgb"], tf.uint8), tf.float32), [-1, dim])
        record = {
            "id": context["id"].numpy().decode(),
            "labels": tf.sparse.to_dense(context["labels"]).numpy().tolist(),
            "rgb": rgb.numpy().astype(int).tolist(),
        }
        if request["audio"]:
            audio = tf.reshape(tf.io.decode_raw(sequence["audio"], tf.uint8), [-1, 128])
            record["audio_frames"] = int(audio.shape[0])
        out["frame"].append(record)
    for serialized in tf.data.TFRecordDataset(request["video"]):
        features = tf.io.parse_single_example(
            serialized,
            features={
                "id": tf.io.FixedLenFeature([], tf.string),
                "labels": tf.io.VarLenFeature(tf.int64),
                "mean_rgb": tf.io.FixedLenFeature([dim], tf.float32),
            },
        )
        out["video"].append(
            {
                "id": features["id"].numpy().decode(),
                "labels": tf.sparse.to_dense(features["labels"]).numpy().tolist(),
                "mean_rgb": features["mean_rgb"].numpy().tolist(),
            }
        )
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
