import math
import os
from typing import Literal

from datasets import Value

from djlite.dedup.columns import SIGNATURE_FEATURE, signatures_from_arrow
from djlite.dedup.grouping import group_near_duplicates
from djlite.dedup.lsh import BandIndex
from djlite.fields import HashKeys
from djlite.ops.base import Deduplicator, Selection
from djlite.registry import register_op
from djlite.video.context import VideoContext
from djlite.video.sampling import fps
from djlite.video.signature import IDENTITY, MIRRORS, ROTATIONS, SignatureConsumer, VideoSignature

GROUP, DISTANCE, COUNT = "video_near_dup_group", "video_near_dup_distance", "video_near_dup_count"
KEEP_POLICIES = ("first", "longest", "best")


@register_op("video_near_deduplicator")
class VideoNearDeduplicator(Deduplicator):
    """Drop samples whose videos are near-duplicates of an earlier sample's: re-encoded, resized, stretched,
    trimmed, rotated, greyscale, letterboxed, tiled or degraded copies of the same footage.

    New in djlite; Data-Juicer has only exact video deduplication (`video_deduplicator`).

    Signature (hash column `__dj__videosig`): frames on a time grid of `sampling_fps` (thinned so that no video
    has more than `max_frames`), each reduced to a 63-bit DCT sign hash of its grey, square-stretched
    thumbnail, after cutting letterbox bars and reducing a mosaic of identical tiles to one tile: 12 bytes
    per sampled frame. Frames with too little picture (black, fades, a line of text or a small object on a
    plain background) are left out; a video made only of those is nobody's duplicate. A file with no
    decodable frame is a recorded error.

    Distance (`threshold`): the shorter video is slid along the longer one (best time offset, and best
    rotation when `match_rotated`, best mirror image too when `match_mirrored`); each of its sampled frames
    scores the fraction of hash bits that differ from the other video's frame at the same aligned time, or 0.5
    (chance) when it falls outside the other video. The distance is the mean score: 0 = every frame of the
    shorter video appears in the longer one, in order; unrelated videos score about 0.5; a clip of which only
    half is in the other scores 0.25 or more, so partial overlaps are not duplicates. Two samples are
    near-duplicates when the distance is <= threshold (per video, in order, for samples with several videos).
    On the shared corpus (tools/eval_near_dup.py) true copies score 0 to 0.04 and the closest unrelated pair
    0.24; the default 0.15 sits between them with a margin either way. Crops of 5% a side, corner watermarks
    and heavy compression score 0.1 to 0.3, so only some of them are caught; larger crops are not.

    Grouping: candidate pairs come from LSH on the frame hashes (`lsh_bands` bands of `lsh_band_bits` bits;
    a pair needs two shared keys; buckets with more than `max_bucket_size` samples are skipped as
    uninformative), never from all pairs; each candidate is verified with the full distance, and union-find
    joins verified pairs into groups.

    Which sample of a group is kept (`keep`), each rule's ties going to the next: `first` (the default), the
    earliest row: predictable whatever the files' metadata, and Data-Juicer's rule for its deduplicators.
    `longest`: the one whose videos last longest (the full video rather than a clip cut from it), then the
    earliest. `best`: the most picture, then the highest bit rate, then the longest, then the earliest.
    "Picture" is the displayed frame's pixels times the share of the frame that is one picture (letterbox bars
    and the tiles of a mosaic of copies cut off: a 2x2 mosaic at 640x480 holds a 320x240 picture); the bit
    rate is the file's bytes x 8 / duration, audio included. Both come from the probe and the signature's own
    frames: nothing is decoded again. An upscaled copy has more pixels than its source and wins: no measure
    without a reference tells upscaled from sharp. On the corpus's Big Buck Bunny group (8 copies: 560x318
    originals in four codecs, 160x120, 640x480 and 1280x720 resizes, a 2x2 mosaic) `first` keeps
    scav__BBB.mp4, `longest` the mosaic (40 ms longer), `best` the 1280x720 resize.

    A title overlay over a large part of the frame (moviepy__result_testcard_text.mp4, manifest group
    M-testcard) is not caught: it scores 0.240 against the 16 s test card it overlays and 0.359 against the
    2 s one, while unrelated corpus videos come as close as 0.238 (decord__video_270.mov ~ scav__BBB.mp4):
    no threshold on this signature joins it without joining unrelated videos too (`python
    tools/eval_near_dup.py`: precision 1.000, recall 36/38 pairs at 0.15, the two misses being this file).

    Stats (sample level): `video_near_dup_group` (row number, in this op's input, of the group's kept
    sample), `video_near_dup_distance` (distance to it, 0 for the kept one) and `video_near_dup_count` (how
    many other samples share the group). Samples without videos are always kept.
    """

    stats_features = {GROUP: Value("int64"), DISTANCE: Value("float64"), COUNT: Value("int64")}
    hash_features = {HashKeys.videosig: SIGNATURE_FEATURE}
    # Signatures depend on sampling_fps and max_frames only; these decide at grouping time, so a re-run that
    # changes them reuses the cached signatures (djlite.stats_cache).
    per_video_cache = True
    stats_version = 2  # signatures carry the picture size and bit rate that keep: best compares
    decision_params = (
        "threshold", "match_rotated", "match_mirrored", "keep", "lsh_bands", "lsh_band_bits", "max_bucket_size",
    )  # fmt: skip

    def __init__(
        self,
        threshold: float = 0.15,
        sampling_fps: float = 4.0,
        max_frames: int = 480,
        match_rotated: bool = True,
        match_mirrored: bool = False,
        keep: Literal["first", "longest", "best"] = "first",
        lsh_bands: int = 16,
        lsh_band_bits: int = 24,
        max_bucket_size: int = 200,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 <= threshold < 0.5:
            raise ValueError(f"threshold must be in [0, 0.5) (0.5 = unrelated videos), got {threshold}")
        if sampling_fps <= 0:
            raise ValueError(f"sampling_fps must be > 0, got {sampling_fps}")
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if keep not in KEEP_POLICIES:
            raise ValueError(f"keep must be one of {', '.join(KEEP_POLICIES)}, got {keep!r}")
        if max_bucket_size < 2:
            raise ValueError(f"max_bucket_size must be >= 2, got {max_bucket_size}")
        BandIndex(lsh_bands, lsh_band_bits)  # validates the LSH shape now, not after hashing the dataset
        self.threshold = threshold
        self.sampling_fps = sampling_fps
        self.max_frames = max_frames
        self.keep = keep
        self.lsh_bands = lsh_bands
        self.lsh_band_bits = lsh_band_bits
        self.max_bucket_size = max_bucket_size
        self.index_frames = 16
        transforms = ROTATIONS if match_rotated else (IDENTITY,)
        self.transforms = transforms + (MIRRORS if match_mirrored else ())

    def band_index(self) -> BandIndex:
        return BandIndex(self.lsh_bands, self.lsh_band_bits, max_bucket=self.max_bucket_size)

    # ------------------------------------------------------------------ hashing (per sample, in workers)

    def frame_consumer(self, info):
        # A fixed grid, thinned for long videos so that no signature exceeds max_frames.
        duration = max(info.stream_duration, 1e-3)
        rate = min(self.sampling_fps, self.max_frames / duration)
        width, height = info.display_size
        bitrate = os.path.getsize(info.path) * 8 / info.duration if info.duration > 0 else 0.0
        return SignatureConsumer(fps(rate), 1.0 / rate, info.path, pixels=width * height, bitrate=bitrate)

    def compute_hash(self, sample, context: VideoContext | None = None):
        if sample.get(HashKeys.videosig) is not None:
            return sample
        # One signature per unique video, in first-appearance order.
        unique = {self.video_key: list(dict.fromkeys(self.video_paths(sample)))}
        signatures = self.per_video(unique, context, self.cached_signature)
        sample[HashKeys.videosig] = [s.to_dict() for s in signatures]
        return sample

    def cached_signature(self, path: str, context: VideoContext) -> VideoSignature:
        """The video's signature, from the stats cache when the runner gives one (a threshold-only re-run)."""
        compute = lambda: self.frame_result(path, context)  # noqa: E731
        return context.cached(self, path, compute, VideoSignature.to_dict, VideoSignature.from_dict)

    @staticmethod
    def signatures(sample) -> list[VideoSignature]:
        return [VideoSignature.from_dict(d) for d in sample.get(HashKeys.videosig) or []]

    # ------------------------------------------------------------------ grouping (once, on the whole dataset)

    def select(self, table, show_num: int = 0) -> Selection:
        samples = signatures_from_arrow(table[HashKeys.videosig])
        grouping = group_near_duplicates(
            samples, self.threshold, self.transforms, self.keep, self.band_index(), self.index_frames
        )
        sizes: dict[int, int] = {}
        for rep in grouping.representative:
            sizes[rep] = sizes.get(rep, 0) + 1
        members: dict[int, list[int]] = {}
        for i, rep in enumerate(grouping.representative):
            if sizes[rep] > 1:
                members.setdefault(rep, []).append(i)
        largest = sorted(members.items(), key=lambda item: len(item[1]), reverse=True)[: max(0, show_num)]
        stats = {
            GROUP: list(grouping.representative),
            DISTANCE: [round(d, 6) if math.isfinite(d) else None for d in grouping.distance],
            COUNT: [sizes[rep] - 1 for rep in grouping.representative],
        }
        return Selection(grouping.kept, stats=stats, pairs=dict(largest))
