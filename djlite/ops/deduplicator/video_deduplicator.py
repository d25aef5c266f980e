import hashlib

from datasets import Value

from djlite.fields import HashKeys
from djlite.ops.base import Deduplicator
from djlite.registry import register_op
from djlite.video.packets import video_packets_md5


def text_md5(text: str | None) -> str:
    """Data-Juicer's document hash (document_deduplicator with its defaults): md5 of the stripped text."""
    return hashlib.md5((text or "").strip().encode("utf-8")).hexdigest()


@register_op("video_deduplicator")
class VideoDeduplicator(Deduplicator):
    """Drop samples whose videos are byte-for-byte the same bitstream as an earlier sample's; keep the first.

    Hash (`__dj__videohash`): Data-Juicer's, bit for bit: one md5 per sample over the video packets of its
    unique paths in first-appearance order, so `[a, a]` equals `[a]` and `[a, b]` differs from `[b, a]`.
    With `consider_text`, the key is (video hash, md5 of the stripped text in `__dj__hash`).
    A sample without videos is always kept, unless `consider_text`, where such samples are deduplicated by
    their text alone, as Data-Juicer does.

    `process(dataset, show_num)` returns (dataset, duplicate groups) as Data-Juicer's does, tracing up to
    `show_num` groups of rows sharing a hash.

    Where djlite differs: a file that cannot be opened, has no video stream or no video packets is a
    recorded error for this sample; Data-Juicer hashes what it can (an audio-only file gets the md5 of
    nothing, so all of them collide) or drops the sample silently. The packets are not decoded, so a file
    whose frames do not decode still gets a hash: the exact duplicate of a broken file is still a duplicate.
    For near-duplicates (re-encoded, resized, trimmed copies) use `video_near_deduplicator`.
    """

    def __init__(self, consider_text: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.consider_text = consider_text
        self.hash_features = {HashKeys.videohash: Value("string")}
        if consider_text:
            self.hash_features[HashKeys.hash] = Value("string")

    def compute_hash(self, sample, context=None):
        if self.consider_text and sample.get(HashKeys.hash) is None:
            sample[HashKeys.hash] = text_md5(sample.get(self.text_key))
        if sample.get(HashKeys.videohash) is not None:
            return sample
        paths = self.video_paths(sample)
        sample[HashKeys.videohash] = video_packets_md5(paths).hexdigest() if paths else ""
        return sample

    def dedup_key(self, row: dict):
        video_hash = row[HashKeys.videohash]
        if self.consider_text:
            return video_hash, row[HashKeys.hash]
        return video_hash or None
