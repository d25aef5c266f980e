"""Coreset vs random vs every-Nth on the frames (5 fps) of a generated minute-long clip of 12 revisited scenes.

PYTHONPATH=.:tests python tools/select_long_clip.py
"""

import sys
import tempfile

import numpy as np

sys.path.insert(0, "tests")
from test_select_corpus import long_clip

from djlite.embed.store import read_frame_embeddings
from djlite.ops.mapper.video_frame_embedding_mapper import VideoFrameEmbeddingMapper
from djlite.select import every_nth, k_center_greedy, random_subset
from djlite.select.stats import selection_stats

d = tempfile.mkdtemp()
clip = long_clip(f"{d}/long.mp4")
op = VideoFrameEmbeddingMapper(sampling_fps=5, max_frames=10_000, embedding_dir=f"{d}/emb")
X = read_frame_embeddings(op.process({"videos": [clip]})["video_frame_embeddings"][0]).vectors.astype(np.float32)
k = 12
for name, idx in (
    ("coreset", k_center_greedy(X, k).picked),
    ("random", random_subset(len(X), k, seed=42)),
    ("every_nth", every_nth(len(X), k)),
):
    s = selection_stats(X, idx)
    print(f"{name}: n={len(X)} k={k} coverage_radius={s['coverage_radius']:.4f} min={s['min']:.4f} p10={s['p10']:.4f}")
