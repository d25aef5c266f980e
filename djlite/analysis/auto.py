"""Auto mode, as Data-Juicer's `dj-analyze --auto`: every stats-producing video filter, with its defaults,
on the first `auto_num` samples of a dataset.

A filter whose setup fails here (an optional backend such as easyocr not installed) is left out with a
warning naming it, instead of failing on every sample. The first samples are copied to the analysis
folder with their video paths made absolute, so relative paths still point at the videos.
"""

import json
import os

from loguru import logger

from djlite.dataset import dataset_files
from djlite.errors import RecipeError
from djlite.files import atomic_path
from djlite.ops.base import Filter, VideoFilter
from djlite.registry import OPERATORS, load_builtin_ops

DEFAULT_AUTO_NUM = 1000


def auto_filter_names() -> list[str]:
    """Registered filters that write stats about videos, in name order."""
    load_builtin_ops()
    return sorted(
        name
        for name, cls in OPERATORS.items()
        if issubclass(cls, Filter)
        and cls.stats_features
        and (issubclass(cls, VideoFilter) or name.startswith("video_"))
    )


def usable_auto_filters() -> list[str]:
    from djlite.recipe import build_op

    names = []
    for name in auto_filter_names():
        try:
            build_op(name, {}).setup()
        except Exception as e:  # noqa: BLE001 - any failure means this filter cannot run here
            logger.warning(
                f"auto mode leaves out {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            )
            continue
        names.append(name)
    return names


def _absolute(row, video_key: str, base_dir: str):
    videos = row.get(video_key) if isinstance(row, dict) else None
    if isinstance(videos, str):
        videos = [videos]
    if isinstance(videos, list):
        row[video_key] = [
            v if not isinstance(v, str) or os.path.isabs(v) else os.path.normpath(os.path.join(base_dir, v))
            for v in videos
        ]
    return row


def _lines(path: str, video_key: str):
    """Each sample of a dataset file as a jsonl line; a jsonl line that does not parse is passed on as it is."""
    base_dir = os.path.dirname(os.path.abspath(path))
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    yield line.rstrip("\n")  # stays a load error in the run, as in dj-process
                    continue
                yield json.dumps(_absolute(row, video_key, base_dir), ensure_ascii=False)
        return
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            try:
                rows = json.load(f)
            except ValueError as e:
                raise RecipeError(f"dataset_path {path!r}: not valid JSON: {e}") from None
        rows = rows if isinstance(rows, list) else [rows]
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    for row in rows:
        yield json.dumps(_absolute(row, video_key, base_dir), ensure_ascii=False, default=str)


def first_samples(dataset_path: str, count: int, video_key: str, out_dir: str) -> str:
    """A jsonl of the dataset's first `count` samples (the dataset itself when it has no more)."""
    if not os.path.exists(dataset_path):
        raise RecipeError(f"dataset_path {dataset_path!r} does not exist")
    if count < 1:
        raise RecipeError(f"auto_num must be >= 1, got {count}")
    taken = []
    for path in dataset_files(dataset_path):
        for line in _lines(path, video_key):
            taken.append(line)
            if len(taken) > count:
                break
        if len(taken) > count:
            break
    if len(taken) <= count and os.path.isfile(dataset_path):
        return os.path.abspath(dataset_path)
    name = os.path.splitext(os.path.basename(os.path.normpath(dataset_path)))[0]
    out = os.path.join(out_dir, f"{name}_first{count}.jsonl")
    os.makedirs(out_dir, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in taken[:count])
    return out


def auto_recipe(dataset_path: str, auto_num: int, work_dir: str, video_key: str = "videos") -> dict:
    """The recipe auto mode runs: every usable stats-producing video filter, defaults only."""
    filters = usable_auto_filters()
    if not filters:
        raise RecipeError("auto mode found no video filter that can run here")
    sample = first_samples(dataset_path, auto_num, video_key, os.path.join(work_dir, "analysis"))
    logger.info(f"auto mode: {', '.join(filters)} on the first {auto_num} samples of {dataset_path}")
    return {
        "project_name": "auto",
        "dataset_path": sample,
        "export_path": os.path.join(work_dir, "auto.jsonl"),
        "work_dir": work_dir,
        "video_key": video_key,
        "process": [{name: {}} for name in filters],
    }
