"""video_near_deduplicator: frame hashes, sequence distance, LSH candidates, grouping, and the op in a run."""

import av
import cv2
import datasets
import numpy as np
import pytest
from helpers import read_jsonl, write_jsonl, write_recipe
from synthetic import make_moving

import djlite
from djlite.core.selection import apply_selection_locally
from djlite.dedup.alignment import MISS, video_distance
from djlite.dedup.grouping import UnionFind, group_near_duplicates
from djlite.dedup.lsh import BandIndex, candidate_pairs
from djlite.errors import RecipeError, VideoError
from djlite.fields import Fields, HashKeys
from djlite.ops.deduplicator.video_near_deduplicator import VideoNearDeduplicator
from djlite.recipe import build_op
from djlite.video.signature import (
    IDENTITY,
    MIRRORS,
    ROTATIONS,
    VideoSignature,
    frame_hash,
    hamming,
    transform_hashes,
)


def picture(seed: int, size=(180, 320)) -> np.ndarray:
    """A smooth random grey picture, like a natural frame at thumbnail scale."""
    small = np.random.default_rng(seed).integers(0, 255, (size[0] // 20, size[1] // 20), dtype=np.uint8)
    return cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def bits_apart(a, b) -> int:
    return int(hamming(np.uint64(a), np.uint64(b)))


# ---------------------------------------------------------------- frame hashes


def test_frame_hash_ignores_size_stretch_letterbox_and_tiling():
    image = picture(1)
    h = frame_hash(image)
    assert bits_apart(h, frame_hash(cv2.resize(image, (80, 45), interpolation=cv2.INTER_AREA))) <= 3
    assert bits_apart(h, frame_hash(cv2.resize(image, (200, 200), interpolation=cv2.INTER_AREA))) <= 3  # stretch
    letterboxed = cv2.copyMakeBorder(image, 40, 40, 0, 0, cv2.BORDER_CONSTANT, value=0)
    assert bits_apart(h, frame_hash(letterboxed)) <= 4
    half = cv2.resize(image, (160, 90), interpolation=cv2.INTER_AREA)
    assert bits_apart(h, frame_hash(np.vstack([np.hstack([half, half])] * 2))) <= 4  # 2x2 mosaic
    assert bits_apart(h, frame_hash(picture(2))) > 15, "unrelated pictures are far apart"


def test_rotations_and_mirrors_are_bit_permutations_of_the_hash():
    image = picture(3, size=(120, 200))
    h = np.array([frame_hash(image)], dtype=np.uint64)
    pictures = {
        ROTATIONS[1]: np.rot90(image, 1), ROTATIONS[2]: np.rot90(image, 2), ROTATIONS[3]: np.rot90(image, 3),
        MIRRORS[0]: image[:, ::-1], MIRRORS[1]: image[::-1], MIRRORS[2]: image.T, MIRRORS[3]: np.rot90(image, 2).T,
    }  # fmt: skip
    for transform, turned in pictures.items():
        # Up to a bit: a DCT term that is almost exactly 0 may round to either sign.
        assert bits_apart(transform_hashes(h, transform)[0], frame_hash(np.ascontiguousarray(turned))) <= 1
    assert transform_hashes(h, IDENTITY)[0] == h[0]


def test_blank_and_low_information_frames_have_no_hash():
    assert frame_hash(np.zeros((90, 160), np.uint8)) is None
    assert frame_hash(np.full((1, 1), 200, np.uint8)) is None
    # One line of text on black: its hash would look like every other caption card's.
    card = np.zeros((180, 320), np.uint8)
    cv2.putText(card, "a line of text", (40, 95), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    assert frame_hash(card) is None
    assert frame_hash(picture(4)) is not None


# ---------------------------------------------------------------- sequence distance


def signature(seeds, step=0.25, start=0.0) -> VideoSignature:
    hashes = np.array([frame_hash(picture(s)) for s in seeds], dtype=np.uint64)
    times = start + step * np.arange(len(seeds), dtype=np.float32)
    return VideoSignature(hashes, times - times[0], float(times[-1] - times[0]), step)


def test_a_trimmed_copy_is_at_distance_zero_with_its_offset():
    full = signature(range(40))
    clip = signature(range(10, 22))
    match = video_distance(full, clip)
    assert match.distance == 0 and match.offset == pytest.approx(10 * 0.25)
    assert video_distance(clip, full).distance == 0, "symmetric"


def test_partial_overlap_and_unrelated_videos_are_far():
    a, b = signature(range(0, 20)), signature(range(10, 30))
    assert video_distance(a, b).distance >= 0.5 * MISS - 1e-9, "half of the clip lies outside the other"
    assert video_distance(signature(range(100, 120)), signature(range(200, 230))).distance > 0.3
    blank = VideoSignature(np.zeros(0, np.uint64), np.zeros(0, np.float32), 3.0, 0.25)
    assert video_distance(blank, a).distance == float("inf")


def test_rotated_copy_matches_only_when_rotations_are_searched():
    a = signature(range(50, 62))
    turned = VideoSignature(transform_hashes(a.hashes, ROTATIONS[1]), a.times, a.span, a.step)
    assert video_distance(a, turned, ROTATIONS).distance == 0
    assert video_distance(a, turned, (IDENTITY,)).distance > 0.3


# ---------------------------------------------------------------- LSH and grouping


def test_lsh_proposes_near_pairs_not_all_pairs():
    rng = np.random.default_rng(0)
    base = [rng.integers(0, 2**63, 20, dtype=np.uint64) for _ in range(50)]
    noisy = base[7] ^ np.uint64(0b1011)  # 3 bits flipped in every frame
    items = base + [noisy]
    pairs = candidate_pairs(items, items)
    assert (7, 50) in pairs
    assert len(pairs) < 5, f"random frames rarely collide in 20-bit bands: {pairs}"


def test_oversized_buckets_are_skipped():
    same = np.array([12345], dtype=np.uint64)
    assert candidate_pairs([same] * 5, [same] * 5, index=BandIndex(max_bucket=10)) == {
        (i, j) for i in range(5) for j in range(i + 1, 5)
    }
    assert candidate_pairs([same] * 5, [same] * 5, index=BandIndex(max_bucket=4)) == set()


def test_union_find_joins_chains():
    groups = UnionFind(5)
    groups.union(3, 4)
    groups.union(1, 3)
    assert groups.find(4) == groups.find(1) == 1 and groups.find(0) == 0


def test_grouping_keeps_first_or_longest():
    full, clip, other = signature(range(40)), signature(range(10, 22)), signature(range(300, 330))
    samples = [[clip], [other], [full], []]
    first = group_near_duplicates(samples, threshold=0.15)
    assert first.representative == [0, 1, 0, 3] and first.kept == [0, 1, 3]
    assert first.distance == [0.0, 0.0, 0.0, 0.0]
    longest = group_near_duplicates(samples, threshold=0.15, keep="longest")
    assert longest.representative == [2, 1, 2, 3] and longest.kept == [1, 2, 3]
    assert first.candidates < 6, "only LSH candidates are verified"


def test_keep_best_takes_the_most_picture_then_bit_rate_then_length_then_the_first_row():
    hashes = signature(range(40))

    def copy(pixels, picture=1.0, bitrate=1e6, span=None):
        return [VideoSignature(hashes.hashes, hashes.times, span or hashes.span, hashes.step, pixels, picture, bitrate)]

    def kept(*samples):
        return group_near_duplicates(list(samples), threshold=0.15, keep="best").kept

    assert kept(copy(640 * 360), copy(1280 * 720), copy(320 * 180)) == [1]  # resolution first
    # A 2x2 mosaic at 1280x720 holds four 640x360 pictures: less picture than one 960x540 copy.
    assert kept(copy(1280 * 720, picture=0.25), copy(960 * 540)) == [1]
    assert kept(copy(640 * 360, bitrate=5e5), copy(640 * 360, bitrate=2e6)) == [1]  # then bit rate
    assert kept(copy(640 * 360, span=5.0), copy(640 * 360, span=9.0)) == [1]  # then length
    assert kept(copy(640 * 360), copy(640 * 360)) == [0]  # then the earliest row


def test_a_signature_knows_how_much_of_the_frame_is_picture():
    from djlite.video.signature import hash_and_picture

    frame = picture(3, size=(240, 320))
    assert hash_and_picture(frame)[1] == 1.0
    mosaic = cv2.resize(np.tile(frame, (2, 2)), (320, 240), interpolation=cv2.INTER_AREA)
    mosaic_hash, share = hash_and_picture(mosaic)
    assert share == pytest.approx(0.25) and bits_apart(mosaic_hash, frame_hash(frame)) <= 8
    boxed = np.zeros((360, 320), np.uint8)
    boxed[60:300] = frame
    assert hash_and_picture(boxed)[1] == pytest.approx(240 / 360, abs=0.03)


def test_samples_with_different_video_counts_are_not_duplicates():
    a = signature(range(40))
    grouping = group_near_duplicates([[a], [a, a], [a, a]], threshold=0.15)
    assert grouping.representative == [0, 1, 1]


# ---------------------------------------------------------------- the op


def test_parameters_are_checked_when_the_recipe_is_read():
    with pytest.raises(ValueError, match="threshold"):
        VideoNearDeduplicator(threshold=0.7)
    with pytest.raises(RecipeError, match="keep"):
        build_op("video_near_deduplicator", {"keep": "biggest"})
    with pytest.raises(RecipeError, match="band_bits"):
        build_op("video_near_deduplicator", {"lsh_band_bits": 40})


def test_keep_best_keeps_the_sharpest_copy_of_generated_near_duplicates(tmp_path):
    from synthetic import _write

    from djlite.video.clip_writer import reencode_clip

    source = make_moving(str(tmp_path / "source.mp4"), seconds=2, size=(320, 192), seed=5)
    small = reencode_clip(source, str(tmp_path / "small.mp4"), None, (160, 96))
    with av.open(source) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    tiled = [cv2.resize(np.tile(f, (2, 2, 1)), (320, 192), interpolation=cv2.INTER_AREA) for f in frames]
    mosaic = _write(str(tmp_path / "mosaic.mp4"), tiled)
    rows = [{"id": name, "videos": [path]} for name, path in (("small", small), ("mosaic", mosaic), ("source", source))]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    kept = {}
    for keep in ("first", "best"):
        recipe = write_recipe(tmp_path / f"{keep}.yaml", data, [{"video_near_deduplicator": {"keep": keep}}])
        result = djlite.run(str(recipe), export_path=str(tmp_path / keep / "out.jsonl"))
        kept[keep] = [row["id"] for row in read_jsonl(result.result_paths[0])]
    assert kept == {"first": ["small"], "best": ["source"]}


def test_keep_best_keeps_a_full_resolution_copy_of_the_corpus_big_buck_bunny(corpus_videos, tmp_path):
    from conftest import read_manifest

    names = sorted(r["file"] for r in read_manifest(corpus_videos) if r["near_dup_group"] == "C-bbb")
    assert len(names) == 8
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": n, "videos": [str(corpus_videos / n)]} for n in names])
    kept = {}
    for keep in ("first", "longest", "best"):
        recipe = write_recipe(tmp_path / f"{keep}.yaml", data, [{"video_near_deduplicator": {"keep": keep}}])
        result = djlite.run(str(recipe), export_path=str(tmp_path / keep / "out.jsonl"))
        kept[keep] = [row["id"] for row in read_jsonl(result.result_paths[0])]
    # longest keeps the 2x2 mosaic (40 ms longer); best the copy with the most picture, never the mosaic.
    assert kept == {"first": ["scav__BBB.mp4"], "longest": ["scav__display_mosaic.mkv"],
                    "best": ["scav__resize1280x720.mp4"]}  # fmt: skip


@pytest.fixture(scope="module")
def copies(clips, tmp_path_factory):
    """Generated clips plus a trimmed copy and a display-rotated copy of `moving`."""
    folder = tmp_path_factory.mktemp("near")
    return dict(
        clips,
        trimmed=make_moving(str(folder / "trimmed.mp4"), seconds=1.5, seed=0),
        rotated=make_moving(str(folder / "rotated.mp4"), seconds=3, seed=0, rotation=90),
    )


def test_op_groups_reencoded_trimmed_and_rotated_copies(copies):
    names = ["moving", "static", "moving_reencoded", "text", "trimmed", "rotated", "short"]
    rows = [{"videos": [copies[n]], "name": n} for n in names] + [{"videos": [], "name": "no video"}]
    op = VideoNearDeduplicator()
    dataset = datasets.Dataset.from_list([op.compute_hash(dict(row)) for row in rows])
    annotated = apply_selection_locally(dataset, op, drop=False)[0].to_list()
    stats = {row["name"]: row[Fields.stats] for row in annotated}
    assert {n for n in names if stats[n]["video_near_dup_group"] == 0} == {
        "moving",
        "moving_reencoded",
        "trimmed",
        "rotated",
    }
    assert stats["moving"]["video_near_dup_count"] == 3 and stats["static"]["video_near_dup_count"] == 0
    assert 0 < stats["moving_reencoded"]["video_near_dup_distance"] < 0.1
    assert stats["no video"]["video_near_dup_group"] == 7
    kept = [row["name"] for row in op.process(dataset)[0].to_list()]
    assert kept == ["moving", "static", "text", "short", "no video"]


def test_bad_files_are_errors_naming_the_file(bad_videos, copies):
    op = VideoNearDeduplicator()
    for name in [
        "derived__audio_only.mp4",
        "derived__zero_bytes.mp4",
        "derived__video_only_no_decodable_frames.mp4",
        "found__smallfiles_AudioVideoInterleave_1x1.avi",
        "found__pyav_data_stream_only.ts",
    ]:
        with pytest.raises(VideoError, match=name):
            op.compute_hash({"videos": [str(bad_videos / name)]})
    with pytest.raises(VideoError, match="broken.mp4"):
        op.compute_hash({"videos": [copies["broken"]]})


def test_run_drops_copies_records_errors_and_writes_stats(copies, tmp_path):
    names = ["moving", "static", "moving_reencoded", "broken", "trimmed"]
    dataset = write_jsonl(tmp_path / "data.jsonl", [{"id": n, "videos": [copies[n]]} for n in names])
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_near_deduplicator": {}}], np=1)
    res = djlite.run(str(recipe))
    kept = read_jsonl(res.result_paths[0])
    assert [row["id"] for row in kept] == ["moving", "static"]
    assert HashKeys.videosig not in kept[0], "the signature column is a hash column: not exported by default"
    assert res.summary["filtered"] == 2 and res.summary["errored"] == 1 and res.summary["balanced"]
    stats = [row[Fields.stats] for row in read_jsonl(res.stats_path)]
    assert [s["video_near_dup_count"] for s in stats] == [2, 0]

    # A stats-only run (dj-analyze) drops nothing but still says who duplicates whom.
    res = djlite.run(str(recipe), stats_only=True, export_path=str(tmp_path / "s" / "res.jsonl"))
    ids = [row["id"] for row in read_jsonl(res.result_paths[0])]
    groups = [row[Fields.stats]["video_near_dup_group"] for row in read_jsonl(res.stats_path)]
    assert ids == ["moving", "static", "moving_reencoded", "trimmed"] and groups == [0, 1, 0, 0]


def test_corpus_families(corpus_videos):
    """Stretched, tiled, AV1, rotated-VFR and trimmed copies group; a partial overlap does not."""
    names = [
        "scav__BBB.mp4", "scav__resize160x120.mp4", "scav__display_mosaic.mkv", "scav__av1.mp4",
        "pyscenedetect__goldeneye-vfr-drop3.mp4", "pyscenedetect__issue-134-rotate.mp4",
        "moviepy__example_testcard_2s.mp4", "moviepy__example_testcard_16s.mp4",
        "moviepy__big_buck_bunny_0_30.webm", "latexvideo__sample.avi", "moviepy__smpte-2997.mp4",
    ]  # fmt: skip
    op = VideoNearDeduplicator()
    samples = [op.signatures(op.compute_hash({"videos": [str(corpus_videos / n)]})) for n in names]
    grouping = group_near_duplicates(samples, op.threshold, op.transforms, index=op.band_index())
    assert grouping.representative == [0, 0, 0, 0, 4, 4, 6, 6, 8, 9, 10]
    assert max(grouping.distance) < 0.05


def test_signature_column_is_read_back_from_arrow_exactly():
    from djlite.dedup.columns import SIGNATURE_FEATURE, signatures_from_arrow

    a, b = signature(range(5)), signature(range(9, 12))
    rows = [[a.to_dict()], None, [], [b.to_dict(), a.to_dict()]]
    dataset = datasets.Dataset.from_dict({"s": rows}, features=datasets.Features({"s": SIGNATURE_FEATURE}))
    read = []
    for batch in dataset.select([3, 0, 1, 2]).with_format("arrow").iter(batch_size=3):
        read.extend(signatures_from_arrow(batch.column("s")))
    assert [len(r) for r in read] == [2, 1, 0, 0]
    assert read[0][0].hashes.tolist() == b.hashes.tolist() and read[1][0].hashes.tolist() == a.hashes.tolist()
    assert read[0][1].times.tolist() == pytest.approx(a.times.tolist()) and read[0][0].span == b.span
