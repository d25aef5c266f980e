"""Evaluate video_near_deduplicator against ground truth: distance distributions, precision and recall.

    python tools/eval_near_dup.py                       # ../shared/videos/corpus, its near_dup_group column
    python tools/eval_near_dup.py --synthetic /tmp/syn  # plus transformed copies made from corpus clips
    python tools/eval_near_dup.py --threshold 0.2 --flips

Signatures are computed by the op itself (`compute_hash`, the same code a recipe runs). Then:
- every pair's distance is computed (all pairs: this is an evaluation, the op itself does not do that) and the
  distributions of true pairs (same ground-truth group) and false pairs are printed, so the threshold can be
  chosen with a margin rather than fitted;
- the op's grouping (LSH candidates, verification, union-find) runs at the threshold, and pairwise precision
  and recall are computed from its groups: a predicted pair is two samples in one group.

The synthetic set takes a few seconds of each of several corpus videos that have no known duplicate and writes
transformed copies (compression, crop, letterbox, watermark, greyscale, grading, blur and noise, trim, lower
frame rate, pixel rotation, 2x2 mosaic, stretch, mirror, and a combination). Each copy's group is its source,
including the corpus file it was cut from.
"""

import argparse
import csv
import itertools
import os
import sys
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from djlite.dedup.alignment import video_distance
from djlite.dedup.grouping import group_near_duplicates
from djlite.errors import SampleError
from djlite.ops.deduplicator.video_near_deduplicator import VideoNearDeduplicator

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos")) / "corpus"

SYNTHETIC_SOURCES = [
    "pyscenedetect__testvideo.mp4",
    "moviepy__audrey.mp4",
    "moviepy__chaplin.mp4",
    "moviepy__robot_basketball.mp4",
    "decord__flipping_a_pancake.mkv",
    "mediapipe__selfie_segmentation_web.mp4",
    "love2d__small.ogv",
    "h264parse__test.flv",
    "texttovideo__sample.avi",
    "moviepy__smpte-2997.mp4",
    "video2tfrecord__video.mp4",
    "lktracker__test_clip.mp4",
]


# ---------------------------------------------------------------- synthetic copies


def _read_excerpt(path: Path, start: float, seconds: float, width: int = 320):
    frames, fps = [], 25.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        try:
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                if t < start:
                    continue
                if t >= start + seconds:
                    break
                image = frame.to_ndarray(format="rgb24")
                h, w = image.shape[:2]
                size = (width, max(2, int(round(h * width / w / 2)) * 2))
                frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        except av.FFmpegError:
            pass  # a damaged tail: the excerpt is what decoded
    # Keep the pace: thin a high frame rate by whole steps rather than slowing the clip down.
    step = max(1, int(round(fps / 30)))
    return frames[::step], fps / step


