"""Embedding quality on the corpus: are near-duplicates closer to each other than to other clips? And PCA's check.

    python tools/eval_embeddings.py                                   # both backends, ../shared/videos/corpus
    python tools/eval_embeddings.py --backends thumbnail_histogram --pca
    python tools/eval_embeddings.py --synthetic /tmp/syn   # plus eval_near_dup.py's transformed copies

Every corpus clip is embedded by video_frame_embedding_mapper itself (1 fps, at most 300 frames, unit frame
vectors, mean-pooled), the same code a recipe runs; sidecars go to --embedding_dir, so a second run is instant.
Then each clip of a near-duplicate group (MANIFEST.tsv's near_dup_group) queries all the other clips, ranked by
cosine similarity of the pooled vectors:
- mAP: mean over queries of the average precision of its group mates in that ranking;
- recall@1: the share of queries whose nearest clip is a group mate.
Clips that fail to decode are left out of the ranking (and listed).

--pca fits PCA with whitening (1024 components, or as many as the frames support) over every frame vector of
the corpus and prints how far the whitened features are from mean 0 and variance lambda / (lambda + 1e-4).
"""

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from djlite.embed.pca import PcaFitter
from djlite.embed.store import read_frame_embeddings
from djlite.errors import SampleError
from djlite.ops.mapper.video_frame_embedding_mapper import VideoFrameEmbeddingMapper

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DJLITE_SHARED_VIDEOS", REPO.parent / "shared" / "videos")) / "corpus"


def read_groups(corpus: Path) -> dict[str, str]:
    """{clip path: near-duplicate group ('' for none)} of the corpus manifest."""
    with open(corpus / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t")
        return {str(corpus / row["file"]): row.get("near_dup_group") or "" for row in rows}


def synthetic_groups(folder: Path) -> dict[str, str]:
    """eval_near_dup's transformed copies of corpus clips (crop, grade, grey, mirror...), grouped by source."""
    from eval_near_dup import make_synthetic

    return {path: group for path, group, _ in make_synthetic(folder)}


def embed_clips(paths, backends: list[str], embedding_dir: str) -> dict[str, tuple[dict, dict, list]]:
    """{backend: ({clip: pooled vector}, {clip: sidecar path}, [(clip, error)])}; each clip decoded once for all."""
    from djlite.video.context import VideoContext

    ops = {b: VideoFrameEmbeddingMapper(backend=b, embedding_dir=os.path.join(embedding_dir, b)) for b in backends}
    for op in ops.values():
        op.setup()
    found = {b: ({}, {}, []) for b in backends}
    for name in sorted(paths):
        with VideoContext(frame_ops=list(ops.values())) as context:
            for backend, op in ops.items():
                pooled, sidecars, failed = found[backend]
                try:
                    sample = op.process({"videos": [name]}, context)
                except (SampleError, OSError, ValueError) as e:
                    failed.append((name, f"{type(e).__name__}: {e}"))
                    continue
                pooled[name] = np.asarray(sample["video_embedding"][0], dtype=np.float32)
                sidecars[name] = sample["video_frame_embeddings"][0]
    return found


def ranking_metrics(pooled: dict[str, np.ndarray], groups: dict[str, str]) -> dict:
    names = sorted(pooled)
    x = np.stack([pooled[n] for n in names])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    similarity = x @ x.T
    labels = [groups.get(n, "") for n in names]
    aps, hits = [], []
    for i, label in enumerate(labels):
        mates = {j for j, other in enumerate(labels) if other and other == label and j != i}
        if not label or not mates:
            continue
        order = [j for j in np.argsort(-similarity[i], kind="stable") if j != i]
        found, precisions = 0, []
        for rank, j in enumerate(order, start=1):
            if j in mates:
                found += 1
                precisions.append(found / rank)
        aps.append(float(np.mean(precisions)))
        hits.append(order[0] in mates)
    return {"clips": len(names), "queries": len(aps), "mAP": float(np.mean(aps)), "recall@1": float(np.mean(hits))}


def pca_check(sidecars: dict[str, str], n_components: int = 1024) -> dict:
    frames = [read_frame_embeddings(p).vectors for p in sidecars.values()]
    fitter = PcaFitter()
    for vectors in frames:
        fitter.add(vectors)
    pca = fitter.fit(n_components)
    y = pca.transform(np.concatenate(frames)).astype(np.float64)
    expected = pca.eigenvals.astype(np.float64) / (pca.eigenvals.astype(np.float64) + pca.eps)
    return {
        "frames": fitter.n,
        "components": pca.n_components,
        "max_abs_mean": float(np.abs(y.mean(axis=0)).max()),
        "max_abs_variance_error": float(np.abs(y.var(axis=0) - expected).max()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--backends", nargs="+", default=["thumbnail_histogram", "efficientnet_lite0"])
    parser.add_argument("--embedding_dir", default="outputs/eval_embeddings")
    parser.add_argument("--pca", action="store_true", help="also fit PCA on the corpus frames and check whitening")
    parser.add_argument("--synthetic", help="folder for transformed copies of corpus clips, ranked as a second set")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)
    if not (corpus / "MANIFEST.tsv").is_file():
        print(f"{corpus} has no MANIFEST.tsv", file=sys.stderr)
        return 2
    sets = {"corpus": read_groups(corpus)}
    if args.synthetic:
        sets["corpus+synthetic"] = {**sets["corpus"], **synthetic_groups(Path(args.synthetic))}
    every = sets[list(sets)[-1]]
    start = time.perf_counter()
    found = embed_clips(every, args.backends, args.embedding_dir)
    print(f"embedded {len(every)} clips with {', '.join(args.backends)} in {time.perf_counter() - start:.1f} s")
    for backend in args.backends:
        pooled, sidecars, failed = found[backend]
        for label, groups in sets.items():
            metrics = ranking_metrics({k: v for k, v in pooled.items() if k in groups}, groups)
            print(
                f"{backend} on {label}: clips={metrics['clips']} queries={metrics['queries']} "
                f"mAP={metrics['mAP']:.3f} recall@1={metrics['recall@1']:.3f}"
            )
        for name, error in failed:
            print(f"  failed: {name}: {error[:120]}")
        if args.pca:
            check = pca_check({k: v for k, v in sidecars.items() if k in sets["corpus"]})
            print(
                f"  pca: frames={check['frames']} components={check['components']} "
                f"max|mean|={check['max_abs_mean']:.2e} max|var - l/(l+eps)|={check['max_abs_variance_error']:.2e}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
