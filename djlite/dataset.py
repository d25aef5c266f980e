"""jsonl / json / parquet -> datasets.Dataset, with media paths made absolute.

Unknown keys are carried through untouched and `text` is optional. A jsonl line that is not a valid sample
(not JSON, a duplicate key, a media entry that is not a path, a value of another JSON type than the same key
on earlier lines: see djlite.jsonl_lines) is not fatal: it is set aside with its line number and reported in
the errors file like any bad sample.
"""

import json
import os
from contextlib import contextmanager

import datasets
from loguru import logger

from djlite.errors import RecipeError
from djlite.fields import Fields
from djlite.files import atomic_path
from djlite.jsonl_lines import read_json_array, read_jsonl
from djlite.run_paths import RunPaths

SUFFIX_TO_BUILDER = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
MAX_LOGGED_BAD_LINES = 5


def _walk_visible(path: str):
    """Files under `path`, leaving out hidden ones and hidden folders (djlite's scratch and temporary files)."""
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        yield from (os.path.join(root, name) for name in names if not name.startswith("."))


def dataset_files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(f for f in _walk_visible(path) if os.path.splitext(f)[1] in SUFFIX_TO_BUILDER)
        if not files:
            raise RecipeError(f"dataset_path {path!r} is a folder with no .jsonl, .json or .parquet file")
        return files
    return [path]


def _is_blank(path: str) -> bool:
    if os.path.getsize(path) == 0:
        return True
    if os.path.getsize(path) > 1 << 16 or not path.endswith((".jsonl", ".json")):
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        return not f.read().strip()


def _stat_kinds() -> dict[str, str]:
    """Every stat key a registered op writes: "numbers" (one per video) or "number"."""
    from djlite.registry import OPERATORS, load_builtin_ops

    load_builtin_ops()
    return {
        key: "numbers" if isinstance(feature, (datasets.List, datasets.Sequence)) else "number"
        for cls in OPERATORS.values()
        for key, feature in getattr(cls, "stats_features", {}).items()
    }


def _screen_jsonl(files: list[str], video_key: str, scratch_dir: str) -> tuple[list[str], list[dict]]:
    """Read every jsonl file with `jsonlines`; return the files to load and the lines that are not samples.

    A file with no bad line is loaded as it is (its cache fingerprint stays); one with bad lines is replaced by
    a copy of its good lines in scratch_dir.
    """
    shapes: dict = {}
    stat_kinds = _stat_kinds()
    kept, bad = [], []
    for index, path in enumerate(files):
        if path.endswith(".json"):
            kept += _screen_json_array(path, video_key, shapes, stat_kinds, bad, scratch_dir, index)
            continue
        if not path.endswith(".jsonl"):
            kept.append(path)
            continue
        errors = {number: record for number, record in read_jsonl(path, video_key, shapes, stat_kinds) if record}
        if not errors:
            kept.append(path)
            continue
        bad.extend(errors.values())
        # Second pass, only for a file with bad lines: copy the good ones (memory stays O(bad lines)).
        skip = set(errors)
        os.makedirs(scratch_dir, exist_ok=True)
        out_path = os.path.join(scratch_dir, f"{index}-{os.path.basename(path)}")
        good = 0
        with atomic_path(out_path) as tmp, open(tmp, "wb") as dst, open(path, "rb") as src:
            for number, line in enumerate(src, 1):
                if number not in skip and line.strip():
                    dst.write(line if line.endswith(b"\n") else line + b"\n")
                    good += 1
        if not good:
            os.remove(out_path)
            continue
        kept.append(out_path)
    return kept, bad


