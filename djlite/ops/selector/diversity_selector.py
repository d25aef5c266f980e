import csv
import logging
import math
import os

import numpy as np
from datasets import List, Value

from djlite.ops.base import Selection, Selector
from djlite.ops.selector.fields import field_values, first_column
from djlite.registry import register_op
from djlite.select.kcenter import budget_count, k_center_greedy
from djlite.select.report import build_report, write_report

logger = logging.getLogger(__name__)

THRESHOLD_OPERATIONS = {
    "smaller": np.less,
    "smaller_equal": np.less_equal,
    "bigger": np.greater,
    "bigger_equal": np.greater_equal,
}


@register_op("diversity_selector")
class DiversitySelector(Selector):
    """Keep the most diverse samples: k-center greedy (coreset) on their embeddings, deterministic, in pick order.

    Vectors: `embedding_key` (default `video_embedding`, what `video_frame_embedding_mapper` writes: one vector
    per video, averaged over a sample's videos; a flat vector also works), L2-normalised when `normalize`
    (Lightly's default, distances in [0, 2]). A row without a vector is never picked.

    Budget: `select_num` picks or a `select_ratio` of the rows (ceil); neither = no count limit, so set
    `min_distance` (stop once the farthest remaining row is closer than it to the selection: every kept pair
    is then at least that far apart). `first_pick`: `farthest_from_mean` (default), `lowest_index` or `random`
    (`seed`). Ties go to the lowest row.

    Preselected (already labelled) samples: rows where `preselected_key` is true, and/or vectors from
    `preselected_file` (`.npy`, or Lightly's `embeddings.csv`). New picks are far from them; preselected rows are
    kept (first, in dataset order) and, as Lightly counts, take part of the budget when `count_preselected`.

    Lightly's combinations: `weight_key` (a column or stat, >= 0) multiplies the distance in the argmax as
    weight ** `weight_strength`; `thresholds`, e.g. `[{key: video_duration, operation: bigger_equal,
    value: 2}]`, make failing rows ineligible (smaller, smaller_equal, bigger, bigger_equal); `balance_key` with
    `balance_target` ({label: proportion}, default equal shares of the labels present) caps the picks per label;
    `per_group_budget` caps the picks per value of `group_key` (e.g. a video id in a frame-level table, so one
    long video cannot dominate). With weights or caps the radii need not decrease and the min-distance
    guarantee is the stop's only.

    `level: frame` selects frames instead: k-center over every frame vector of every video (the sidecars of
    `frame_embedding_key`, written by `video_frame_embedding_mapper`), `select_num` frames in all and at most
    `per_group_budget` per video, so one long video cannot take the whole budget. A sample is kept when one of
    its frames is picked; `diversity_frame_times` lists each of its videos' picked frame times.

    Stats: `diversity_rank` (pick order, 0-based; null when not kept), `diversity_cover_radius` (distance to the
    earlier selection when picked: a per-sample novelty score; null for the first pick without a preselected
    set), `diversity_distance` (every row's distance to the nearest kept row). With `report_dir` (or `work_dir`)
    a selection report (JSON, Markdown, PNG histogram) compares the coreset with every-Nth and random subsets of
    the same size.
    """

    stats_features = {
        "diversity_rank": Value("int64"),
        "diversity_cover_radius": Value("float64"),
        "diversity_distance": Value("float64"),
        "diversity_frame_times": List(List(Value("float64"))),
    }

    def __init__(
        self,
        embedding_key: str = "video_embedding",
        level: str = "sample",
        frame_embedding_key: str = "video_frame_embeddings",
        select_num: int | None = None,
        select_ratio: float | None = None,
        min_distance: float | None = None,
        normalize: bool = True,
        first_pick: str = "farthest_from_mean",
        seed: int = 42,
        preselected_key: str | None = None,
        preselected_file: str | None = None,
        count_preselected: bool = True,
        weight_key: str | None = None,
        weight_strength: float = 1.0,
        thresholds: list[dict] | None = None,
        balance_key: str | None = None,
        balance_target: dict | None = None,
        group_key: str | None = None,
        per_group_budget: int | None = None,
        report_dir: str | None = None,
        report_eps: float = 0.05,
        report_memory_gb: float = 2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if select_num is not None and select_num < 1:
            raise ValueError(f"select_num must be a positive int, got {select_num}")
        if select_ratio is not None and not 0 < select_ratio <= 1:
            raise ValueError(f"select_ratio must be in (0, 1], got {select_ratio}")
        if select_num is None and select_ratio is None and min_distance is None:
            raise ValueError("diversity_selector needs a budget: set select_num, select_ratio or min_distance")
        if level not in ("sample", "frame"):
            raise ValueError(f"level must be 'sample' or 'frame', got {level!r}")
        if level == "frame" and (balance_key or weight_key or thresholds or group_key or preselected_key):
            raise ValueError(
                "level 'frame' takes select_num/select_ratio, min_distance, per_group_budget (per video) and "
                "preselected_file; weights, thresholds, balance and preselected rows are per sample"
            )
        if first_pick not in ("farthest_from_mean", "lowest_index", "random"):
            raise ValueError(f"first_pick must be farthest_from_mean, lowest_index or random, got {first_pick!r}")
        for t in thresholds or []:
            if not isinstance(t, dict) or set(t) != {"key", "operation", "value"}:
                raise ValueError(f"a threshold is {{key: ..., operation: ..., value: ...}}, got {t!r}")
            if t["operation"] not in THRESHOLD_OPERATIONS:
                raise ValueError(f"threshold operation must be one of {', '.join(THRESHOLD_OPERATIONS)}: {t!r}")
        if per_group_budget is not None and (per_group_budget < 1 or not (group_key or level == "frame")):
            raise ValueError("per_group_budget needs a group_key and must be >= 1")
        if preselected_file and not os.path.exists(preselected_file):
            raise FileNotFoundError(f"preselected_file not found: {preselected_file} (a .npy or embeddings.csv)")
        self.embedding_key = embedding_key
        self.level = level
        self.frame_embedding_key = frame_embedding_key
        self.select_num = select_num
        self.select_ratio = select_ratio
        self.min_distance = min_distance
        self.normalize = normalize
        self.first_pick = first_pick
        self.seed = seed
        self.preselected_key = preselected_key
        self.preselected_file = preselected_file
        self.count_preselected = count_preselected
        self.weight_key = weight_key
        self.weight_strength = weight_strength
        self.thresholds = list(thresholds or [])
        self.balance_key = balance_key
        self.balance_target = balance_target
        self.group_key = group_key
        self.per_group_budget = per_group_budget
        self.report_dir = report_dir
        self.report_eps = report_eps
        self.report_memory_gb = report_memory_gb
        self.last_report: dict | None = None

    @property
    def input_columns(self) -> list[str]:
        if self.level == "frame":
            return [self.frame_embedding_key]
        keys = [self.embedding_key, self.preselected_key, self.weight_key, self.balance_key, self.group_key]
        keys += [t["key"] for t in self.thresholds]
        return list(dict.fromkeys(first_column(k) for k in keys if k))

    # ------------------------------------------------------------------ inputs

    def vectors(self, table) -> tuple[np.ndarray, np.ndarray]:
        """(vectors of the rows that have one, their row positions)."""
        fast = arrow_vectors(table.column(self.embedding_key)) if self.embedding_key in table.column_names else None
        if fast is not None:
            X, rows = fast
            return (_unit(X) if self.normalize else X), rows
        rows, vectors = [], []
        for i, value in enumerate(field_values(table, self.embedding_key)):
            v = _row_vector(value)
            if v is not None:
                rows.append(i)
                vectors.append(v)
        if not vectors:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        dims = {len(v) for v in vectors}
        if len(dims) > 1:
            raise ValueError(f"{self.embedding_key!r} holds vectors of different lengths {sorted(dims)}")
        X = np.stack(vectors).astype(np.float32)
        return (_unit(X) if self.normalize else X), np.asarray(rows, np.int64)

    def preselected_vectors(self, dim: int) -> np.ndarray | None:
        if not self.preselected_file:
            return None
        if self.preselected_file.endswith(".npy"):
            P = np.load(self.preselected_file).astype(np.float32)
        else:
            P = read_lightly_embeddings(self.preselected_file)
        if P.ndim != 2 or P.shape[1] != dim:
            raise ValueError(
                f"preselected_file {self.preselected_file}: vectors of shape {P.shape}, expected (m, {dim})"
            )
        return _unit(P) if self.normalize else P

    def eligible(self, table, rows: np.ndarray) -> np.ndarray:
        ok = np.ones(len(rows), bool)
        for t in self.thresholds:
            values = _numbers(field_values(table, t["key"]))[rows]
            ok &= THRESHOLD_OPERATIONS[t["operation"]](values, float(t["value"])) & ~np.isnan(values)
        return ok

    def weights(self, table, rows: np.ndarray) -> np.ndarray | None:
        if not self.weight_key:
            return None
        w = _numbers(field_values(table, self.weight_key))[rows]
        if np.any(w < 0):
            raise ValueError(f"weight_key {self.weight_key!r} has negative values; weights must be >= 0")
        return np.nan_to_num(w, nan=0.0) ** self.weight_strength

    def quotas(self, table, rows: np.ndarray, budget: int) -> list:
        quotas = []
        if self.balance_key:
            labels = [_label(v) for v in field_values(table, self.balance_key)]
            labels = [labels[i] for i in rows]
            present = list(dict.fromkeys(labels))
            target = self.balance_target or {label: 1 / len(present) for label in present}
            names = list(dict.fromkeys([*map(str, target), *present]))
            shares = [float(target.get(name, 0)) for name in names]
            caps = largest_remainder(shares, budget if math.isfinite(budget) else len(rows))
            index = {name: g for g, name in enumerate(names)}
            quotas.append((np.asarray([index[label] for label in labels]), np.asarray(caps)))
        if self.per_group_budget:
            groups = [_label(v) for v in field_values(table, self.group_key)]
            index: dict = {}
            ids = np.asarray([index.setdefault(groups[i], len(index)) for i in rows])
            quotas.append((ids, np.full(max(len(index), 1), self.per_group_budget)))
        return quotas

    # ------------------------------------------------------------------ the step

    def select(self, table, show_num: int = 0) -> Selection:
        if self.level == "frame":
            return self.select_frames(table)
        n = table.num_rows
        X, rows = self.vectors(table)
        missing = n - len(rows)
        if missing:
            logger.warning(
                "%s: %d of %d rows have no %r vector and are not picked", self.name, missing, n, self.embedding_key
            )
        pre = np.zeros(0, np.int64)
        if self.preselected_key:
            flags = np.asarray([bool(v) for v in field_values(table, self.preselected_key)])[rows]
            pre = np.flatnonzero(flags)
        if self.select_num is None and self.select_ratio is None:
            budget = len(rows)
        else:
            budget = budget_count(
                len(rows), self.select_num if self.select_num is not None else float(self.select_ratio)
            )
        new = max(0, budget - len(pre)) if self.count_preselected else budget
        result = k_center_greedy(
            X,
            new,
            min_distance=self.min_distance,
            preselected=pre,
            preselected_vectors=self.preselected_vectors(X.shape[1]) if len(X) else None,
            first_pick=self.first_pick,
            seed=self.seed,
            weights=self.weights(table, rows) if len(X) else None,
            eligible=self.eligible(table, rows),
            quotas=self.quotas(table, rows, new),
        )
        order = np.concatenate([pre, result.picked]).astype(np.int64)
        kept = rows[order].tolist()
        rank: list = [None] * n
        radius: list = [None] * n
        distance: list = [None] * n
        for r, position in enumerate(kept):
            rank[position] = r
        for position, value in zip(rows[result.picked], result.radii):
            radius[position] = float(value) if math.isfinite(value) else None
        if len(order):
            for position, value in zip(rows, result.dmin):
                distance[position] = float(value) if math.isfinite(value) else None
        self.last_report = self.report(X, order, result)
        stats = {"diversity_rank": rank, "diversity_cover_radius": radius, "diversity_distance": distance}
        return Selection(kept, stats=dict(stats, diversity_frame_times=[None] * n))

    def select_frames(self, table) -> Selection:
        """Frame level: k-center over every frame vector of every video (the sidecars of `frame_embedding_key`);
        `per_group_budget` caps the frames of one video. A sample is kept when one of its frames is picked, in
        the order of its first pick; `diversity_frame_times` lists each video's picked frame times."""
        from djlite.embed.store import read_frame_embeddings

        n = table.num_rows
        refs = table.column(self.frame_embedding_key).to_pylist()
        blocks, owner, video, times = [], [], [], []
        videos: list[tuple[int, int]] = []  # (row, position in the row's videos)
        for row, paths in enumerate(refs):
            for position, path in enumerate(paths or []):
                if not path:
                    continue
                frames = read_frame_embeddings(path)
                blocks.append(frames.vectors)
                owner += [row] * len(frames)
                video += [len(videos)] * len(frames)
                times += frames.times.tolist()
                videos.append((row, position))
        if not blocks:
            return Selection([], stats={key: [None] * n for key in self.stats_features})
        X = np.concatenate(blocks).astype(np.float32)
        X = _unit(X) if self.normalize else X
        owner, video = np.asarray(owner), np.asarray(video)
        if self.select_num is None and self.select_ratio is None:
            budget = len(X)
        else:
            budget = budget_count(len(X), self.select_num if self.select_num is not None else float(self.select_ratio))
        quotas = [(video, np.full(len(videos), self.per_group_budget))] if self.per_group_budget else None
        result = k_center_greedy(
            X,
            budget,
            min_distance=self.min_distance,
            preselected_vectors=self.preselected_vectors(X.shape[1]),
            first_pick=self.first_pick,
            seed=self.seed,
            quotas=quotas,
        )
        kept: list[int] = []
        rank, radius = [None] * n, [None] * n
        picked_times: list = [None] * n
        for frame, r in zip(result.picked, result.radii):
            row = int(owner[frame])
            if rank[row] is None:
                rank[row] = len(kept)
                radius[row] = float(r) if math.isfinite(r) else None
                kept.append(row)
        for row, paths in enumerate(refs):
            picked_times[row] = [[] for _ in (paths or [])]
        for frame in sorted(result.picked.tolist(), key=lambda f: times[f]):
            row, position = videos[video[frame]]
            picked_times[row][position].append(times[frame])
        distance = [None] * n
        for row in range(n):
            mine = owner == row
            if mine.any() and np.isfinite(result.dmin[mine]).all():
                distance[row] = float(result.dmin[mine].max())  # the row's worst-covered frame
        self.last_report = self.report(X, result.picked, result)
        return Selection(
            kept,
            stats={
                "diversity_rank": rank,
                "diversity_cover_radius": radius,
                "diversity_distance": distance,
                "diversity_frame_times": picked_times,
            },
        )

    def report(self, X, order, result) -> dict | None:
        folder = self.report_dir or self.work_dir
        if not folder or len(X) == 0:
            return None
        report = build_report(
            X,
            order,
            seed=self.seed,
            eps=self.report_eps,
            memory_bytes=int(self.report_memory_gb * 1024**3),
            extra={
                "first_pick": result.first_rule,
                "stopped_by": result.stopped_by,
                "min_distance": self.min_distance,
                "coreset_rows": order.tolist(),
                "cover_radius_at_pick": [None if not math.isfinite(r) else r for r in result.radii.tolist()],
            },
        )
        report["paths"] = write_report(report, folder, X=X)
        return report


def largest_remainder(shares: list[float], total: int) -> list[int]:
    """Integer caps proportional to `shares` summing to `total` (Hamilton's method; ties to the earlier share)."""
    s = sum(shares)
    if s <= 0:
        raise ValueError("balance_target proportions must sum to more than 0")
    exact = [total * x / s for x in shares]
    caps = [math.floor(e) for e in exact]
    for g in sorted(range(len(shares)), key=lambda g: (-(exact[g] - caps[g]), g))[: total - sum(caps)]:
        caps[g] += 1
    return caps


def read_lightly_embeddings(path: str) -> np.ndarray:
    """Vectors of a Lightly `embeddings.csv` (header filenames,embedding_0..embedding_{d-1},labels)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [i for i, name in enumerate(header) if name.startswith("embedding_")]
        if not cols:
            raise ValueError(f"{path}: no embedding_<i> columns in the header (Lightly's embeddings.csv format)")
        return np.asarray([[float(row[i]) for i in cols] for row in reader], dtype=np.float32).reshape(-1, len(cols))


def arrow_vectors(column) -> tuple[np.ndarray, np.ndarray] | None:
    """Row vectors straight from Arrow buffers (no Python float per value): a list<float> column, or a
    list<list<float>> column (one vector per video, averaged). None when the layout is anything else (vectors of
    different lengths, null vectors inside a row): the caller then reads the values one by one."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_list(array.type):
        return None
    outer = np.asarray(array.offsets)
    present = np.asarray(array.is_valid()) & (np.diff(outer) > 0)
    if pa.types.is_floating(array.type.value_type):
        lengths = np.diff(outer)[present]
        if not len(lengths) or np.any(lengths != lengths[0]):
            return None if len(lengths) else (np.zeros((0, 0), np.float32), np.zeros(0, np.int64))
        values = np.asarray(array.values.to_numpy(zero_copy_only=False), np.float32)
        starts = outer[:-1][present]
        X = values[starts[:, None] + np.arange(lengths[0])[None, :]]
        return X, np.flatnonzero(present).astype(np.int64)
    inner_type = array.type.value_type
    if not (pa.types.is_list(inner_type) and pa.types.is_floating(inner_type.value_type)):
        return None
    vectors = array.values
    inner = np.asarray(vectors.offsets)
    used = slice(int(outer[0]), int(outer[-1]))
    lengths = np.diff(inner)[used]
    if vectors.null_count or not len(lengths) or np.any(lengths != lengths[0]) or lengths[0] == 0:
        return None if len(lengths) else (np.zeros((0, 0), np.float32), np.zeros(0, np.int64))
    d = int(lengths[0])
    values = np.asarray(vectors.values.to_numpy(zero_copy_only=False), np.float32)
    V = values[int(inner[used.start]) : int(inner[used.start]) + d * len(lengths)].reshape(-1, d)
    rows = np.flatnonzero(present).astype(np.int64)
    starts = outer[:-1][present] - outer[0]
    counts = np.diff(outer)[present]
    X = (
        (np.add.reduceat(V.astype(np.float64), starts, axis=0) / counts[:, None]).astype(np.float32)
        if len(rows)
        else V[:0]
    )
    return X, rows


def _row_vector(value):
    if value is None or len(value) == 0:
        return None
    if isinstance(value[0], (list, tuple, np.ndarray)):
        vectors = [v for v in value if v is not None and len(v)]
        return np.mean(np.asarray(vectors, np.float64), axis=0) if vectors else None
    return np.asarray(value, np.float64)


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norms > 0, norms, 1)).astype(np.float32)


def _numbers(values) -> np.ndarray:
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            v = float(np.mean(v)) if len(v) else None
        out.append(np.nan if v is None else float(v))
    return np.asarray(out, np.float64)


def _label(value) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return str(value)
