"""Throughput at scale: the local runner against the Ray executor at 1 and 2 CPUs, on thousands of samples.

    python tools/bench_scale.py                       # 2000 samples, the default recipe, all three runs
    python tools/bench_scale.py --samples 5000 --ops video_duration_filter video_motion_score_filter
    python tools/bench_scale.py --runs local:2 ray:2  # a subset of the runs

The dataset is built in a scratch folder: `--samples` rows cycling over the real videos of
../shared/videos/corpus (each sample one video, with its own text), so the work per sample is real decoding
of varied files. After the first pass over the corpus the files come from the page cache: this measures the
engine, not the disk. Every sample past the first 62 repeats a video, so exact deduplication (last in the
default recipe) drops most of them; the ops before it see every sample.

Ray runs start a local Ray instance with the given CPUs before the clock starts (start-up is reported
apart) and shut it down after. The local runner runs with `np: N` and `use_cache: false`.
Timings are wall-clock seconds of `djlite.run` (load + process + export); the machine should be otherwise idle.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos")) / "corpus"
DEFAULT_OPS = [
    {"video_duration_filter": {"max_duration": 60}},
    {"video_resolution_filter": {"min_width": 16}},
    {"video_aspect_ratio_filter": {"min_ratio": "1/4", "max_ratio": "4/1"}},
    {"video_deduplicator": {}},
]


def build_dataset(folder: Path, samples: int) -> Path:
    videos = sorted(p for p in CORPUS.iterdir() if p.name != "MANIFEST.tsv")
    if not videos:
        sys.exit(f"no videos in {CORPUS}")
    path = folder / "data.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(samples):
            video = videos[i % len(videos)]
            f.write(json.dumps({"text": f"<__dj__video> sample {i}", "videos": [str(video)], "id": i}) + "\n")
    return path


def recipe_for(dataset: Path, out: Path, ops: list[dict], executor: str, np_workers: int) -> dict:
    return {
        "dataset_path": str(dataset),
        "export_path": str(out / "res.jsonl"),
        "np": np_workers,
        "use_cache": False,
        "executor_type": executor,
        "process": ops,
    }


def run_once(name: str, dataset: Path, scratch: Path, ops: list[dict]) -> dict:
    import djlite

    executor, _, cpus = name.partition(":")
    cpus = int(cpus or os.cpu_count() or 1)
    out = scratch / name.replace(":", "_")
    startup = 0.0
    if executor == "ray":
        import ray

        start = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="warning")
        startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        result = djlite.run(recipe_for(dataset, out, ops, "ray" if executor == "ray" else "default", cpus))
        seconds = time.perf_counter() - start
    finally:
        if executor == "ray":
            ray.shutdown()
    summary = result.summary
    return {
        "run": name if executor == "ray" else f"local:{cpus}",
        "samples": summary["input"],
        "kept": summary["kept"],
        "errored": summary["errored"],
        "seconds": round(seconds, 2),
        "samples_per_s": round(summary["input"] / seconds, 1),
        "ray_startup_s": round(startup, 2) if executor == "ray" else None,
        "ops_seconds": {op["op"]: round(op["seconds"], 2) for op in summary["ops"]},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--ops", nargs="*", help="op names with default parameters (default: a metadata recipe)")
    parser.add_argument(
        "--runs",
        nargs="*",
        default=["local:1", "local:2", "ray:1", "ray:2"],
        help="local:N (np=N; plain `local`: every CPU), ray:N (a local Ray instance with N CPUs)",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    ops = [{name: {}} for name in args.ops] if args.ops else DEFAULT_OPS
    with tempfile.TemporaryDirectory(prefix="djlite-bench-scale-") as tmp:
        scratch = Path(tmp)
        dataset = build_dataset(scratch, args.samples)
        print(f"{args.samples} samples over {CORPUS}; ops: {[next(iter(op)) for op in ops]}", file=sys.stderr)
        results = [run_once(name, dataset, scratch, ops) for name in args.runs]

    header = f"{'run':<14} {'samples':>8} {'kept':>6} {'errored':>8} {'seconds':>8} {'samples/s':>10} {'ray start':>10}"
    print(header)
    for r in results:
        startup = f"{r['ray_startup_s']:.1f}" if r["ray_startup_s"] is not None else "-"
        print(
            f"{r['run']:<14} {r['samples']:>8} {r['kept']:>6} {r['errored']:>8} {r['seconds']:>8.1f} "
            f"{r['samples_per_s']:>10.1f} {startup:>10}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
