"""Benchmarks on the shared test videos: djlite's pipeline against the bare-loop floor of the same work.

    python tools/bench.py                      # every section
    python tools/bench.py --only motion        # one section (repeatable: --only motion --only ocr)
    python tools/bench.py --repeat 3           # best of 3 per measurement (the machines are shared and noisy)

Sections are functions registered in SECTIONS: `section(args) -> dict` prints its lines and returns its
numbers (written with --json). A new section (OCR, ...) adds a function and one SECTIONS entry, and reuses
run_dj_process() for the pipeline side. Timings are wall-clock seconds; "peak RSS" is each process's
high-water mark (VmHWM) read from /proc while dj-process runs, so np=2 reports one value per worker.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_VIDEOS = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos"))


# ---------------------------------------------------------------------------------------------- helpers


@dataclass
class PipelineRun:
    seconds: float
    cpu_seconds: float  # user + system time of the whole process tree (all workers and threads)
    returncode: int
    main_pid: int
    peak_rss_mb: dict[int, float] = field(default_factory=dict)  # pid -> VmHWM in MiB, every process seen
    names: dict[int, str] = field(default_factory=dict)  # pid -> command line
    stderr_tail: str = ""

    @property
    def workers_peak_mb(self) -> list[float]:
        """Peak RSS of the processes that did the work: the pool workers when there are any, else the main one."""
        workers = [mb for pid, mb in self.peak_rss_mb.items() if pid != self.main_pid]
        return sorted(workers) or [self.peak_rss_mb.get(self.main_pid, 0.0)]


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
        found.append(current)
    return found


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _watch_memory(pid: int, run: "PipelineRun", stop: threading.Event, interval: float = 0.1) -> None:
    while not stop.is_set():
        for child in _descendants(pid):
            hwm = _vm_hwm_mb(child)
            if hwm is not None:
                run.peak_rss_mb[child] = max(run.peak_rss_mb.get(child, 0.0), hwm)
                run.names.setdefault(child, _command_line(child))
        stop.wait(interval)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dj_process_command() -> list[str]:
    script = shutil.which("dj-process")
    return [script] if script else [sys.executable, "-m", "djlite.cli.process"]


def write_dataset(folder: Path, videos: list[Path]) -> Path:
    path = folder / "bench.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for video in videos:
            f.write(json.dumps({"text": f"<__dj__video> {video.stem}", "videos": [str(video)]}) + "\n")
    return path


def run_dj_process(recipe: Path, dataset: Path, np_workers: int, workdir: Path, *overrides: str) -> PipelineRun:
    """Run dj-process as a user does (a fresh interpreter: imports and start-up count), watching memory."""
    out = workdir / f"np{np_workers}_{time.monotonic_ns()}"
    command = dj_process_command() + [
        "--config", str(recipe),
        "--dataset_path", str(dataset),
        "--export_path", str(out / "res.jsonl"),
        "--np", str(np_workers),
        "--use_cache", "false",
        *overrides,
    ]  # fmt: skip
    stop = threading.Event()
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = PipelineRun(0.0, 0.0, 0, process.pid)
    watcher = threading.Thread(target=_watch_memory, args=(process.pid, run, stop), daemon=True)
    watcher.start()
    _, stderr = process.communicate()
    run.seconds = time.perf_counter() - start
    run.cpu_seconds = _children_cpu_seconds() - cpu_before
    stop.set()
    watcher.join()
    run.returncode, run.stderr_tail = process.returncode, stderr[-2000:]
    return run


def best_of(repeat: int, measure):
    """The fastest of `repeat` runs of measure() -> object with .seconds (noise only ever adds time)."""
    return min((measure() for _ in range(max(1, repeat))), key=lambda r: r.seconds)


# ---------------------------------------------------------------------------------------------- motion


def pipeline_runs(recipe: Path, videos: list[Path], repeat: int) -> dict[int, PipelineRun]:
    """dj-process on `recipe` over `videos` at np=1 and np=2, best of `repeat`; failed runs are reported, left out."""
    runs = {}
    with tempfile.TemporaryDirectory(prefix="djlite-bench-") as tmp:
        workdir = Path(tmp)
        dataset = write_dataset(workdir, videos)
        for np_workers in (1, 2):
            run = best_of(repeat, lambda n=np_workers: run_dj_process(recipe, dataset, n, workdir))
            if run.returncode != 0:
                print(f"  dj-process np={np_workers} failed ({run.returncode}):\n{run.stderr_tail}")
                continue
            runs[np_workers] = run
    return runs


@dataclass
class FloorRun:
    seconds: float
    cpu_seconds: float
    pairs: int
    frames_decoded: int
    scores: dict[str, float]


def motion_floor(videos: list[Path]) -> FloorRun:
    """The least work the motion filter can do: one PyAV decode per video, Farneback on exactly the filter's
    pairs (frames 0, 1, step, 2*step, ...), in a bare loop with no dataset, no runner and no reader."""
    import av
    import cv2
    import numpy as np

    from djlite.ops.filter.video_motion_score_filter import VideoMotionScoreFilter
    from djlite.video.probe import probe_video

    op = VideoMotionScoreFilter()
    farneback = op.farneback
    pairs = decoded = 0
    scores = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    for video in videos:
        step = op.sampling_step(probe_video(str(video)))
        previous, per_pair = None, []
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                decoded += 1
                if not (index == 0 or index == 1 or index % step == 0):
                    continue
                gray = cv2.cvtColor(frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)
                if previous is not None:
                    flow = cv2.calcOpticalFlowFarneback(previous, gray, None, *farneback)
                    per_pair.append(np.mean(cv2.cartToPolar(flow[..., 0], flow[..., 1])[0]))
                previous = gray
        pairs += len(per_pair)
        scores[video.name] = float(np.mean(per_pair)) if per_pair else -1.0
    return FloorRun(time.perf_counter() - start, time.process_time() - cpu_start, pairs, decoded, scores)


def bench_motion(args) -> dict:
    videos = sorted((args.videos or SHARED_VIDEOS / "dj").glob("*.mp4"))
    if not videos:
        print(f"motion: no videos under {args.videos or SHARED_VIDEOS / 'dj'}; skipped")
        return {}
    recipe = REPO / "recipes" / "tutorial_motion.yaml"
    print(f"motion: {len(videos)} videos, recipe {recipe.relative_to(REPO)}, best of {args.repeat}")
    floor = best_of(args.repeat, lambda: motion_floor(videos))
    print(f"  (a) floor, bare decode + Farneback loop: {floor.seconds:7.2f} s wall {floor.cpu_seconds:7.2f} s CPU  "
          f"({floor.pairs} pairs, {floor.frames_decoded} frames decoded)")  # fmt: skip
    results = {"videos": len(videos), "floor_seconds": floor.seconds, "floor_cpu_seconds": floor.cpu_seconds,
               "pairs": floor.pairs, "runs": {}}  # fmt: skip
    for np_workers, run in pipeline_runs(recipe, videos, args.repeat).items():
        peaks = ", ".join(f"{mb:.0f}" for mb in run.workers_peak_mb)
        # CPU time is the steadier ratio on a shared machine: other users' load stretches wall time only.
        wall_ratio, cpu_ratio = run.seconds / floor.seconds, run.cpu_seconds / floor.cpu_seconds
        print(f"  (b) dj-process np={np_workers}: {run.seconds:7.2f} s wall {run.cpu_seconds:7.2f} s CPU  "
              f"ratio (b)/(a) = {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU  "
              f"peak RSS per worker: {peaks} MiB")  # fmt: skip
        results["runs"][np_workers] = {
            "seconds": run.seconds, "cpu_seconds": run.cpu_seconds, "worker_peak_rss_mb": run.workers_peak_mb,
        }  # fmt: skip
    runs = results["runs"]
    if 1 in runs and 2 in runs:
        speedup = runs[1]["seconds"] / runs[2]["seconds"]
        results["np2_speedup"] = speedup
        print(f"  speed-up from np=2: {speedup:.2f}x on {os.cpu_count()} CPUs")
    if 1 in runs:
        results["ratio_np1"] = runs[1]["seconds"] / floor.seconds
        results["cpu_ratio_np1"] = runs[1]["cpu_seconds"] / floor.cpu_seconds
    return results


# ---------------------------------------------------------------------------------------------- ocr


def ocr_floor(videos: list[Path], repeat: int) -> dict:
    """The least work the OCR filter can do: the default detector on exactly the filter's frames (uniform 3
    per video, decoded beforehand, not timed), in a bare loop with no dataset, no runner and no reader."""
    from djlite.ocr import area_ratio, load_detector
    from djlite.ops.filter.video_ocr_area_ratio_filter import VideoOcrAreaRatioFilter
    from djlite.video.reader import decode_plan
    from djlite.video.sampling import uniform

    plan = uniform(VideoOcrAreaRatioFilter().frame_sample_num)
    start = time.perf_counter()
    frames = {video.name: [f.rgb() for f in decode_plan(str(video), plan)] for video in videos}
    decode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    detector = load_detector("rapidocr")
    load_seconds = time.perf_counter() - start
    detector.detect(next(iter(frames.values()))[0])  # first inference allocates; not part of the per-frame cost
    count = sum(len(f) for f in frames.values())
    best, ratios = float("inf"), {}
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        for name, images in frames.items():
            per_frame = [area_ratio(detector.detect(rgb), rgb.shape[1], rgb.shape[0]) for rgb in images]
            ratios[name] = sum(per_frame) / len(per_frame)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "frames": count, "decode_seconds": decode_seconds, "load_seconds": load_seconds,
            "ratios": ratios}  # fmt: skip


def bench_ocr(args) -> dict:
    videos = sorted((args.videos or SHARED_VIDEOS / "dj").glob("*.mp4"))
    if not videos:
        print(f"ocr: no videos under {args.videos or SHARED_VIDEOS / 'dj'}; skipped")
        return {}
    recipe = REPO / "recipes" / "tutorial_ocr.yaml"
    print(f"ocr: {len(videos)} videos, recipe {recipe.relative_to(REPO)}, backend rapidocr, best of {args.repeat}")
    floor = ocr_floor(videos, args.repeat)
    per_frame_ms = 1000 * floor["seconds"] / floor["frames"]
    print(f"  (a) floor, bare detector loop on the filter's {floor['frames']} frames: {floor['seconds']:7.2f} s  "
          f"({per_frame_ms:.0f} ms/frame; model load {floor['load_seconds']:.2f} s and decoding "
          f"{floor['decode_seconds']:.2f} s not included)")  # fmt: skip
    results = {"videos": len(videos), "frames": floor["frames"], "floor_seconds": floor["seconds"],
               "ms_per_frame": per_frame_ms, "ratios": floor["ratios"], "runs": {}}  # fmt: skip
    for np_workers, run in pipeline_runs(recipe, videos, args.repeat).items():
        peaks = ", ".join(f"{mb:.0f}" for mb in run.workers_peak_mb)
        print(f"  (b) dj-process np={np_workers}: {run.seconds:7.2f} s  ratio (b)/(a) = "
              f"{run.seconds / floor['seconds']:.2f}x  peak RSS per worker: {peaks} MiB")  # fmt: skip
        results["runs"][np_workers] = {"seconds": run.seconds, "worker_peak_rss_mb": run.workers_peak_mb}
    if 1 in results["runs"]:
        results["ratio_np1"] = results["runs"][1]["seconds"] / floor["seconds"]
    return results


def bench_both(args) -> dict:
    """Motion and OCR in one recipe: count the decode passes per video (the shared frame plans' promise is
    one) and compare the time with the two single-filter recipes run one after the other."""
    import djlite
    import djlite.video.reader as reader

    videos = sorted((args.videos or SHARED_VIDEOS / "dj").glob("*.mp4"))
    if not videos:
        print("both: no videos; skipped")
        return {}
    passes: dict[str, int] = {}
    decoded: dict[str, int] = {}
    original = reader.read_frames

    def counting_read_frames(info, consumers):
        report = original(info, consumers)
        passes[info.path] = passes.get(info.path, 0) + 1
        decoded[info.path] = decoded.get(info.path, 0) + report.frames_decoded
        return report

    motion = {"video_motion_score_filter": {"min_score": 2.0}}
    ocr = {"video_ocr_area_ratio_filter": {"max_area_ratio": 1e9}}  # keep everything: both ops see every video
    print(f"both: {len(videos)} videos, motion + OCR in one recipe, np=1, in-process")
    results = {}
    with tempfile.TemporaryDirectory(prefix="djlite-bench-") as tmp:
        dataset = write_dataset(Path(tmp), videos)

        def run(process, name):
            start = time.perf_counter()
            djlite.run({"dataset_path": str(dataset), "export_path": f"{tmp}/{name}/res.jsonl", "np": 1,
                        "use_cache": False, "process": process})  # fmt: skip
            return time.perf_counter() - start

        reader.read_frames = counting_read_frames
        try:
            both = run([ocr, motion], "both")
        finally:
            reader.read_frames = original
        separate = run([motion], "motion") + run([ocr], "ocr")
    per_video = sorted(set(passes.values()))
    print(f"  decode passes per video: {per_video} (frames decoded: {sum(decoded.values())})")
    print(f"  one recipe with both: {both:7.2f} s   the two recipes one after the other: {separate:7.2f} s  "
          f"({separate / both:.2f}x)")  # fmt: skip
    results.update(passes_per_video=per_video, both_seconds=both, separate_seconds=separate)
    return results


# ---------------------------------------------------------------------------------------------- embed


def embed_floor(videos: list[Path], backend_name: str, batch: int = 32) -> dict:
    """The least work the embedding op can do: one PyAV decode per video, the frames of a 1 fps grid (first frame
    at or after each second, at most 300), the backend's prepare + embed in batches of `batch`, in a bare loop with
    no dataset, no runner and no reader. The model is loaded (and run once) before the clock starts."""
    import av
    import numpy as np

    from djlite.embed.backends import make_backend

    backend = make_backend(backend_name)
    backend.setup()
    backend.embed(np.stack([backend.prepare(np.zeros((64, 64, 3), np.uint8))]))
    frames = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for video in videos:
        pending, next_time, origin, taken = [], 0.0, None, 0
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                origin = frame.pts if origin is None else origin
                t = float((frame.pts - origin) * stream.time_base)
                if t + 1e-6 < next_time or taken >= 300:
                    continue
                next_time, taken = float(np.floor(t + 1e-6)) + 1.0, taken + 1
                pending.append(backend.prepare(frame.to_ndarray(format="rgb24")))
                if len(pending) == batch:
                    backend.embed(np.stack(pending))
                    frames, pending = frames + len(pending), []
        if pending:
            backend.embed(np.stack(pending))
            frames += len(pending)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start, "frames": frames}


def bench_embed(args) -> dict:
    """video_frame_embedding_mapper (1 fps, EfficientNet-Lite0 unless --embed_backend) against embed_floor."""
    videos = sorted((args.videos or SHARED_VIDEOS / "dj").glob("*.mp4"))
    if not videos:
        print(f"embed: no videos under {args.videos or SHARED_VIDEOS / 'dj'}; skipped")
        return {}
    backend = args.embed_backend
    floor = best_of(args.repeat, lambda: _Timed(embed_floor(videos, backend)))
    frames = floor.result["frames"]
    print(f"embed: {len(videos)} videos, backend {backend}, {frames} frames at 1 fps, best of {args.repeat}")
    print(f"  (a) floor, bare decode + batched {backend} loop: {floor.seconds:7.2f} s  "
          f"({frames / floor.seconds:.1f} frames/s; model load not included)")  # fmt: skip
    results = {"videos": len(videos), "frames": frames, "floor_seconds": floor.seconds, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="djlite-bench-embed-") as tmp:
        workdir = Path(tmp)
        dataset = write_dataset(workdir, videos)
        recipe = workdir / "embed.yaml"
        recipe.write_text(json.dumps({"process": [{"video_frame_embedding_mapper": {"backend": backend}}]}))
        for np_workers in (1, 2):
            # A fresh export folder per run, so no run finds another's sidecars.
            run = best_of(args.repeat, lambda n=np_workers: run_dj_process(recipe, dataset, n, workdir))
            if run.returncode != 0:
                print(f"  dj-process np={np_workers} failed ({run.returncode}):\n{run.stderr_tail}")
                continue
            summaries = sorted(workdir.glob(f"np{np_workers}_*/res_op_summary.json"), key=os.path.getmtime)
            op_seconds = json.loads(summaries[-1].read_text())["ops"][0]["seconds"]
            peaks = ", ".join(f"{mb:.0f}" for mb in run.workers_peak_mb)
            print(f"  (b) dj-process np={np_workers}: {run.seconds:7.2f} s wall ({frames / run.seconds:.1f} frames/s), "
                  f"the op itself {op_seconds:.2f} s ({frames / op_seconds:.1f} frames/s)  ratio (b)/(a) = "
                  f"{run.seconds / floor.seconds:.2f}x wall, {op_seconds / floor.seconds:.2f}x op  "
                  f"peak RSS per worker: {peaks} MiB")  # fmt: skip
            results["runs"][np_workers] = {"seconds": run.seconds, "op_seconds": op_seconds,
                                           "worker_peak_rss_mb": run.workers_peak_mb}  # fmt: skip
    return results


@dataclass
class _Timed:
    result: dict

    @property
    def seconds(self) -> float:
        return self.result["seconds"]


# ---------------------------------------------------------------------------------------------- threshold


THRESHOLD_PROCESS = [
    {"video_duration_filter": {"min_duration": 1}},
    {"video_resolution_filter": {"min_width": 32, "min_height": 32}},
    {"video_aspect_ratio_filter": {"min_ratio": "9/21", "max_ratio": "21/9"}},
    {"video_ocr_area_ratio_filter": {"max_area_ratio": 0.2, "frame_sample_num": 3}},
    {"video_motion_score_filter": {"min_score": 0.25}},
    {"video_deduplicator": {}},
    {"video_near_deduplicator": {}},
]  # the demo recipe's ops (recipes/demo.yaml), here over the corpus
# A threshold-only change of every step that has one.
NEW_THRESHOLDS = (
    "--video_duration_filter.min_duration", "2",
    "--video_resolution_filter.min_width", "200",
    "--video_aspect_ratio_filter.min_ratio", "4/3",
    "--video_ocr_area_ratio_filter.max_area_ratio", "0.05",
    "--video_motion_score_filter.min_score", "1.0",
    "--video_near_deduplicator.threshold", "0.1",
)  # fmt: skip


@dataclass
class CliRun:
    seconds: float  # wall
    cpu_seconds: float  # user + system of the process and its workers: steadier than wall on a shared machine


def _timed_cli(module: str, args: list[str], env: dict, cwd: Path) -> CliRun:
    command = [sys.executable, "-m", module, *args]
    cpu_before, start = _children_cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = CliRun(time.perf_counter() - start, _children_cpu_seconds() - cpu_before)
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return run


def bench_threshold(args) -> dict:
    """Change a threshold, re-run in seconds (issue 9): the corpus with the demo recipe's ops, run once with fresh
    caches, then again with every threshold changed. The re-run takes its stats (and near-duplicate signatures)
    from djlite's stats cache and opens no video. Also: dj-process after dj-analyze on the same data, and the
    re-run's files compared byte for byte with a run that computes everything (use_cache: false)."""
    folder = args.videos or SHARED_VIDEOS / "corpus"
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "MANIFEST.tsv") if folder.is_dir() else []
    if args.max_videos:
        videos = videos[: args.max_videos]
    if not videos:
        print(f"threshold: no videos under {folder}; skipped")
        return {}
    np_workers = args.np or 1
    print(f"threshold: {len(videos)} videos from {folder}, the demo recipe's 7 ops, np={np_workers}", flush=True)
    with tempfile.TemporaryDirectory(prefix="djlite-bench-") as tmp:
        work = Path(tmp)
        dataset = write_dataset(work, videos)
        recipe = work / "corpus.yaml"
        recipe.write_text(
            json.dumps({"project_name": "corpus", "dataset_path": str(dataset), "np": np_workers,
                        "export_path": str(work / "first" / "res.jsonl"), "process": THRESHOLD_PROCESS})
        )  # fmt: skip

        def env_with(name: str) -> dict:
            caches = work / "caches" / name
            return dict(os.environ, HF_DATASETS_CACHE=str(caches / "hf"), DJLITE_CACHE_DIR=str(caches / "stats"))

        def process(out: str, env: dict, *extra: str) -> CliRun:
            export = ["--export_path", str(work / out / "res.jsonl")]
            return _timed_cli("djlite.cli.process", ["--config", str(recipe), *export, *extra], env, work)

        def line(label: str, run: CliRun, note: str = "") -> None:
            wall, cpu = 100 * run.seconds / first.seconds, 100 * run.cpu_seconds / first.cpu_seconds
            share = f"= {wall:5.1f}% wall, {cpu:5.1f}% CPU of the first run"
            print(f"  {label:<36} {run.seconds:8.2f} s wall {run.cpu_seconds:8.2f} s CPU  "
                  f"{share if run is not first else ''}{note}", flush=True)  # fmt: skip

        shared = env_with("shared")
        first = process("first", shared)
        line("first run, fresh caches:", first)
        rerun = process("rerun", shared, *NEW_THRESHOLDS)
        summary = json.loads((work / "rerun" / "res_op_summary.json").read_text())
        line("every threshold changed, re-run:", rerun,
             f"  (kept {summary['kept']}, filtered {summary['filtered']}, errored {summary['errored']})")  # fmt: skip
        out = {"videos": len(videos), "np": np_workers, "first_seconds": first.seconds,
               "first_cpu_seconds": first.cpu_seconds, "rerun_seconds": rerun.seconds,
               "rerun_cpu_seconds": rerun.cpu_seconds, "rerun_share_wall": rerun.seconds / first.seconds,
               "rerun_share_cpu": rerun.cpu_seconds / first.cpu_seconds}  # fmt: skip
        if args.no_verify:
            return out
        cold = process("cold", env_with("cold"), *NEW_THRESHOLDS, "--use_cache", "false")
        same = all(
            (work / "rerun" / name).read_bytes() == (work / "cold" / name).read_bytes()
            for name in ("res.jsonl", "res_stats.jsonl", "res_errors.jsonl")
        )
        line("new thresholds, nothing cached:", cold, f"  outputs byte-identical to the re-run: {same}")

        analyze_env = env_with("analyze")
        analyzed = _timed_cli(
            "djlite.cli.analyze", ["--config", str(recipe), "--no_thumbnails", "--work_dir", str(work / "an")],
            analyze_env, work,
        )  # fmt: skip
        after = process("after_analyze", analyze_env)
        line("dj-analyze --config (stats pass):", analyzed)
        line("then dj-process on the same data:", after, "  (near-duplicate signatures: not in a stats pass)")
    out.update(rerun_equals_cold=same, cold_seconds=cold.seconds, cold_cpu_seconds=cold.cpu_seconds)
    out.update(analyze_seconds=analyzed.seconds, analyze_cpu_seconds=analyzed.cpu_seconds)
    out.update(process_after_analyze_seconds=after.seconds, process_after_analyze_cpu_seconds=after.cpu_seconds)
    return out


