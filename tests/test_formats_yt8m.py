"""export_type yt8m (YouTube-8M frame- and video-level records from frame embeddings) and read_yt8m."""

import numpy as np
import pytest
from formats_helpers import needs_readers, run_reader
from helpers import write_jsonl
from synthetic import make_moving, make_static

import djlite
from djlite.embed.pca import Pca, fit_pca
from djlite.embed.quantize import dequantize, quantize
from djlite.embed.store import read_frame_embeddings, write_frame_embeddings
from djlite.errors import RecipeError
from djlite.formats.example import decode_example, decode_sequence_example
from djlite.formats.tfrecord import read_records
from djlite.formats.yt8m import Yt8mLayout, read_yt8m


def records(paths, level):
    return [r for p in sorted(paths) if f"_{level}-" in p for r in read_records(p)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A recipe end to end: embed (model-free), fit PCA, export yt8m; labels from the samples."""
    folder = tmp_path_factory.mktemp("yt8m")
    rows = [
        {"id": "moving", "videos": [make_moving(str(folder / "m.mp4"), seconds=4, fps=10)], "labels": [7, 3]},
        {"id": "static", "videos": [make_static(str(folder / "s.mp4"), seconds=3, fps=10)], "labels": [5]},
        {"id": "panning", "videos": [make_moving(str(folder / "p.mp4"), seconds=3, fps=10, seed=4)], "labels": []},
    ]
    config = {
        "dataset_path": str(write_jsonl(folder / "data.jsonl", rows)),
        "export_path": str(folder / "out" / "clips.tfrecord"),
        "export_type": "yt8m",
        "np": 1,
        "process": [{"video_frame_embedding_mapper": {}}, {"video_embedding_pca": {"n_components": 6}}],
    }
    return folder, djlite.run(config)


def test_frame_and_video_records_carry_quantized_pca_features(exported):
    folder, result = exported
    pca = Pca.load(str(folder / "out" / "pca"))
    assert pca.n_components == 6
    frames = [decode_sequence_example(r) for r in records(result.result_paths, "frame")]
    videos = [decode_example(r) for r in records(result.result_paths, "video")]
    assert [c["id"].values[0] for c, _ in frames] == [b"moving", b"static", b"panning"]
    assert [c["labels"].values for c, _ in frames] == [[3, 7], [5], []]
    assert all(set(lists) == {"rgb"} and "audio" not in c for c, lists in frames)  # no audio, not zero bytes
    for (context, lists), video, row in zip(frames, videos, result.dataset):
        features = pca.transform(read_frame_embeddings(row["video_frame_embeddings"][0]).vectors)
        rgb = [f.values[0] for f in lists["rgb"]]
        assert len(rgb) == len(features) and all(len(b) == 6 for b in rgb)
        assert b"".join(rgb) == quantize(features).tobytes()
        assert np.allclose(video["mean_rgb"].values, features.mean(axis=0), atol=1e-6)  # unquantized mean
        assert video["id"].values == context["id"].values and video["labels"].values == context["labels"].values
        assert set(video) == {"id", "labels", "mean_rgb"}


def test_read_yt8m_brings_records_back_dequantized(exported, tmp_path):
    folder, result = exported
    frame_rows = read_yt8m([p for p in result.result_paths if "_frame-" in p], str(tmp_path / "emb"))
    video_rows = read_yt8m([p for p in result.result_paths if "_video-" in p], str(tmp_path / "emb"))
    assert [r["id"] for r in frame_rows] == [r["id"] for r in video_rows] == ["moving", "static", "panning"]
    assert [r["labels"] for r in frame_rows] == [[3, 7], [5], []]
    pca = Pca.load(str(folder / "out" / "pca"))
    for row, original in zip(frame_rows, result.dataset):
        features = pca.transform(read_frame_embeddings(original["video_frame_embeddings"][0]).vectors)
        back = read_frame_embeddings(row["video_frame_embeddings"][0])
        assert back.times.tolist() == list(range(len(features)))
        expected = dequantize(quantize(features))
        assert np.allclose(back.vectors, expected, atol=2e-3)  # float16 storage of the dequantized values
    assert np.allclose(video_rows[0]["video_embedding"][0], np.asarray(records_mean(result, 0)), atol=1e-6)


def records_mean(result, n):
    return decode_example(records(result.result_paths, "video")[n])["mean_rgb"].values


def test_labels_from_youtube8m_csv_and_compat_options(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    refs = []
    for i in range(2):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, vectors[i * 20 : (i + 1) * 20], np.arange(20.0))
        refs.append(ref)
    fit_pca(vectors, 8).save(str(tmp_path / "pca"))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("/data/a.mp4,52;3;10\nb.mp4,4\n")
    rows = [
        {"videos": ["/data/a.mp4"], "video_frame_embeddings": [refs[0]]},
        {"videos": ["/elsewhere/b.mp4"], "video_frame_embeddings": [refs[1]]},
        {"videos": [], "video_frame_embeddings": []},
    ]
    layout = Yt8mLayout(
        {"labels_csv": str(csv_path), "pca_dir": str(tmp_path / "pca"), "id_key": "video_id", "audio": "neutral"}
    )
    layout.setup()
    paths = layout.write(lambda: iter(rows), str(tmp_path / "out" / "x.tfrecord"))
    frames = [decode_sequence_example(r) for r in records(paths, "frame")]
    assert [c["labels"].values for c, _ in frames] == [[3, 10, 52], [4]]
    assert [c["video_id"].values for c, _ in frames] == [[b"a"], [b"b"]]
    audio = frames[0][1]["audio"]
    assert len(audio) == 20 and audio[0].values[0] == bytes([127]) * 128
    assert abs(dequantize(audio[0].values[0])).max() < 1e-4  # neutral bytes dequantize to ~0, not -1.99
    video = decode_example(records(paths, "video")[0])
    assert video["mean_audio"].values == [0.0] * 128 and video["has_audio"].values == [0]


def test_bad_options_and_missing_pca(tmp_path, clips):
    with pytest.raises(RecipeError, match="rounding"):
        Yt8mLayout({"rounding": "nearest"})
    with pytest.raises(RecipeError, match="lacks"):
        Yt8mLayout({"pca_dir": str(tmp_path)})
    config = {
        "dataset_path": str(write_jsonl(tmp_path / "d.jsonl", [{"videos": [clips["moving"]]}])),
        "export_path": str(tmp_path / "out" / "x.tfrecord"),
        "export_type": "yt8m",
        "process": [{"video_frame_embedding_mapper": {}}],
    }
    with pytest.raises(RecipeError, match="video_embedding_pca"):
        djlite.run(config)


@needs_readers
@pytest.mark.parametrize("audio", ["omit", "neutral"])
def test_youtube8m_reader_spec_parses_the_records_under_tensorflow(tmp_path, audio):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(1100, 1280)).astype(np.float32)
    rows = []
    for i, chunk in enumerate(np.array_split(vectors, 4)):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, chunk, np.arange(len(chunk), dtype=float))
        rows.append({"id": f"clip{i}", "labels": [i, 100 + i], "video_frame_embeddings": [ref]})
    pca = fit_pca(vectors, 1024)
    pca.save(str(tmp_path / "pca"))
    layout = Yt8mLayout({"pca_dir": str(tmp_path / "pca"), "audio": audio, "shard_records": 3})
    layout.setup()
    paths = layout.write(lambda: iter(rows), str(tmp_path / "out" / "yt.tfrecord"))
    request = {
        "frame": sorted(p for p in paths if "_frame-" in p),
        "video": sorted(p for p in paths if "_video-" in p),
        "dim": 1024,
        "audio": audio == "neutral",
    }
    assert len(request["frame"]) == 2  # sharded: 3 records, then 1
    found = run_reader("check_yt8m_with_tensorflow.py", request)
    assert [r["id"] for r in found["frame"]] == [r["id"] for r in found["video"]] == [r["id"] for r in rows]
    assert [r["labels"] for r in found["video"]] == [r["labels"] for r in rows]
    for record, video, row in zip(found["frame"], found["video"], rows):
        features = pca.transform(read_frame_embeddings(row["video_frame_embeddings"][0]).vectors)
        assert np.array_equal(np.asarray(record["rgb"], dtype=np.uint8), quantize(features))
        assert np.allclose(video["mean_rgb"], features.mean(axis=0), atol=1e-5)
        if audio == "neutral":
            assert record["audio_frames"] == len(features)


def test_imported_shards_re_export_to_the_same_bytes(exported, tmp_path):
    """YouTube-8M shards -> jsonl + sidecars (the CLI) -> a recipe -> yt8m export without PCA: identical records."""
    from djlite.formats.yt8m import main

    _, result = exported
    shards = [p for p in result.result_paths if "_frame-" in p]
    assert main([*shards, "--out", str(tmp_path / "imported.jsonl")]) == 0
    config = {
        "dataset_path": str(tmp_path / "imported.jsonl"),
        "export_path": str(tmp_path / "out" / "again.tfrecord"),
        "export_type": "yt8m",
        "export_extra_args": {"apply_pca": False, "level": "frame"},
        "process": [],
    }
    again = djlite.run(config)
    assert records(again.result_paths, "frame") == records(shards, "frame")


@needs_readers
def test_youtube8m_reader_sees_repeated_ids_as_distinct_videos(tmp_path):
    vectors = np.random.default_rng(2).normal(size=(48, 8)).astype(np.float32)
    ids = ["v", "v", "v~2", "v"]
    rows = []
    for i, (sample_id, chunk) in enumerate(zip(ids, np.array_split(vectors, len(ids)))):
        ref = str(tmp_path / "emb" / f"v{i}.npy")
        write_frame_embeddings(ref, chunk, np.arange(len(chunk), dtype=float))
        rows.append({"id": sample_id, "labels": [i], "video_frame_embeddings": [ref]})
    pca = fit_pca(vectors, 8)
    pca.save(str(tmp_path / "pca"))
    layout = Yt8mLayout({"pca_dir": str(tmp_path / "pca")})
    layout.setup()
    paths = layout.write(lambda: iter(rows), str(tmp_path / "out" / "yt.tfrecord"))
    request = {
        "frame": sorted(p for p in paths if "_frame-" in p),
        "video": sorted(p for p in paths if "_video-" in p),
        "dim": 8,
        "audio": False,
    }
    found = run_reader("check_yt8m_with_tensorflow.py", request)
    assert [r["id"] for r in found["frame"]] == [r["id"] for r in found["video"]] == ["v", "v~2", "v~2~2", "v~3"]
    assert [r["labels"] for r in found["video"]] == [[0], [1], [2], [3]]  # each video its own record
    for record, row in zip(found["frame"], rows):
        features = pca.transform(read_frame_embeddings(row["video_frame_embeddings"][0]).vectors)
        assert np.array_equal(np.asarray(record["rgb"], dtype=np.uint8), quantize(features))
