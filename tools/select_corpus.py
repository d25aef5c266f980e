"""Run recipes/diverse_selection.yaml on the shared corpus and print its selection report and the picks' groups.

PYTHONPATH=. python tools/select_corpus.py [--backend thumbnail_histogram|efficientnet_lite0] [--budget 20]
    [--corpus ../shared/videos/corpus] [--out /tmp/djlite-select-corpus]
"""

import argparse
import csv
import json
import os
from pathlib import Path

import yaml

import djlite

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="thumbnail_histogram")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "videos" / "corpus"))
    parser.add_argument("--out", default="/tmp/djlite-select-corpus")
    args = parser.parse_args()
    corpus, out = Path(args.corpus), Path(args.out) / args.backend
    out.mkdir(parents=True, exist_ok=True)
    with open(corpus / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        manifest = list(csv.DictReader(f, delimiter="\t"))
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for m in manifest:
            row = {"id": m["file"], "videos": [str(corpus / m["file"])], "near_dup_group": m["near_dup_group"]}
            f.write(json.dumps(row) + "\n")
    recipe = yaml.safe_load((REPO / "recipes" / "diverse_selection.yaml").read_text())
    recipe["process"][-2]["video_frame_embedding_mapper"]["backend"] = args.backend
    recipe["process"][-1]["diversity_selector"]["select_num"] = args.budget
    recipe.update(dataset_path=str(out / "corpus.jsonl"), export_path=str(out / "selected.jsonl"))
    result = djlite.run(recipe)
    print(open(os.path.join(out, "selection_report.md")).read())
    with open(result.result_paths[0], encoding="utf-8") as f:
        groups = [json.loads(line)["near_dup_group"] for line in f]
    print("near-duplicate groups among the picks:", sorted(g for g in groups if g))


if __name__ == "__main__":
    main()
