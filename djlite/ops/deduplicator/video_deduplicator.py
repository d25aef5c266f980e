import hashlib

import av
from datasets import Value

from djlite.errors import VideoError
from djlite.fields import HashKeys
from djlite.ops.base import Deduplicator
from djlite.registry import register_op
from djlite.video.probe import first_video_stream, open_container


def video_packets_md5(paths: list[str], md5=None):
    """md5 over the compressed bytes of every video-stream packet of each unique path, in first-seen order.

    This is Data-Juicer's exact video hash: audio and container metadata do not count, so a re-muxed file
    with the same bitstream collides, while any re-encode does not.
    """
    md5 = md5 or hashlib.md5()
    for path in dict.fromkeys(paths):
        with open_container(path) as container:
            first_video_stream(container, path)
            packets = 0
            try:
                for packet in container.demux():
                    # Every video stream counts (multi-stream files), as in Data-Juicer; the flush packets
                    # demux yields at the end are empty and change nothing.
                    if packet.stream.type == "video" and packet.size:
                        md5.update(bytes(packet))
                        packets += 1
            except (av.FFmpegError, OSError, ValueError) as e:
                raise VideoError(f"video packets do not read ({type(e).__name__}: {e}): {path}") from None
            if not packets:
                raise VideoError(f"the video stream holds no packets: {path}")
    return md5


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
        """The key two samples must share to be duplicates; None = never a duplicate (kept)."""
        video_hash = row[HashKeys.videohash]
        if self.consider_text:
            return video_hash, row[HashKeys.hash]
        return video_hash or None

    def keep_indices(self, dataset) -> list[int]:
        columns = list(self.hash_features)
        seen, keep = set(), []
        index = 0
        for batch in dataset.select_columns(columns).iter(batch_size=100_000):
            for row in zip(*(batch[c] for c in columns)):
                key = self.dedup_key(dict(zip(columns, row)))
                if key is None or key not in seen:
                    keep.append(index)
                    if key is not None:
                        seen.add(key)
                index += 1
        return keep

    def process(self, dataset):
        if len(dataset) <= 1:
            return dataset
        keep = self.keep_indices(dataset)
        return dataset if len(keep) == len(dataset) else dataset.select(keep)
