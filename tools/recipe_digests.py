"""The sha256 of every file the shipped recipes write, so a refactor can show it changed no output byte.

    python tools/recipe_digests.py --out before.json            # on the old code
    python tools/recipe_digests.py --out after.json             # on the new code
    python tools/recipe_digests.py --compare before.json after.json

Each recipe of recipes/ runs with `dj-process` from a copy of recipes/ at a fixed folder (`--root`, default
/tmp/djlite-recipe-digests, emptied first), so the absolute paths written into the outputs are the same
from run to run, and with a fresh stats cache and datasets cache. What is hashed: every file under the copy's
outputs/ folder, except the run's log (it holds times) and the op summaries (`<export base>_op_summary.json`,
or `op_summary.json` in a work_dir of its own), whose `seconds` fields are zeroed before hashing (the rest of
them, the accounting, must stay the same). Produced clips and frames are hashed too.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _zero_seconds(value):
    if isinstance(value, dict):
        return {k: (0 if k == "seconds" else _zero_seconds(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_zero_seconds(v) for v in value]
    return value


def digest(path: Path) -> str:
    if path.name.endswith("op_summary.json"):
        data = _zero_seconds(json.loads(path.read_text()))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_recipes(root: Path, names: list[str]) -> dict:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(REPO / "recipes", root / "recipes", ignore=shutil.ignore_patterns("outputs"))
    env = dict(
        os.environ, DJLITE_CACHE_DIR=str(root / "cache"), HF_DATASETS_CACHE=str(root / "hf"), PYTHONPATH=str(REPO)
    )
    results = {}
    for recipe in names:
        proc = subprocess.run(
            [sys.executable, "-m", "djlite.cli.process", "--config", recipe],
            cwd=root / "recipes",
            env=env,
            capture_output=True,
            text=True,
        )
        results[recipe] = {"returncode": proc.returncode}
        if proc.returncode:
            results[recipe]["stderr_tail"] = proc.stderr[-2000:]
        print(f"{recipe}: exit {proc.returncode}", file=sys.stderr)
    files = {}
    outputs = root / "recipes" / "outputs"
    for path in sorted(outputs.rglob("*")):
        rel = path.relative_to(outputs)
        if path.is_file() and "log" not in rel.parts[:-1] and not path.name.startswith("."):
            files[str(rel)] = digest(path)
    return {"recipes": results, "files": files}


def compare(before: dict, after: dict) -> int:
    problems = []
    for recipe, result in before["recipes"].items():
        if after["recipes"].get(recipe, {}).get("returncode") != result["returncode"]:
            problems.append(f"{recipe}: exit {result['returncode']} before, {after['recipes'].get(recipe)} after")
    for name in sorted(set(before["files"]) | set(after["files"])):
        a, b = before["files"].get(name), after["files"].get(name)
        if a != b:
            problems.append(
                f"{name}: {'missing' if a is None else a[:12]} before, {'missing' if b is None else b[:12]} after"
            )
    for line in problems:
        print(line)
    print(f"{len(before['files'])} files before, {len(after['files'])} after, {len(problems)} differences")
    return 1 if problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the digests here (JSON)")
    parser.add_argument("--root", default="/tmp/djlite-recipe-digests", help="fixed folder the recipes run in")
    parser.add_argument("--recipes", nargs="*", help="recipe file names (default: every recipes/*.yaml)")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        return compare(before, after)
    names = args.recipes or sorted(p.name for p in (REPO / "recipes").glob("*.yaml"))
    result = run_recipes(Path(args.root), names)
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
