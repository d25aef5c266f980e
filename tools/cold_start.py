"""Cold start of `dj-process --help` (issue 16: must stay under 1.5 s), against a bare interpreter in the same run.

PYTHONPATH=$PWD python tools/cold_start.py [--runs 10]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    bare = median_seconds([sys.executable, "-c", "pass"], runs)
    help_ = median_seconds([sys.executable, "-m", "djlite.cli.process", "--help"], runs)
    version = median_seconds([sys.executable, "-m", "djlite.cli.process", "--version"], runs)
    print(f"python -c pass         {bare:.3f} s (median of {runs})")
    print(f"dj-process --help      {help_:.3f} s ({help_ / bare:.1f}x bare interpreter)")
    print(f"dj-process --version   {version:.3f} s")


if __name__ == "__main__":
    main()
