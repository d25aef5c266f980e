"""The selection report: original / every-Nth / random (seeded) / coreset rows side by side, JSON + Markdown,
and a histogram of pairwise distances before and after (PNG, when matplotlib is installed).

Every row holds `selection_stats` (djlite/select/stats.py) for the same budget, so the table answers "did the
coreset buy diversity?": a larger min and p10 pairwise distance, a smaller coverage radius. "every_nth" is
the row order's evenly spaced subset (for frames in time order, the fixed-fps baseline).
"""

import json
import math
import os

import numpy as np

from djlite.files import atomic_path
from djlite.select.kcenter import every_nth, random_subset
from djlite.select.stats import DEFAULT_MEMORY_BYTES, pairwise_distances_upper, sampled_pair_distances, selection_stats

COLUMNS = [
    ("count", "Number of samples"),
    ("mean", "L2 distance mean"),
    ("min", "L2 distance min"),
    ("max", "L2 distance max"),
    ("p10", "L2 distance 10th pct"),
    ("p90", "L2 distance 90th pct"),
    ("nn_mean", "NN distance mean"),
    ("nn_p10", "NN distance 10th pct"),
    ("coverage_radius", "Coverage radius"),
    ("near_duplicate_pairs", "Pairs closer than eps"),
]


def build_report(
    X, coreset, seed: int = 42, eps: float = 0.05, memory_bytes: int = DEFAULT_MEMORY_BYTES, extra: dict | None = None
) -> dict:
    """{"rows": {original, every_nth, random, coreset: stats}, ...}; the baselines use the coreset's count."""
    X = np.asarray(X, dtype=np.float32)
    coreset = np.asarray(coreset, dtype=np.int64)
    n, k = len(X), len(coreset)
    selections = {
        "original": np.arange(n),
        "every_nth": every_nth(n, k),
        "random": random_subset(n, k, seed=seed),
        "coreset": coreset,
    }
    rows = {
        name: selection_stats(X, idx, eps=eps, seed=seed, memory_bytes=memory_bytes) for name, idx in selections.items()
    }
    return {
        "n": n,
        "budget": k,
        "examples": nearest_examples(X, coreset),
        "dim": int(X.shape[1]) if X.ndim == 2 else 0,
        "seed": seed,
        "eps": eps,
        "rows": rows,
        **(extra or {}),
    }


def nearest_examples(X, selected, count: int = 6) -> dict:
    """Lightly's example pairs: the dropped rows nearest to a kept row (what the pick found redundant) and the
    dropped rows farthest from every kept row (the worst covered), each as [dropped, nearest kept, distance]."""
    n = len(X)
    selected = np.asarray(selected, dtype=np.int64)
    dropped = np.setdiff1d(np.arange(n), selected)
    if not len(selected) or not len(dropped):
        return {"redundant": [], "worst_covered": []}
    A = np.asarray(X, dtype=np.float64)[selected]
    D = np.asarray(X, dtype=np.float64)[dropped]
    d2 = (D**2).sum(1)[:, None] + (A**2).sum(1)[None, :] - 2 * D @ A.T
    nearest = np.argmin(d2, axis=1)
    dist = np.sqrt(np.maximum(d2[np.arange(len(dropped)), nearest], 0))
    order = np.argsort(dist, kind="stable")
    pairs = [[int(dropped[i]), int(selected[nearest[i]]), float(dist[i])] for i in order]
    return {"redundant": pairs[:count], "worst_covered": pairs[::-1][:count]}


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def to_markdown(report: dict) -> str:
    rows = report["rows"]
    names = list(rows)
    lines = [
        "# Selection report",
        "",
        f"{report['n']} vectors of dimension {report['dim']}, budget {report['budget']}, seed {report['seed']}.",
        "",
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, label in COLUMNS:
        lines.append(f"| {label} | " + " | ".join(_cell(rows[name].get(key)) for name in names) + " |")
    approx = [name for name in names if rows[name].get("approx")]
    if approx:
        lines += ["", f"Pairwise statistics of {', '.join(approx)} come from sampled pairs (approx)."]
    lines += ["", f"eps for near-duplicate pairs: {report['eps']}."]
    for kind, title in (("redundant", "Dropped rows nearest to a kept row"), ("worst_covered", "Worst-covered rows")):
        pairs = report.get("examples", {}).get(kind, [])
        if pairs:
            lines += ["", f"{title} (row, nearest kept row, distance; rows in the selector's input order):", ""]
            lines += [f"- {a} -> {b}: {d:.4f}" for a, b, d in pairs]
    for key in ("first_pick", "stopped_by", "min_distance"):
        if key in report:
            lines.append(f"{key}: {report[key]}")
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: str, X=None, name: str = "selection_report") -> dict:
    """Write <folder>/<name>.json, .md and (with X and matplotlib) .png atomically; return the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = {"json": os.path.join(folder, f"{name}.json"), "md": os.path.join(folder, f"{name}.md")}
    with atomic_path(paths["json"]) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=_json_default)
    with atomic_path(paths["md"]) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(to_markdown(report))
    if X is not None and "coreset_rows" in report:
        png = os.path.join(folder, f"{name}.png")
        if draw_histogram(X, report, png):
            paths["png"] = png
    return paths


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _distances(A, memory_bytes: int = 256 * 1024**2, seed: int = 0) -> np.ndarray:
    m = len(A)
    if m * (m - 1) // 2 * 4 <= memory_bytes:
        return pairwise_distances_upper(A)
    return sampled_pair_distances(A, 500_000, seed)


def draw_histogram(X, report: dict, path: str) -> bool:
    """Pairwise-distance histograms of the original set and the coreset (log count axis, as Lightly's)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    X = np.asarray(X, dtype=np.float32)
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, max(float(report["rows"]["original"].get("max") or 2.0), 1e-6), 60)
    for label, idx in (("original", np.arange(len(X))), ("coreset", np.asarray(report["coreset_rows"]))):
        if len(idx) >= 2:
            ax.hist(_distances(X[idx]), bins=bins, alpha=0.55, label=f"{label} ({len(idx)})", density=True)
    ax.set_yscale("log")
    ax.set_xlabel("pairwise L2 distance")
    ax.set_ylabel("density (log)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return True


def find_report(folders, name: str = "selection_report") -> str | None:
    """The first <folder>/<name>.json among `folders` (a run's work dir, an analysis dir, the stats file's dir)."""
    for folder in folders:
        if folder and os.path.isfile(os.path.join(folder, f"{name}.json")):
            return os.path.join(folder, f"{name}.json")
    return None


def html_section(json_path: str) -> str:
    """The report as an HTML section for dj-analyze's report: the table and the histogram, self-contained."""
    import base64
    import html

    with open(json_path, encoding="utf-8") as f:
        report = json.load(f)
    rows = report["rows"]
    names = list(rows)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{_cell(rows[n].get(key))}</td>" for n in names) + "</tr>"
        for key, label in COLUMNS
    )
    parts = [
        '<h2 id="selection">Diverse selection</h2>',
        f'<p class="note">{report["n"]} vectors, budget {report["budget"]}, seed {report["seed"]}; every-Nth and '
        "random subsets of the same size for comparison. Larger min / 10th-percentile distances and a smaller "
        f"coverage radius mean a more diverse pick. From {html.escape(json_path)}.</p>",
        f"<table><tr><th>metric</th>{head}</tr>{body}</table>",
    ]
    png = os.path.splitext(json_path)[0] + ".png"
    if os.path.isfile(png):
        with open(png, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        parts.append(f'<div class="plots"><img src="data:image/png;base64,{data}" alt="pairwise distances"></div>')
    return "".join(parts)
