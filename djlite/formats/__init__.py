"""The export formats, one module a format, each registering itself with `@register_writer` (djlite/formats/writer.py):
`tables` (jsonl, json, parquet), and the training layouts `mediasequence_layout`, `video2tfrecord`, `webdataset`
and `yt8m`, built on `tfrecord` (framing, CRC, compression, shards), `example` (protobuf by hand) and
`mediasequence` (MediaPipe's record). None imports TensorFlow.
"""