def _screen_json_array(path, video_key, shapes, stat_kinds, bad: list, scratch_dir: str, index: int) -> list[str]:
    """A .json list of samples: as it is when every item is good, else a jsonl copy of its good items."""
    try:
        good, errors = read_json_array(path, video_key, shapes, stat_kinds)
    except ValueError as e:
        raise RecipeError(f"cannot read dataset file {path!r}: not valid JSON: {e}") from None
    bad.extend(errors)
    if good is None:
        return [path]
    if not good:
        return []
    os.makedirs(scratch_dir, exist_ok=True)
    out_path = os.path.join(scratch_dir, f"{index}-{os.path.basename(path)}l")
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8") as dst:
        for row in good:
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")
    return [out_path]


def resolve_media_paths(dataset: datasets.Dataset, video_key: str, base_dir: str, num_proc: int = 1):
    """Relative video paths become absolute against the dataset file's folder; a single path becomes a list."""
    if video_key not in dataset.column_names:
        return dataset

    def resolve(batch):
        out = []
        for videos in batch[video_key]:
            if videos is None:
                out.append([])
                continue
            if isinstance(videos, str):
                videos = [videos]
            out.append([v if os.path.isabs(v) else os.path.normpath(os.path.join(base_dir, v)) for v in videos])
        return {video_key: out}

    features = dataset.features.copy()
    features[video_key] = datasets.List(datasets.Value("string"))
    return dataset.map(
        resolve,
        batched=True,
        features=features,
        num_proc=num_proc if len(dataset) > 10_000 else None,
        desc="resolve media paths",
        new_fingerprint=datasets.fingerprint.Hasher.hash((dataset._fingerprint, "resolve", video_key, base_dir)),
    )


def load_dataset(
    path: str,
    video_key: str = "videos",
    cache_dir: str | None = None,
    scratch_dir: str = ".",
    num_proc: int = 1,
) -> tuple[datasets.Dataset, list[dict]]:
    """Load every row; returns (dataset, rows that could not be parsed, as error records)."""
    files = dataset_files(path)
    builder = {SUFFIX_TO_BUILDER[os.path.splitext(f)[1]] for f in files}
    if len(builder) > 1:
        raise RecipeError(f"dataset_path {path!r} mixes json and parquet files; use one format")
    builder = builder.pop()
    bad: list[dict] = []

    def load(data_files):
        return datasets.load_dataset(builder, data_files=data_files, split="train", cache_dir=cache_dir)

    if all(_is_blank(f) for f in files):
        logger.warning(f"dataset {path!r} holds no samples")
        return datasets.Dataset.from_dict({}), []
    if builder == "json":
        files, bad = _screen_jsonl(files, video_key, scratch_dir)
        for record in bad[:MAX_LOGGED_BAD_LINES]:
            logger.warning(record[Fields.errors][0]["error"])
        if len(bad) > MAX_LOGGED_BAD_LINES:
            logger.warning(f"... {len(bad) - MAX_LOGGED_BAD_LINES} more dataset lines that are not samples")
        if bad:
            logger.warning(f"{len(bad)} dataset line(s) are not valid samples; they go to the errors file")
        if not files:
            return datasets.Dataset.from_dict({}), bad
    try:
        dataset = load(files)
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds; we explain in one line
        raise RecipeError(f"cannot read dataset {path!r}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    base_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    return resolve_media_paths(dataset, video_key, base_dir, num_proc), bad


@contextmanager
def datasets_caching(enabled: bool):
    """Turn `datasets`' cache files off for the block when the recipe says `use_cache: false`."""
    was_enabled = datasets.is_caching_enabled()
    if not enabled:
        datasets.disable_caching()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_caching()


def load_recipe_dataset(recipe) -> tuple[datasets.Dataset, list[dict]]:
    """The recipe's dataset and its unparseable lines, as every executor loads them."""
    dataset, bad = load_dataset(
        recipe.dataset_path,
        video_key=recipe.video_key,
        cache_dir=recipe.ds_cache_dir,
        scratch_dir=RunPaths(recipe.export_path, recipe.work_dir).dataset_scratch_dir,
    )
    logger.info(f"loaded {len(dataset)} samples from {recipe.dataset_path}")
    return dataset, bad
