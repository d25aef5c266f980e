"""YouTube-8M quantization pairs and PCA with whitening (pure numpy, no video)."""

import numpy as np
import pytest

from djlite.embed.pca import Pca, PcaFitter, fit_pca
from djlite.embed.quantize import dequantize, quantize


def test_dequantize_known_pairs():
    assert dequantize(np.array([0], dtype=np.uint8))[0] == np.float32(-1.9921875)
    assert dequantize(np.array([255], dtype=np.uint8))[0] == np.float32(2.0078125)
    assert dequantize(bytes([0, 255])).tolist() == [-1.9921875, 2.0078125]


def test_truncate_is_the_dequantizers_pair_and_round_is_biased():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 100_000)
    truncated = dequantize(quantize(x)) - x
    rounded = dequantize(quantize(x, rounding="round")) - x
    # Truncation lands every value in its bin and the dequantizer returns (almost: it adds 4/512, not 2/255) the
    # bin's centre: the error stays within half a bin.
    assert np.abs(truncated).max() <= 4 / 255 - 4 / 512 + 1e-6
    assert abs(truncated.mean()) < 1e-3
    # Rounding (the legacy extractor) shifts reconstructions up by the dequantizer's half bin, 4/512.
    assert rounded.mean() == pytest.approx(4 / 512, abs=2e-4)


def test_quantize_clips_truncates_or_rounds():
    assert quantize([-5.0, 5.0, -2.0, 2.0]).tolist() == [0, 255, 0, 255]
    # (v + 2) * 255 / 4 = 0.6 and 1.4: truncation gives 0 and 1, rounding 1 and 1.
    values = [-2 + 0.6 * 4 / 255, -2 + 1.4 * 4 / 255]
    assert quantize(values).tolist() == [0, 1]
    assert quantize(values, rounding="round").tolist() == [1, 1]
    with pytest.raises(ValueError, match="rounding"):
        quantize([0.0], rounding="nearest")


def _correlated(n, d, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(3, 0.1, d)
    return (rng.normal(size=(n, d)) @ mixing.T + rng.normal(size=d) * 5).astype(np.float32)


def test_whitened_features_have_zero_mean_and_the_formula_variance():
    x = _correlated(4000, 64)
    pca = fit_pca(x, n_components=32)
    y = pca.transform(x).astype(np.float64)
    assert y.shape == (4000, 32)
    assert np.abs(y.mean(axis=0)).max() < 1e-3
    expected = pca.eigenvals / (pca.eigenvals + 1e-4)
    assert np.abs(y.var(axis=0) - expected).max() < 1e-3
    assert np.all(np.diff(pca.eigenvals) <= 0)


def test_streaming_fit_equals_one_shot():
    x = _correlated(1000, 16)
    fitter = PcaFitter()
    for chunk in np.array_split(x, 7):
        fitter.add(chunk)
    a, b = fitter.fit(8), fit_pca(x, 8)
    assert np.allclose(a.eigenvecs, b.eigenvecs, atol=1e-5)
    assert np.allclose(a.eigenvals, b.eigenvals, rtol=1e-5)


def test_fewer_frames_than_components_gives_what_they_support(caplog):
    from loguru import logger

    messages = []
    handler = logger.add(messages.append, level="WARNING")
    try:
        pca = fit_pca(_correlated(10, 32), n_components=1024)
    finally:
        logger.remove(handler)
    assert pca.n_components == 9
    assert "support 9 components" in "".join(str(m) for m in messages)


def test_saved_files_reload_to_identical_bytes_in_yt8m_layout(tmp_path):
    x = _correlated(500, 24)
    pca = fit_pca(x, n_components=10)
    pca.save(tmp_path / "a")
    assert np.load(tmp_path / "a" / "mean.npy").shape == (24, 1)
    assert np.load(tmp_path / "a" / "eigenvecs.npy").shape == (10, 24)
    assert np.load(tmp_path / "a" / "eigenvals.npy").shape == (10, 1)
    again = Pca.load(str(tmp_path / "a"))
    # What was written is what is read back, value for value, and saving it again gives the same bytes.
    for field in ("mean", "eigenvecs", "eigenvals"):
        assert getattr(again, field).dtype == np.float32
        assert getattr(again, field).tobytes() == getattr(pca, field).tobytes(), field
    again.save(tmp_path / "b")
    for name in ("mean.npy", "eigenvecs.npy", "eigenvals.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    fewer = Pca.load(str(tmp_path / "a"), n_components=4)
    assert fewer.eigenvecs.tobytes() == np.ascontiguousarray(pca.eigenvecs[:, :4]).tobytes()
    # The projection is a float32 matrix product: a 4-column one is not computed like a 10-column one (BLAS
    # picks other kernels, OPENBLAS_CORETYPE=Haswell differs in the last bit), so it matches to float32 precision.
    projected = pca.transform(x)
    assert np.allclose(again.transform(x), projected, rtol=1e-5, atol=1e-5)
    assert np.allclose(fewer.transform(x), projected[:, :4], rtol=1e-5, atol=1e-5)
    assert not np.allclose(fewer.transform(x), projected[:, 1:5], rtol=1e-5, atol=1e-5)


def test_load_names_the_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="eigenvecs.npy"):
        Pca.load(str(tmp_path))


def test_pca_step_fits_over_the_datasets_frames_and_a_later_run_loads_it(tmp_path):
    import datasets

    from djlite.embed.store import write_frame_embeddings
    from djlite.errors import RecipeError
    from djlite.ops.selector.video_embedding_pca import VideoEmbeddingPca
    from djlite.recipe import build_op

    x = _correlated(300, 12)
    refs = []
    for i, chunk in enumerate(np.array_split(x, 3)):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, chunk, np.arange(len(chunk), dtype=float))
        refs.append(ref)
    rows = {"id": ["a", "b", "c", "d"], "video_frame_embeddings": [[refs[0]], [refs[1], refs[2]], None, [refs[0]]]}
    dataset = datasets.Dataset.from_dict(rows)
    op = VideoEmbeddingPca(n_components=6, pca_output_dir=str(tmp_path / "pca"))
    out, _ = op.process(dataset)
    assert out["id"] == ["a", "b", "c", "d"]
    # The fit saw each video's frames once, all of them (float16 storage aside).
    stored = np.concatenate([np.load(r).astype(np.float32) for r in refs])
    expected = fit_pca(stored, 6)
    assert op.fitted.frames == 300
    assert np.allclose(np.abs(op.fitted.eigenvecs), np.abs(expected.eigenvecs), atol=1e-4)
    again = VideoEmbeddingPca(n_components=6, pca_dir=str(tmp_path / "pca"), pca_output_dir=str(tmp_path / "pca2"))
    again.process(dataset)
    for name in ("mean.npy", "eigenvecs.npy", "eigenvals.npy"):
        assert (tmp_path / "pca" / name).read_bytes() == (tmp_path / "pca2" / name).read_bytes()
    with pytest.raises(RecipeError, match="lacks"):
        build_op("video_embedding_pca", {"pca_dir": str(tmp_path / "nowhere")})
