"""diversity_selector: budgets, min_distance, preselected sets, Lightly's combinations, stats, report, Ray."""

import json

import numpy as np
import pytest
from datasets import Dataset
from helpers import read_jsonl, write_jsonl, write_recipe

import djlite
from djlite.fields import Fields
from djlite.ops.selector.diversity_selector import DiversitySelector, largest_remainder


def clustered(n=120, clusters=6, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 3
    label = np.arange(n) % clusters
    X = centres[label] + 0.05 * rng.normal(size=(n, d))
    return X.astype(np.float32), label


def rows(X, label, **extra):
    out = []
    for i, (x, c) in enumerate(zip(X, label)):
        row = {"id": i, "text": f"s{i}", "video_embedding": [x.tolist()], "label": f"c{c}", "video": f"v{i % 3}"}
        row.update({k: v[i] for k, v in extra.items()})
        out.append(row)
    return out


def run(op, data):
    out, _ = op.process(Dataset.from_list(data))
    return out


def test_one_pick_per_cluster_in_pick_order_with_stats():
    X, label = clustered()
    out = run(DiversitySelector(select_num=6), rows(X, label))
    assert sorted(label[out["id"]]) == list(range(6))
    stats = out[Fields.stats]
    assert [s["diversity_rank"] for s in stats] == list(range(6))
    radii = [s["diversity_cover_radius"] for s in stats]
    assert radii[0] is None and all(a >= b for a, b in zip(radii[1:], radii[2:]))
    again = run(DiversitySelector(select_num=6), rows(X, label))
    assert again["id"] == out["id"]


def test_ratio_budget_and_min_distance():
    X, label = clustered()
    assert len(run(DiversitySelector(select_ratio=0.1), rows(X, label))) == 12
    out = run(DiversitySelector(min_distance=0.5), rows(X, label))  # unit vectors: clusters far, members close
    assert len(out) == 6
    V = X[out["id"]] / np.linalg.norm(X[out["id"]], axis=1, keepdims=True)
    d = np.linalg.norm(V[:, None] - V[None], axis=2) + np.eye(len(V)) * 9
    assert d.min() >= 0.5


def test_preselected_field_and_file(tmp_path):
    X, label = clustered()
    pre = [i == 0 or i == 1 for i in range(len(X))]  # clusters 0 and 1 are labelled already
    out = run(DiversitySelector(select_num=6, preselected_key="done"), rows(X, label, done=pre))
    assert out["id"][:2] == [0, 1] and len(out) == 6
    assert sorted(label[out["id"]]) == list(range(6))  # the 4 new picks cover the other clusters
    np.save(tmp_path / "pool.npy", X[:2])
    out = run(DiversitySelector(select_num=4, preselected_file=str(tmp_path / "pool.npy")), rows(X, label))
    assert sorted(label[out["id"]]) == [2, 3, 4, 5]
    csv = tmp_path / "embeddings.csv"
    header = "filenames," + ",".join(f"embedding_{i}" for i in range(X.shape[1])) + ",labels\n"
    csv.write_text(header + "".join(f"f{i}.png," + ",".join(map(str, X[i])) + ",0\n" for i in range(2)))
    out2 = run(DiversitySelector(select_num=4, preselected_file=str(csv)), rows(X, label))
    assert out2["id"] == out["id"]


def test_threshold_weight_balance_and_per_group_budget():
    X, label = clustered()
    score = [float(i) for i in range(len(X))]
    out = run(
        DiversitySelector(select_num=6, thresholds=[{"key": "score", "operation": "bigger_equal", "value": 60}]),
        rows(X, label, score=score),
    )
    assert min(out["id"]) >= 60
    target = {"c0": 0.5, "c1": 0.5}
    out = run(DiversitySelector(select_num=10, balance_key="label", balance_target=target), rows(X, label))
    assert sorted(set(out["label"])) == ["c0", "c1"] and out["label"].count("c0") == 5
    out = run(DiversitySelector(select_num=12, group_key="video", per_group_budget=2), rows(X, label))
    assert len(out) == 6 and all(out["video"].count(v) == 2 for v in ("v0", "v1", "v2"))
    heavy = [10.0 if i % 6 == 0 else 1.0 for i in range(len(X))]  # cluster 0 weighs 10x
    out = run(DiversitySelector(select_num=8, weight_key="w", weight_strength=2), rows(X, label, w=heavy))
    plain = run(DiversitySelector(select_num=8), rows(X, label))
    assert list(label[out["id"]]).count(0) > list(label[plain["id"]]).count(0)


def test_largest_remainder():
    assert largest_remainder([0.5, 0.3, 0.2], 7) == [4, 2, 1]
    assert sum(largest_remainder([1, 1, 1], 10)) == 10


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(ValueError, match="needs a budget"):
        DiversitySelector()
    with pytest.raises(ValueError, match="threshold"):
        DiversitySelector(select_num=2, thresholds=[{"key": "a", "operation": "huge", "value": 1}])
    with pytest.raises(FileNotFoundError, match="preselected_file"):
        DiversitySelector(select_num=2, preselected_file="/nope.npy")


def test_rows_without_vectors_are_not_picked():
    X, label = clustered(n=12)
    data = rows(X, label)
    data[0]["video_embedding"] = []
    out = run(DiversitySelector(select_num=12), data)
    assert 0 not in out["id"] and len(out) == 11


def test_report_files_and_recipe_run(tmp_path):
    X, label = clustered()
    dataset = write_jsonl(tmp_path / "data.jsonl", [dict(r, videos=[]) for r in rows(X, label)])
    recipe = write_recipe(
        tmp_path / "r.yaml",
        dataset,
        [{"diversity_selector": {"select_num": 6, "report_dir": str(tmp_path / "report")}}],
        keep_stats_in_res_ds=True,
    )
    result = djlite.run(str(recipe))
    kept = read_jsonl(result.result_paths[0])
    assert [r[Fields.stats]["diversity_rank"] for r in kept] == list(range(6))
    report = json.loads((tmp_path / "report" / "selection_report.json").read_text())
    assert set(report["rows"]) == {"original", "every_nth", "random", "coreset"}
    assert report["rows"]["coreset"]["count"] == 6
    assert report["rows"]["coreset"]["coverage_radius"] <= report["rows"]["random"]["coverage_radius"]
    redundant = report["examples"]["redundant"]
    assert len(redundant) == 6 and all(d <= 0.2 for _, _, d in redundant)  # members of a kept one's cluster
    assert all(row not in report["coreset_rows"] and kept in report["coreset_rows"] for row, kept, _ in redundant)
    assert "| Coverage radius |" in (tmp_path / "report" / "selection_report.md").read_text()
    from djlite.analysis.analyzer import analyze_records
    from djlite.analysis.stats_file import load_run_records

    analysis = analyze_records(load_run_records(result.stats_path), str(tmp_path / "report" / "analysis"))
    html = open(analysis.files["report.html"]).read()
    assert '<h2 id="selection">Diverse selection</h2>' in html and "data:image/png;base64" in html


def test_selectors_on_ray_equal_local(tmp_path):
    ray = pytest.importorskip("ray", reason="the Ray executor needs `pip install djlite[ray]`")
    X, label = clustered(n=40)
    data = [dict(r, videos=[], score=float((i * 7) % 40)) for i, r in enumerate(rows(X, label))]
    dataset = write_jsonl(tmp_path / "data.jsonl", data)
    process = [
        {"random_selector": {"select_num": 35, "seed": 1}},
        {"topk_specified_field_selector": {"field_key": "score", "topk": 30}},
        {"diversity_selector": {"select_num": 7}},
    ]
    recipe = str(write_recipe(tmp_path / "r.yaml", dataset, process))
    local = djlite.run(recipe, export_path=str(tmp_path / "local" / "res.jsonl"))
    try:
        if not ray.is_initialized():
            ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
        on_ray = djlite.run(recipe, executor_type="ray", export_path=str(tmp_path / "ray" / "res.jsonl"))
    finally:
        ray.shutdown()
    ids = [r["id"] for r in read_jsonl(local.result_paths[0])]
    assert len(ids) == 7
    assert [r["id"] for r in read_jsonl(on_ray.result_paths[0])] == ids  # same picks, same pick order


def test_vectors_read_from_arrow_buffers_equal_the_row_by_row_reading():
    import pyarrow as pa

    from djlite.ops.selector.diversity_selector import _row_vector, arrow_vectors

    rng = np.random.default_rng(0)
    values = [
        [rng.normal(size=4).tolist()],
        None,
        [rng.normal(size=4).tolist(), rng.normal(size=4).tolist()],
        [],
        [rng.normal(size=4).tolist()],
    ]
    kind = pa.list_(pa.list_(pa.float32()))
    column = pa.chunked_array([pa.array(values[:2], kind), pa.array(values[2:], kind)])
    X, rows = arrow_vectors(column)
    assert rows.tolist() == [0, 2, 4]
    expected = np.stack([_row_vector(values[i]) for i in rows])
    assert np.allclose(X, expected, atol=1e-6)
    sliced = pa.array(values, pa.list_(pa.list_(pa.float32()))).slice(2, 3)
    X2, rows2 = arrow_vectors(sliced)
    assert rows2.tolist() == [0, 2] and np.allclose(X2, expected[1:], atol=1e-6)
    flat = pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float32()))
    X3, rows3 = arrow_vectors(flat)
    assert rows3.tolist() == [0, 2] and X3.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    ragged = pa.array([[[1.0]], [[1.0, 2.0]]], pa.list_(pa.list_(pa.float32())))
    assert arrow_vectors(ragged) is None  # the row-by-row reading then names the problem