def _write(path: Path, frames, fps: float, crf: int = 23) -> None:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = w // 2 * 2, h // 2 * 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for image in frames:
            image = np.ascontiguousarray(image[: h // 2 * 2, : w // 2 * 2])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _crop(image, left, top, right, bottom):
    h, w = image.shape[:2]
    return image[int(top * h) : h - int(bottom * h), int(left * w) : w - int(right * w)]


def _letterbox(image):
    h, w = image.shape[:2]
    if w / h > 4 / 3:  # wide: pad top and bottom to 4:3
        pad = int((w * 3 / 4 - h) / 2)
        return cv2.copyMakeBorder(image, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    pad = int((h * 16 / 9 - w) / 2)  # tall or 4:3: pad left and right to 16:9
    return cv2.copyMakeBorder(image, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def _watermark(image):
    """A channel logo in a corner and a handle in the other, half transparent, as re-uploads carry them."""
    h, w = image.shape[:2]
    overlay = image.copy()
    cv2.rectangle(overlay, (int(0.85 * w), int(0.04 * h)), (int(0.97 * w), int(0.13 * h)), (255, 255, 255), -1)
    cv2.putText(overlay, "@clips_4u", (int(0.66 * w), int(0.94 * h)), cv2.FONT_HERSHEY_SIMPLEX, w / 900, (255,) * 3, 1)
    return cv2.addWeighted(overlay, 0.5, image, 0.5, 0)


def _noisy(image, seed):
    noise = np.random.default_rng(seed).normal(0, 10, image.shape)
    return np.clip(cv2.GaussianBlur(image, (5, 5), 1.5) + noise, 0, 255).astype(np.uint8)


def _mosaic(image):
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return np.vstack([np.hstack([half, half])] * 2)


def _gray(image):
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


TRANSFORMS = {
    "original": lambda f, fps: (f, fps, 23),
    "crf40_half": lambda f, fps: ([cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2)) for x in f], fps, 40),
    "crop5": lambda f, fps: ([_crop(x, 0.05, 0.05, 0.05, 0.05) for x in f], fps, 23),
    "crop_w10": lambda f, fps: ([_crop(x, 0.1, 0, 0.1, 0) for x in f], fps, 23),
    "letterbox": lambda f, fps: ([_letterbox(x) for x in f], fps, 23),
    "watermark": lambda f, fps: ([_watermark(x) for x in f], fps, 23),
    "gray": lambda f, fps: ([_gray(x) for x in f], fps, 23),
    "graded": lambda f, fps: ([cv2.convertScaleAbs(x, alpha=1.25, beta=-20) for x in f], fps, 23),
    "blur_noise": lambda f, fps: ([_noisy(x, i) for i, x in enumerate(f)], fps, 28),
    "trim_middle": lambda f, fps: (f[int(len(f) * 0.3) : int(len(f) * 0.7)], fps, 23),
    "fps10": lambda f, fps: (f[:: max(1, int(round(fps / 10)))], fps / max(1, int(round(fps / 10))), 23),
    "rot90": lambda f, fps: ([np.ascontiguousarray(np.rot90(x)) for x in f], fps, 23),
    "mosaic": lambda f, fps: ([_mosaic(x) for x in f], fps, 23),
    "stretch": lambda f, fps: ([cv2.resize(x, (x.shape[0], x.shape[0])) for x in f], fps, 23),
    "mirror": lambda f, fps: ([np.ascontiguousarray(x[:, ::-1]) for x in f], fps, 23),
    "combo": lambda f, fps: (
        [_gray(_crop(x, 0.04, 0.04, 0.04, 0.04)) for x in f[int(len(f) * 0.1) : int(len(f) * 0.9)]],
        fps,
        34,
    ),
}


def make_synthetic(folder: Path) -> list[tuple[str, str, str]]:
    """(path, group, transform) for every synthetic copy, plus the corpus sources themselves."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for name in SYNTHETIC_SOURCES:
        source = CORPUS / name
        if not source.is_file():
            continue
        group = "syn-" + name.split(".")[0]
        items.append((str(source), group, "source"))
        frames = None
        for transform, fn in TRANSFORMS.items():
            out = folder / f"{name.split('.')[0]}__{transform}.mp4"
            if not out.is_file():
                if frames is None:
                    frames, fps = _read_excerpt(source, start=1.0, seconds=8.0)
                made, made_fps, crf = fn(frames, fps)
                tmp = out.with_name(out.stem + ".tmp.mp4")
                _write(tmp, made, made_fps, crf)
                os.replace(tmp, out)
            items.append((str(out), group, transform))
    return items


def corpus_items() -> list[tuple[str, str, str]]:
    with open(CORPUS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(str(CORPUS / r["file"]), r["near_dup_group"], "corpus") for r in rows]


# ---------------------------------------------------------------- evaluation


def histogram(values, edges) -> str:
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return "\n".join(
        f"    [{lo:.2f}, {hi:.2f}) {c:5d} {'#' * min(c, 60)}" for lo, hi, c in zip(edges, edges[1:], counts)
    )


def evaluate(items, op: VideoNearDeduplicator, label: str, show: int = 12) -> dict:
    started = time.perf_counter()
    signatures, errors = [], []
    for path, _, _ in items:
        try:
            sample = op.compute_hash({"videos": [path]})
            signatures.append(op.signatures(sample))
        except SampleError as e:
            errors.append(f"{type(e).__name__}: {e}")
            signatures.append(None)
    hashed = time.perf_counter() - started
    live = [i for i, s in enumerate(signatures) if s is not None]
    true_d, false_d, rows = [], [], []
    for i, j in itertools.combinations(live, 2):
        d = video_distance(signatures[i][0], signatures[j][0], op.transforms).distance
        same = bool(items[i][1]) and items[i][1] == items[j][1]
        (true_d if same else false_d).append(d)
        rows.append((d, same, i, j))

    started = time.perf_counter()
    grouping = group_near_duplicates(
        [signatures[i] for i in live], op.threshold, op.transforms, index=op.band_index(), index_frames=op.index_frames
    )
    grouped = time.perf_counter() - started
    group_of = {live[k]: live[rep] for k, rep in enumerate(grouping.representative)}
    predicted = {(i, j) for i, j in itertools.combinations(live, 2) if group_of[i] == group_of[j]}
    truth = {
        (i, j) for i, j in itertools.combinations(range(len(items)), 2) if items[i][1] and items[i][1] == items[j][1]
    }
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0

    print(
        f"\n=== {label}: {len(items)} videos, {len(errors)} errors, {len(truth)} true pairs, threshold {op.threshold}"
    )
    print(
        f"signatures {hashed:.1f} s; grouping {grouped:.2f} s: {grouping.candidates} candidate pairs from the index "
        f"(all pairs: {len(live) * (len(live) - 1) // 2}), {grouping.verified} verified"
    )
    finite = lambda v: np.array([x if np.isfinite(x) else 1.0 for x in v])  # noqa: E731
    edges = np.round(np.arange(0, 0.55, 0.025), 3)
    if true_d:
        print(f"  true pairs: min {min(true_d):.3f} median {np.median(true_d):.3f} max {max(finite(true_d)):.3f}")
        print(histogram(finite(true_d), edges))
    print(f"  false pairs: min {min(false_d):.3f}, 1st percentile {np.percentile(finite(false_d), 1):.3f}")
    print(histogram(finite(false_d), edges))
    print(f"  pairwise precision {precision:.3f} ({tp}/{len(predicted)}), recall {recall:.3f} ({tp}/{len(truth)})")
    name = lambda i: f"{Path(items[i][0]).name}"  # noqa: E731
    missed = sorted(truth - predicted)
    if missed:
        print(f"  missed true pairs ({len(missed)}):")
        for i, j in missed[:40]:
            d = next((r[0] for r in rows if r[2] == i and r[3] == j), float("inf"))
            print(f"    {d:.3f} {name(i)} ~ {name(j)}")
    wrong = sorted(predicted - truth)
    if wrong:
        print(f"  false groupings ({len(wrong)}):")
        for i, j in wrong[:40]:
            d = next((r[0] for r in rows if r[2] == i and r[3] == j), float("inf"))
            print(f"    {d:.3f} {name(i)} ~ {name(j)}")
    closest = sorted((r for r in rows if not r[1]), key=lambda r: r[0])[:show]
    print("  closest false pairs:")
    for d, _, i, j in closest:
        print(f"    {d:.3f} {name(i)} ~ {name(j)}")
    per_transform = defaultdict(lambda: [0, 0])
    for i, j in truth:
        for k in (i, j):
            if items[k][2] not in ("corpus", "source"):
                per_transform[items[k][2]][0] += (i, j) in predicted
                per_transform[items[k][2]][1] += 1
    per_group = defaultdict(lambda: [0, 0])
    for i, j in truth:
        per_group[items[i][1]][0] += (i, j) in predicted
        per_group[items[i][1]][1] += 1
    print("  recall by group: " + ", ".join(f"{g} {a}/{b}" for g, (a, b) in sorted(per_group.items())))
    if per_transform:
        print("  recall by transformation: " + ", ".join(f"{t} {a}/{b}" for t, (a, b) in sorted(per_transform.items())))
    for e in errors:
        print(f"  error: {e}")
    return {"precision": precision, "recall": recall, "true": true_d, "false": false_d}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--flips", action="store_true", help="also match mirrored copies")
    parser.add_argument("--fps", type=float, default=None, help="sampling_fps of the signature grid")
    parser.add_argument("--synthetic", type=Path, default=None, help="folder for the transformed copies (cached)")
    args = parser.parse_args(argv)
    if not (CORPUS / "MANIFEST.tsv").is_file():
        print(f"{CORPUS} is absent", file=sys.stderr)
        return 2
    kwargs = {"match_mirrored": args.flips}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    if args.fps is not None:
        kwargs["sampling_fps"] = args.fps
    op = VideoNearDeduplicator(**kwargs)
    corpus = corpus_items()
    evaluate(corpus, op, "corpus (manifest near_dup_group)")
    if args.synthetic:
        items = make_synthetic(args.synthetic)
        if not args.flips:
            items = [it for it in items if it[2] != "mirror"]
        # The synthetic sources come from the corpus: evaluate both together, so that every copy must also
        # stay apart from all the other corpus videos.
        sources = {it[0] for it in items}
        evaluate(items + [it for it in corpus if it[0] not in sources], op, "corpus + synthetic copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
