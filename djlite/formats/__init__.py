"""Training-ready export formats: TFRecord framing, Example/SequenceExample, and the layouts built on them.

One module a format: `tfrecord` (framing, CRC, compression, shards), `example` (protobuf by hand),
`mediasequence`, `video2tfrecord` and `webdataset` (record builders and writers). None imports TensorFlow.
"""