def test_frame_level_with_a_per_video_budget(tmp_path):
    from synthetic import _texture, _write

    from djlite.ops.mapper.video_frame_embedding_mapper import VideoFrameEmbeddingMapper

    def clip(name, scenes, seed):
        frames = [_texture(64, 96, seed + s)[:64, :96] for s in range(scenes) for _ in range(10)]
        return _write(str(tmp_path / name), frames, fps=10)

    long_one, short_one = clip("long.mp4", 10, 100), clip("short.mp4", 2, 200)  # 10 scenes vs 2, 1 s each
    embed = VideoFrameEmbeddingMapper(sampling_fps=2, embedding_dir=str(tmp_path / "emb"))
    data = [embed.process({"id": i, "videos": [p]}) for i, p in enumerate([long_one, short_one])]
    data.append({"id": 2, "videos": [], "video_frame_embeddings": [], "video_embedding": []})
    free = run(DiversitySelector(level="frame", select_num=6), data)
    assert free["id"][0] == 0 and len(free[Fields.stats][0]["diversity_frame_times"][0]) >= 5  # the long one
    capped = run(DiversitySelector(level="frame", select_num=6, per_group_budget=3), data)
    times = {row["id"]: row[Fields.stats]["diversity_frame_times"][0] for row in capped}
    assert sorted(times) == [0, 1] and len(times[0]) == 3 and len(times[1]) == 3
    assert all(t == sorted(t) for t in times.values())
