"""bench.py section `clips`: splitting a generated 10-minute video with scene changes and the corpus's longest clips.

    python tools/bench.py --only clips            # PySceneDetect comparisons run where `scenedetect` imports

Reports, for the generated video: the scene cuts found vs the generated ones (and vs PySceneDetect's), that
every clip decodes and the clips' durations add up to the source's, and the time of a stream-copied split
against a re-encoded split of the same 10-second pieces, measured in the same run (the ratio is what counts).
For the corpus's longest clips: cuts vs PySceneDetect's, clips decode, durations add up. And what reading every
clip back costs (djlite.video.verify) next to writing it: the stream copy of 10-second (generated video) and
5-second (every corpus file) pieces, then their verification, timed apart.
"""

import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

LONGEST_CORPUS = [
    "texttovideo__sample.avi",
    "rapidvideocr__3.mp4",
    "moviepy__robot_basketball.mp4",
    "moviepy__test_video_nature.mp4",
    "moviepy__big_buck_bunny_0_30.webm",
]


def _frames(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _pyscenedetect(path) -> list[int] | None:
    try:
        import scenedetect
    except ImportError:
        return None
    scenes = scenedetect.detect(str(path), scenedetect.ContentDetector(), start_in_scene=True)
    return [start.frame_num for start, _ in scenes]


def _check_split(op, path) -> dict:
    """Split `path` with `op`; every clip decodes, durations add up to the source's."""
    from djlite.ops.base import FailedClip
    from djlite.video.probe import probe_video

    start = time.perf_counter()
    made = op.split({"text": "<__dj__video>", "videos": [str(path)]})
    seconds = time.perf_counter() - start
    good = [m for m in made if not isinstance(m, FailedClip)]
    frames = sum(_frames(m["videos"][0]) for m in good)
    return {
        "clips": len(good),
        "failed": len(made) - len(good),
        "seconds": round(seconds, 3),
        "clip_frames": frames,
        "source_frames": _frames(path),
        "clip_seconds": round(sum(probe_video(m["videos"][0]).duration for m in good), 3),
        "source_seconds": round(probe_video(str(path)).duration, 3),
        "starts": [round(m["__dj__clip__"]["start"], 3) for m in good],
    }


def _adds_up(split: dict) -> str:
    return (
        f"frames {split['clip_frames']}/{split['source_frames']}, "
        f"seconds {split['clip_seconds']}/{split['source_seconds']}"
    )


def _copy_then_verify(path, seconds: float, folder: Path) -> dict:
    """Seconds to stream-copy `path` in `seconds` pieces (keyframe-snapped, as cut_mode copy plans them), then to
    verify the pieces; and how many failed verification."""
    from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
    from djlite.video.clip_writer import copy_clips, output_ext
    from djlite.video.context import VideoContext
    from djlite.video.verify import verify_clips

    op = VideoSplitByDurationMapper(split_duration=seconds, cut_mode="copy")
    with VideoContext() as context:
        spans, _ = op.plan(str(path), context)
    folder.mkdir(parents=True, exist_ok=True)
    items = [(str(folder / f"{i}{output_ext(str(path), False)}"), span) for i, span in enumerate(spans)]
    start = time.perf_counter()
    errors = copy_clips(str(path), items)
    copied = time.perf_counter() - start
    written = [(target, span, True) for (target, span), error in zip(items, errors) if error is None]
    start = time.perf_counter()
    checks = verify_clips(str(path), written)
    verified = time.perf_counter() - start
    failed = sum(bool(check.problem) for check in checks)
    return {"clips": len(written), "copy_s": copied, "verify_s": verified, "failed": failed}


def bench_clips(args) -> dict:
    from synthetic import make_scenes

    from djlite.ops.mapper.video_split_by_duration_mapper import VideoSplitByDurationMapper
    from djlite.ops.mapper.video_split_by_scene_mapper import VideoSplitBySceneMapper
    from djlite.video.probe import probe_video

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = random.Random(14)
        scenes = [rng.uniform(4, 30) for _ in range(40)]
        total = sum(scenes)
        scenes = [s * 600 / total for s in scenes]  # exactly 10 minutes
        t = time.perf_counter()
        path, cuts = make_scenes(str(tmp / "ten_minutes.mp4"), scenes, fps=24, size=(320, 192), gop=48)
        made = time.perf_counter() - t
        print(f"clips: generated {probe_video(path).duration:.1f} s, {len(cuts) + 1} scenes in {made:.1f}s")
        fps = probe_video(path).fps

        op = VideoSplitBySceneMapper(keep_original_sample=False, save_dir=str(tmp / "scenes"))
        split = _check_split(op, path)
        found = [round(s * fps) for s in split["starts"]]
        theirs = _pyscenedetect(path)
        print(
            f"clips: scene split of the 10-minute video: {split['clips']} clips in {split['seconds']:.1f}s; "
            f"cuts equal the generated ones: {found == [0] + cuts}; equal PySceneDetect's: "
            f"{'n/a (scenedetect not installed)' if theirs is None else found == theirs}; " + _adds_up(split)
        )
        results["ten_minutes_scene"] = {
            **split,
            "equal_generated": found == [0] + cuts,
            "equal_pyscenedetect": None if theirs is None else found == theirs,
        }

        timing = {}
        for mode in ("copy", "reencode"):
            op = VideoSplitByDurationMapper(
                split_duration=10, keep_original_sample=False, cut_mode=mode, save_dir=str(tmp / mode)
            )
            timing[mode] = _check_split(op, path)
        ratio = timing["copy"]["seconds"] / timing["reencode"]["seconds"]
        print(
            f"clips: 10 s pieces of the 10-minute video: stream copy {timing['copy']['seconds']:.2f}s vs re-encode "
            f"{timing['reencode']['seconds']:.2f}s = {ratio:.1%} of the re-encode's time; "
            f"copy frames {timing['copy']['clip_frames']}/{timing['copy']['source_frames']}, "
            f"re-encode frames {timing['reencode']['clip_frames']}/{timing['reencode']['source_frames']}"
        )
        results["copy_vs_reencode"] = {
            **{k: {kk: vv for kk, vv in v.items() if kk != "starts"} for k, v in timing.items()},
            "ratio": ratio,
        }

        cost = _copy_then_verify(path, 10, tmp / "verify")
        print(
            f"clips: verifying the {cost['clips']} stream-copied 10 s pieces of the 10-minute video: "
            f"{cost['verify_s']:.2f}s vs the copy's {cost['copy_s']:.2f}s = {cost['verify_s'] / cost['copy_s']:.1f}x "
            f"({cost['failed']} failed)"
        )
        results["verify_ten_minutes"] = cost

        shared = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos"))
        corpus = Path(args.videos).parent / "corpus" if args.videos else shared / "corpus"
        if not corpus.is_dir():
            print(f"clips: {corpus} is absent; the corpus part is skipped")
        else:
            costs = [
                _copy_then_verify(source, 5, tmp / "verify_corpus" / source.name)
                for source in sorted(corpus.iterdir())
                if source.suffix != ".tsv"
            ]
            copy_s, verify_s = sum(c["copy_s"] for c in costs), sum(c["verify_s"] for c in costs)
            clips, failed = sum(c["clips"] for c in costs), sum(c["failed"] for c in costs)
            print(
                f"clips: verifying the {clips} stream-copied 5 s pieces of the {len(costs)} corpus files: "
                f"{verify_s:.2f}s vs the copies' {copy_s:.2f}s = {verify_s / copy_s:.1f}x ({failed} failed)"
            )
            results["verify_corpus"] = {"clips": clips, "copy_s": copy_s, "verify_s": verify_s, "failed": failed}
        for name in LONGEST_CORPUS:
            source = corpus / name
            if not source.exists():
                continue
            op = VideoSplitBySceneMapper(keep_original_sample=False, save_dir=str(tmp / "corpus"))
            split = _check_split(op, source)
            info = probe_video(str(source))
            found = [round(s * info.fps) for s in split["starts"]]
            theirs = _pyscenedetect(source)
            print(
                f"clips: {name}: {split['clips']} clips ({split['failed']} failed) in {split['seconds']:.1f}s; "
                f"starts {found[:8]}{'...' if len(found) > 8 else ''} vs PySceneDetect "
                f"{theirs if theirs is None else theirs[:8]}; " + _adds_up(split)
            )
            results[name] = {**split, "pyscenedetect": theirs}
    return results
