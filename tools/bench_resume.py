"""Resume benchmark (issue 15): a multi-stage run killed with kill -9 at 25%, 50% and 90% of its work and
started again with the same command gives byte-identical outputs; reports the work redone per stage.

    PYTHONPATH=$PWD python tools/bench_resume.py [--rows 240] [--chunk 8] [--np 1 2]

The recipe: [mapper a + length filter] -> [deduplicator's hashing + its selection] -> [mapper b], the test ops
of tests/robust_ops.py, which log every sample they finish (so the work done twice can be counted exactly)
and sleep `--delay` seconds per sample in each mapper to stand in for decoding. Not a timing benchmark: the
numbers are counts of samples, reproducible on any machine.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DRIVER = (
    f"import sys; sys.path.insert(0, {str(TESTS)!r}); import robust_ops; "
    "from djlite.cli.process import main; sys.exit(main(sys.argv[1:]))"
)
STAGES = ("a", "len", "hash", "b")  # stage 0: mapper a + length filter; 1: dedup hash; 2: mapper b
OUTPUTS = ("res.jsonl", "res_stats.jsonl", "res_errors.jsonl")


def recipe(folder: Path, dataset: Path, name: str, np_workers: int, chunk: int, delay: float) -> Path:
    log = folder / f"{name}.log"
    process = [
        {"test_work_mapper": {"tag": "a", "log_path": str(log), "delay": delay}},
        {"test_text_length_filter": {"max_len": 14, "log_path": str(log)}},
        {"test_text_deduplicator": {"prefix": 8, "log_path": str(log)}},
        {"test_work_mapper": {"tag": "b", "log_path": str(log), "delay": delay}},
    ]
    data = {
        "dataset_path": str(dataset),
        "export_path": str(folder / name / "res.jsonl"),
        "np": np_workers,
        "use_checkpoint": True,
        "chunk_rows": chunk,
        "process": process,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def work(log: Path) -> dict[str, int]:
    counts = dict.fromkeys(STAGES, 0)
    if log.exists():
        for line in log.read_text().splitlines():
            tag = line.split("\t", 1)[0]
            if tag in counts and line.count("\t") == 2:
                counts[tag] += 1
    return counts


def run(path: Path, kill_after: int | None = None, log: Path | None = None) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if kill_after is None:
        return proc.wait(timeout=3600)
    while proc.poll() is None:
        if sum(work(log).values()) >= kill_after:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return -9
        time.sleep(0.01)
    return proc.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=240)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--np", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        folder = Path(tmp)
        dataset = folder / "data.jsonl"
        with open(dataset, "w") as f:
            for i in range(args.rows):  # every 10th row duplicates its predecessor's first 8 characters
                f.write(json.dumps({"text": f"row-{i - (i % 10 == 9):04d} {i}"}) + "\n")
        ref = recipe(folder, dataset, "ref", 1, args.chunk, 0.0)
        assert run(ref) == 0
        total = work(folder / "ref.log")
        print(f"rows={args.rows} chunk_rows={args.chunk}; work of an uninterrupted run (samples per op): {total}")
        rows = []
        for np_workers in args.np:
            for fraction in (0.25, 0.5, 0.9):
                name = f"np{np_workers}-kill{int(fraction * 100)}"
                path = recipe(folder, dataset, name, np_workers, args.chunk, args.delay)
                log = folder / f"{name}.log"
                killed = run(path, kill_after=int(fraction * sum(total.values())), log=log)
                before = work(log)
                assert run(path) == 0, f"{name}: the resumed run failed"
                after = work(log)
                redone = {tag: after[tag] - total[tag] for tag in STAGES}
                same = all((folder / name / n).read_bytes() == (folder / "ref" / n).read_bytes() for n in OUTPUTS)
                rows.append((np_workers, fraction, killed, sum(before.values()), redone, same))
        print(f"{'np':>3} {'killed at':>9} {'done then':>9}  redone samples per op (a, len, hash, b)   identical")
        for np_workers, fraction, killed, before, redone, same in rows:
            status = "" if killed == -9 else f" (finished before the kill, rc={killed})"
            print(f"{np_workers:>3} {fraction:>8.0%} {before:>9}  {str(list(redone.values())):<40} {same}{status}")
        worst = max(max(r[4].values()) for r in rows)
        print(f"most samples redone by one op: {worst} (chunk_rows={args.chunk}; at most one chunk per worker)")
        if not all(r[5] for r in rows):
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
