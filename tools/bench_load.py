"""Cost of screening jsonl lines (djlite.jsonl_lines) on top of `datasets`' own JSON loading.

    PYTHONPATH=$PWD python tools/bench_load.py [--rows 200000]

Both loads read the same generated file with caching off; the ratio is what the line-by-line checks add.
"""

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    rows = parser.parse_args().rows

    import datasets

    from djlite.dataset import load_dataset

    datasets.disable_caching()
    datasets.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for i in range(rows):
                row = {"text": f"<__dj__video> clip {i}", "videos": [f"clips/{i}.mp4"], "id": i, "meta": {"s": "x"}}
                f.write(json.dumps(row) + "\n")
        cache = os.path.join(folder, "cache")
        started = time.perf_counter()
        datasets.load_dataset("json", data_files=[path], split="train", cache_dir=cache + "1")
        plain = time.perf_counter() - started
        started = time.perf_counter()
        dataset, bad = load_dataset(path, cache_dir=cache + "2", scratch_dir=folder)
        djlite_load = time.perf_counter() - started
        assert len(dataset) == rows and not bad
    print(f"{rows} rows: datasets.load_dataset {plain:.2f} s; djlite load_dataset (screen + load + resolve paths)")
    print(f"{djlite_load:.2f} s = {djlite_load / plain:.1f}x")


if __name__ == "__main__":
    main()
