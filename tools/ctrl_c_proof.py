"""Proof that Ctrl-C stops dj-process cleanly at any moment of a run, on a loaded machine.

    python tools/ctrl_c_proof.py                     # 20 trials at np 1 and 20 at np 2, on the dj videos
    python tools/ctrl_c_proof.py --np 2 --trials 5 --seed 3 --videos corpus

A recipe (duration, resolution, motion score, exact dedup, a jsonl export) runs over the videos while one
busy-loop process per core loads the machine (started and stopped here). One uninterrupted run per np gives
the run's length T; then each trial starts a fresh dj-process in its own session and, at a seeded random
moment in [0, T), sends SIGINT to its whole process group, as a terminal does. A trial passes when:

- the run exits with status 130 within --limit seconds (10) of the signal, its last stderr line is the
  one-line "interrupted" message and stderr has no traceback;
- no process of the run is left once it has exited: none of the processes seen while it ran (workers, fork
  server, resource tracker), none of its session (each is named, with its command line, when one is);
- no file is left half-made: no lock, temporary or chunk file in the export folder, nothing in the run's
  TMPDIR, no temporary in its datasets cache, and no result file (the run did not finish).

A run that finished before its signal, or had committed its outputs when it came (it then exits 0), is reported
and not counted. One line per trial, then a summary; the
exit status is 1 when a trial failed.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from helpers import session_processes  # noqa: E402 - the tests' own: live processes of a session

SHARED_VIDEOS = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos"))
INTERRUPTED = "dj-process: interrupted; no output of this run was completed"
PROCESS = [
    {"video_duration_filter": {"min_duration": 0.5}},
    {"video_resolution_filter": {"min_width": 16, "min_height": 16}},
    {"video_motion_score_filter": {"sampling_fps": 0.5, "min_score": 0.0}},
    {"video_deduplicator": {}},
]


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, session, ..."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
    except OSError:
        return "?"


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            found.update(children)
            todo.extend(children)
    return found


def start_load(processes: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]


def stop_load(load: list[subprocess.Popen]) -> None:
    for process in load:
        process.kill()
    for process in load:
        process.wait(timeout=10)


def write_trial(root: Path, name: str, videos: list[Path], np_workers: int) -> tuple[Path, dict]:
    """A fresh folder for one run: its recipe, dataset, export folder, TMPDIR and caches."""
    folder = root / name
    for sub in ("out", "tmp", "hf", "stats"):
        (folder / sub).mkdir(parents=True)
    dataset = folder / "data.jsonl"
    with open(dataset, "w", encoding="utf-8") as f:
        for video in videos:
            f.write(json.dumps({"text": f"<__dj__video> {video.stem}", "videos": [str(video)]}) + "\n")
    recipe = {
        "project_name": "ctrl_c_proof",
        "dataset_path": str(dataset),
        "export_path": str(folder / "out" / "res.jsonl"),
        "np": np_workers,
        "use_cache": False,
        "process": PROCESS,
    }
    (folder / "recipe.yaml").write_text(json.dumps(recipe))  # JSON is YAML
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        TMPDIR=str(folder / "tmp"),
        HF_DATASETS_CACHE=str(folder / "hf"),
        DJLITE_CACHE_DIR=str(folder / "stats"),
    )
    return folder, env


def start_run(folder: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "djlite.cli.process", "--config", str(folder / "recipe.yaml")],
        stdout=open(folder / "stdout.txt", "w"),
        stderr=open(folder / "stderr.txt", "w"),
        env=env,
        start_new_session=True,
    )


def calibrate(root: Path, videos: list[Path], np_workers: int) -> float:
    folder, env = write_trial(root, f"np{np_workers}-calibration", videos, np_workers)
    started = time.monotonic()
    run = start_run(folder, env)
    run.wait(timeout=600)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"the uninterrupted run failed (exit {run.returncode}): see {folder / 'stderr.txt'}")
    return seconds


def leftover_files(folder: Path) -> list[str]:
    left = []
    for path in (folder / "out").rglob("*"):
        name = path.name
        if name.startswith(".") or ".tmp" in name or name.startswith("chunk-"):
            left.append(str(path.relative_to(folder)))
    left += [str(p.relative_to(folder)) for p in (folder / "tmp").iterdir()]
    left += [str(p.relative_to(folder)) for p in (folder / "hf").rglob("tmp*")]
    if (folder / "out" / "res.jsonl").exists():
        left.append("out/res.jsonl (a result, from an interrupted run)")
    return left


def last_log_line(folder: Path) -> str:
    """Where the run was: its last log line so far, paths left out."""
    lines = [line for line in (folder / "stderr.txt").read_text(errors="replace").splitlines() if " INFO " in line]
    return re.sub(r" ?/\S+", "", lines[-1].split(" INFO ", 1)[1]).strip()[:48] if lines else "starting"


def trial(root: Path, videos: list[Path], np_workers: int, number: int, delay: float, limit: float) -> dict:
    folder, env = write_trial(root, f"np{np_workers}-{number:02d}", videos, np_workers)
    run = start_run(folder, env)
    try:
        return _interrupt(folder, run, np_workers, number, delay, limit)
    finally:
        if run.poll() is None:  # this script was stopped: so is the run
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)


def _interrupt(folder: Path, run: subprocess.Popen, np_workers: int, number: int, delay: float, limit: float) -> dict:
    seen: set[int] = set()
    started = time.monotonic()
    while time.monotonic() - started < delay and run.poll() is None:
        seen |= descendants(run.pid)
        time.sleep(0.01)
    result = {"np": np_workers, "trial": number, "delay": delay, "failures": []}
    if run.poll() is not None:
        result["finished_early"] = True
        shutil.rmtree(folder, ignore_errors=True)
        return result
    seen |= descendants(run.pid)
    at_signal = {pid for pid in seen if alive(pid)}
    phase = last_log_line(folder)
    os.killpg(run.pid, signal.SIGINT)
    signalled = time.monotonic()
    try:
        run.wait(timeout=limit)
        result["exit_seconds"] = time.monotonic() - signalled
    except subprocess.TimeoutExpired:
        result["failures"].append(f"still running {limit:.0f} s after SIGINT")
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    left = {pid: command_line(pid) for pid in {p for p in seen if alive(p)} | set(session_processes(run.pid))}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    stderr = (folder / "stderr.txt").read_text(errors="replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    if run.returncode == 0 and INTERRUPTED not in stderr and not left and "Traceback" not in stderr:
        # The signal came after the run had committed its outputs (dj-process then finishes, exit 0).
        result["finished_early"] = True
        shutil.rmtree(folder, ignore_errors=True)
        return result
    if run.returncode != 130:
        result["failures"].append(f"exit status {run.returncode}")
    if not lines or lines[-1] != INTERRUPTED:
        result["failures"].append(f"last line {lines[-1][:80] if lines else ''!r}")
    if "Traceback" in stderr:
        result["failures"].append("a traceback on stderr")
    if left:
        result["failures"].append(f"processes left: {left}")
    files = leftover_files(folder)
    if files:
        result["failures"].append(f"files left: {files[:4]}")
    result.update(processes_at_signal=len(at_signal), phase=phase, returncode=run.returncode)
    if not result["failures"]:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def line(result: dict) -> str:
    head = f"np={result['np']} trial {result['trial']:02d} SIGINT at {result['delay']:6.2f} s"
    if result.get("finished_early"):
        return f"{head}: the run had already finished (not counted)"
    verdict = "ok" if not result["failures"] else "FAIL: " + "; ".join(result["failures"])
    exit_in = f"{result['exit_seconds']:.2f} s" if "exit_seconds" in result else "-"
    return (
        f"{head} ({result['processes_at_signal']} child processes; last log: {result['phase']}): "
        f"exit {result['returncode']} in {exit_in}; {verdict}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per np (default 20)")
    parser.add_argument("--np", type=int, action="append", dest="nps", help="np to test (repeatable; default 1 and 2)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--videos", choices=("dj", "corpus"), default="dj", help="shared video folder to run on")
    parser.add_argument("--load", type=int, default=os.cpu_count() or 1, help="busy loops (default: one a core)")
    parser.add_argument("--limit", type=float, default=10.0, help="seconds a run may take to exit after SIGINT")
    args = parser.parse_args(argv)
    videos = sorted((SHARED_VIDEOS / args.videos).glob("*.mp4"))
    if not videos:
        sys.exit(f"no videos in {SHARED_VIDEOS / args.videos}; set DJLITE_SHARED_VIDEOS")
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="djlite-ctrl-c-proof-"))
    load = start_load(args.load)
    results = []
    try:
        for np_workers in args.nps or [1, 2]:
            length = calibrate(root, videos, np_workers)
            print(f"np={np_workers}: an uninterrupted run takes {length:.2f} s under load ({args.load} busy loops)")
            for number in range(1, args.trials + 1):
                results.append(trial(root, videos, np_workers, number, rng.uniform(0, length), args.limit))
                print(line(results[-1]), flush=True)
    finally:
        stop_load(load)
    failed = False
    for np_workers in args.nps or [1, 2]:
        mine = [r for r in results if r["np"] == np_workers and not r.get("finished_early")]
        bad = [r for r in mine if r["failures"]]
        slowest = max((r.get("exit_seconds", args.limit) for r in mine), default=0.0)
        early = sum(1 for r in results if r["np"] == np_workers and r.get("finished_early"))
        print(
            f"summary np={np_workers}: {len(mine) - len(bad)} of {len(mine)} trials ok, slowest exit "
            f"{slowest:.2f} s after SIGINT; {early} finished before their signal"
        )
        failed |= bool(bad)
    if failed:
        print(f"failed trials kept under {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
