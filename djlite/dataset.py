"""jsonl / json / parquet -> datasets.Dataset, with media paths made absolute.

Unknown keys are carried through untouched and `text` is optional. A jsonl line that is not valid JSON is
not fatal: it is set aside with its line number and reported in the errors file like any bad sample.
"""

import json
import os
from contextlib import contextmanager

import datasets
from loguru import logger

from djlite.errors import RecipeError
from djlite.fields import Fields

SUFFIX_TO_BUILDER = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def dataset_files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(path)
            for name in names
            if os.path.splitext(name)[1] in SUFFIX_TO_BUILDER
        )
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


def _split_bad_lines(files: list[str], scratch_dir: str) -> tuple[list[str], list[dict]]:
    """Copy the parseable lines of jsonl files to scratch_dir; return the new files and the bad lines."""
    os.makedirs(scratch_dir, exist_ok=True)
    cleaned, bad = [], []
    for index, path in enumerate(files):
        if not path.endswith(".jsonl"):
            cleaned.append(path)
            continue
        out_path = os.path.join(scratch_dir, f"{index}-{os.path.basename(path)}")
        with (
            open(path, encoding="utf-8", errors="replace") as src,
            open(out_path, "w", encoding="utf-8") as dst,
        ):
            for number, line in enumerate(src, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"a sample is a JSON object, got {type(row).__name__}")
                except ValueError as e:
                    error = f"{type(e).__name__}: {path} line {number}: {e}"
                    bad.append({"line": line.rstrip("\n")[:10000], Fields.errors: [{"op": "load", "error": error}]})
                    continue
                dst.write(line if line.endswith("\n") else line + "\n")
        cleaned.append(out_path)
    return cleaned, bad


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
    try:
        dataset = load(files)
    except Exception as first_error:  # noqa: BLE001 - datasets raises many kinds; we retry or explain
        if builder != "json":
            raise RecipeError(f"cannot read dataset {path!r}: {type(first_error).__name__}: {first_error}") from None
        files, bad = _split_bad_lines(files, scratch_dir)
        if bad:
            logger.warning(f"{len(bad)} dataset line(s) are not valid JSON objects; they go to the errors file")
        try:
            dataset = load(files)
        except Exception as e:  # noqa: BLE001
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
        scratch_dir=os.path.join(recipe.work_dir, ".djlite_scratch"),
    )
    logger.info(f"loaded {len(dataset)} samples from {recipe.dataset_path}")
    return dataset, bad