# ---------------------------------------------------------------------------------------------- mediasequence


@dataclass
class ExportFloorRun:
    seconds: float
    cpu_seconds: float
    frames: int
    jpeg_bytes: int


def mediasequence_floor(videos: list[Path], rate: float = 24.0, quality: int = 80) -> ExportFloorRun:
    """The least work a MediaSequence export can do: one PyAV decode per video, the fps grid's frames (first frame
    at or after each k / rate) JPEG-encoded, in a bare loop with no dataset, no runner, no records, no files."""
    import av
    import cv2

    frames = size = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for video in videos:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin, k = None, 0
            for frame in container.decode(stream):
                origin = frame.pts if origin is None else origin
                t = float((frame.pts - origin) * stream.time_base)
                if t + 1e-6 < k / rate:
                    continue
                k = int((t + 1e-6) * rate) + 1
                ok, data = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, quality])
                frames += 1
                size += len(data)
    return ExportFloorRun(time.perf_counter() - start, time.process_time() - cpu_start, frames, size)


def make_long_clip(path: Path, minutes: float, size=(160, 96), rate: int = 24) -> Path:
    """A panning texture, `minutes` long: the memory check needs length, not pixels."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (size[1], size[0] * 4, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for i in range(int(minutes * 60 * rate)):
            x = (i * 3) % (texture.shape[1] - size[0])
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, x : x + size[0]]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bench_mediasequence(args) -> dict:
    """dj-process exporting to MediaSequence (default 24 fps, JPEG 80) vs the bare decode + JPEG loop; then peak
    memory exporting a generated 2-minute and 20-minute clip (it must not grow with the clip's length)."""
    videos = sorted((args.videos or SHARED_VIDEOS / "dj").glob("*.mp4"))
    if not videos:
        print(f"mediasequence: no videos under {args.videos or SHARED_VIDEOS / 'dj'}; skipped")
        return {}
    print(
        f"mediasequence: {len(videos)} videos, export_type mediasequence at the default 24 fps, best of {args.repeat}"
    )
    floor = best_of(args.repeat, lambda: mediasequence_floor(videos))
    print(f"  (a) floor, bare decode + JPEG loop:   {floor.seconds:7.2f} s wall {floor.cpu_seconds:7.2f} s CPU  "
          f"({floor.frames} frames, {floor.jpeg_bytes / 2**20:.1f} MiB of JPEG)")  # fmt: skip
    results = {"videos": len(videos), "floor_seconds": floor.seconds, "floor_frames": floor.frames}
    with tempfile.TemporaryDirectory(prefix="djlite-bench-ms-") as tmp:
        workdir = Path(tmp)
        recipe = workdir / "mediasequence.yaml"
        recipe.write_text("export_type: mediasequence\nprocess: []\n")
        dataset = write_dataset(workdir, videos)
        run = best_of(args.repeat, lambda: run_dj_process(recipe, dataset, 1, workdir))
        if run.returncode != 0:
            print(f"  dj-process failed ({run.returncode}):\n{run.stderr_tail}")
            return results
        ratio = run.seconds / floor.seconds
        print(f"  (b) dj-process np=1 -> MediaSequence: {run.seconds:7.2f} s wall {run.cpu_seconds:7.2f} s CPU  "
              f"ratio (b)/(a) = {ratio:.2f}x wall, {run.cpu_seconds / floor.cpu_seconds:.2f}x CPU")  # fmt: skip
        results.update(seconds=run.seconds, ratio_np1=ratio, cpu_ratio_np1=run.cpu_seconds / floor.cpu_seconds)
        peaks = {}
        for minutes in (2, 20):
            clip = make_long_clip(workdir / f"long_{minutes}min.mp4", minutes)
            long_dataset = write_dataset(workdir, [clip])
            long_run = run_dj_process(recipe, long_dataset, 1, workdir)
            records = sorted(workdir.glob("np1_*/res-*.tfrecord"), key=os.path.getmtime)
            size = os.path.getsize(records[-1]) / 2**20 if records else 0.0
            peaks[minutes] = long_run.peak_rss_mb.get(long_run.main_pid, 0.0)
            print(f"  {minutes:2d}-minute clip: {long_run.seconds:6.1f} s, one record of {size:6.1f} MiB, "
                  f"peak RSS {peaks[minutes]:.0f} MiB (rc={long_run.returncode})")  # fmt: skip
        results["peak_rss_mb"] = peaks
        print(f"  peak RSS 20 min / 2 min: {peaks[20] / max(peaks[2], 1):.2f}x for 10x the frames")
    return results


def bench_resync(args) -> dict:
    """A lenient TFRecord read over a file with megabytes of garbage between its records: the reader must find
    the next valid header in every position of the garbage. No videos needed."""
    import numpy as np

    from djlite.formats.tfrecord import TFRecordReader, frame_record

    garbage_mb = 4
    rng = np.random.default_rng(0)
    records = [rng.integers(0, 256, 1000, dtype=np.uint8).tobytes() for _ in range(100)]
    garbage = rng.integers(0, 256, garbage_mb << 20, dtype=np.uint8).tobytes()
    framed = [frame_record(r) for r in records]
    with tempfile.TemporaryDirectory(prefix="djlite-bench-resync-") as tmp:
        path = os.path.join(tmp, "garbage.tfrecord")
        with open(path, "wb") as f:
            f.write(b"".join(framed[:50]) + garbage + b"".join(framed[50:]))

        def measure():
            reader = TFRecordReader(path, strict=False)
            start = time.perf_counter()
            count = sum(1 for _ in reader)
            return time.perf_counter() - start, count, reader.bad_records

        seconds, count, bad = min((measure() for _ in range(max(1, args.repeat))), key=lambda m: m[0])
    print(f"resync: {garbage_mb} MiB of garbage between 100 records of 1000 bytes, lenient read, best of {args.repeat}")
    print(f"  {seconds:7.3f} s ({seconds / garbage_mb:.3f} s per MiB of garbage); {count} records read, {bad} bad")
    return {"garbage_mb": garbage_mb, "seconds": seconds, "seconds_per_mb": seconds / garbage_mb, "records": count}


# ---------------------------------------------------------------------------------------------- main

from bench_clips import bench_clips  # noqa: E402 - tools/ is on sys.path when bench.py runs as a script

SECTIONS = {
    "clips": bench_clips,
    "motion": bench_motion,
    "ocr": bench_ocr,
    "both": bench_both,
    "embed": bench_embed,
    "threshold": bench_threshold,
    "mediasequence": bench_mediasequence,
    "resync": bench_resync,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per measurement")
    parser.add_argument("--videos", type=Path, default=None, help="folder of videos (default: ../shared/videos/dj)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    parser.add_argument("--embed_backend", default="efficientnet_lite0", help="the embed section's backend")
    parser.add_argument("--np", type=int, default=None, help="threshold: np of the runs (default 1)")
    parser.add_argument("--max_videos", type=int, default=None, help="threshold: the first N videos only")
    parser.add_argument(
        "--no_verify", action="store_true", help="threshold: skip the uncached run and the dj-analyze comparison"
    )
    args = parser.parse_args(argv)
    results = {}
    for name in args.only or list(SECTIONS):
        results[name] = SECTIONS[name](args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
