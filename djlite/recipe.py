"""YAML recipe + command-line overrides -> a validated Recipe with its ops built, before any data is read.

Recipes are Data-Juicer compatible: the same global keys and a `process:` list of `{op_name: {params}}`.
Every problem is a RecipeError whose one-line message names the step and the value.

Command-line overrides:
    --np 2  --export_path out/res.jsonl          global keys (also --key=value)
    --video_duration_filter.min_duration 3       a parameter of every step using that op
    --process.1.min_duration 3                   a parameter of step 1 only (0-based)
Values are read as YAML, so `3`, `true`, `[1, 2]` and `null` have their usual types.
"""

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from djlite.errors import RecipeError
from djlite.params import ParamTypeError, coerce, signature_params
from djlite.registry import check_requirements, get_op

EXPORT_SUFFIXES = (".jsonl", ".json", ".parquet")
DATASET_SUFFIXES = (".jsonl", ".json", ".parquet")

# Data-Juicer keys that djlite reads but does not act on; a recipe carrying them still runs.
IGNORED_DJ_KEYS = {
    "open_monitor", "open_tracer", "op_list_to_trace", "trace_num", "op_fusion", "fusion_strategy",
    "adaptive_batch_size", "use_checkpoint", "temp_dir", "cache_compress", "turbo", "skip_op_error",
    "export_in_parallel", "suffixes", "image_key", "audio_key", "image_special_token",
    "audio_special_token", "image_bytes_key", "debug", "open_insight_mining", "op_list_to_mine",
    "percentiles", "export_original_dataset", "save_stats_in_one_file", "auto", "auto_num",
    "custom_operator_paths", "validators", "data_probe_algo", "data_probe_ratio",
}  # fmt: skip


@dataclass
class Recipe:
    project_name: str = "hello_world"
    dataset_path: str = ""
    export_path: str = "./outputs/hello_world/hello_world.jsonl"
    export_type: str | None = None
    export_shard_size: int = 0
    # Options of a training layout (export_type mediasequence / video2tfrecord / webdataset): djlite/formats/export.py
    export_extra_args: dict = field(default_factory=dict)
    work_dir: str | None = None
    np: int = 4  # capped at the CPU count, as in Data-Juicer
    text_keys: str | list[str] = "text"
    video_key: str = "videos"
    video_special_token: str = "<__dj__video>"
    eoc_special_token: str = "<|__dj__eoc|>"
    keep_stats_in_res_ds: bool = False
    keep_hashes_in_res_ds: bool = False
    use_cache: bool = True
    ds_cache_dir: str | None = None
    on_error: Literal["drop", "keep", "raise"] = "drop"
    executor_type: Literal["default", "ray"] = "default"
    # executor_type: ray only. None starts a local Ray instance; "auto" or "host:port" joins a running cluster.
    # (Data-Juicer's default is "auto", which fails when no cluster runs.)
    ray_address: str | None = None
    process: list = field(default_factory=list)
    # Filled in by load_recipe, not read from YAML.
    source: str = "<recipe>"
    ops: list = field(default_factory=list, repr=False)

    @property
    def text_key(self) -> str:
        return self.text_keys if isinstance(self.text_keys, str) else self.text_keys[0]

    def resolved(self) -> dict:
        """The recipe with every op parameter filled in, as saved next to the outputs."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("ops", "source")}
        out["process"] = [{op.name: op.config} for op in self.ops]
        return out


GLOBAL_KEYS = {f.name for f in dataclasses.fields(Recipe)} - {"ops", "source"}


def _did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_overrides(argv: list[str]) -> dict[str, Any]:
    """['--np', '2', '--a.b=3'] -> {'np': 2, 'a.b': 3}; values are parsed as YAML scalars or lists."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise RecipeError(f"unexpected argument {arg!r}: overrides look like --key value or --op.param value")
        key = arg[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(argv):
                raise RecipeError(f"override --{key} needs a value")
            raw = argv[i + 1]
            i += 2
        try:
            out[key] = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            out[key] = raw
    return out


def _read_yaml(path: str) -> dict:
    if not os.path.isfile(path):
        raise RecipeError(f"recipe file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: a recipe is a mapping of keys (dataset_path, process, ...), got {type(data).__name__}"
        )
    return data


def _apply_overrides(data: dict, overrides: dict, where: str) -> None:
    process = data.get("process") or []
    for key, value in overrides.items():
        if "." not in key:
            data[key] = value
            continue
        target, param = key.rsplit(".", 1)
        if target.startswith("process."):
            index = target.split(".", 1)[1]
            if not index.isdigit() or int(index) >= len(process):
                raise RecipeError(f"{where}: override --{key}: the recipe has no step {index} (it has {len(process)})")
            steps = [process[int(index)]]
        else:
            steps = [s for s in process if isinstance(s, dict) and target in s]
            if not steps:
                names = [next(iter(s)) for s in process if isinstance(s, dict) and s]
                raise RecipeError(
                    f"{where}: override --{key}: no step uses op {target!r}{_did_you_mean(target, names)}"
                )
        for step in steps:
            name = next(iter(step))
            step[name] = dict(step[name] or {}, **{param: value})


def _check_global(key: str, value, where: str):
    hints = {f.name: f.type for f in dataclasses.fields(Recipe)}
    import typing

    annotation = typing.get_type_hints(Recipe)[key] if key in hints else Any
    try:
        return coerce(value, annotation)
    except ParamTypeError as e:
        raise RecipeError(f"{where}: {key}: {e}") from None


def build_op(name: str, params: dict | None, where: str = "recipe"):
    """Instantiate op `name` from recipe params, turning every problem into a one-line RecipeError."""
    cls = get_op(name)
    params = dict(params or {})
    accepted = signature_params(cls)
    checked = {}
    for key, value in params.items():
        if key not in accepted:
            raise RecipeError(
                f"{where} {name}: unknown parameter {key!r}{_did_you_mean(key, accepted)}; "
                f"it takes: {', '.join(accepted)}"
            )
        try:
            checked[key] = coerce(value, accepted[key].annotation)
        except ParamTypeError as e:
            raise RecipeError(f"{where} {name}: {key}: {e}") from None
    try:
        op = cls(**checked)
    except (ValueError, TypeError) as e:
        raise RecipeError(f"{where} {name}: {e}") from None
    check_requirements(op, where)
    return op


def load_recipe(path: str | None = None, overrides: dict | None = None, data: dict | None = None) -> Recipe:
    """Read, override and validate a recipe; build its ops. Reads no dataset rows."""
    where = path or "recipe"
    data = dict(_read_yaml(path) if path else (data or {}))
    if overrides:
        _apply_overrides(data, overrides, where)
    recipe = Recipe(source=where)
    for key, value in data.items():
        if key in IGNORED_DJ_KEYS:
            continue
        if key not in GLOBAL_KEYS:
            raise RecipeError(f"{where}: unknown key {key!r}{_did_you_mean(key, GLOBAL_KEYS | IGNORED_DJ_KEYS)}")
        setattr(recipe, key, _check_global(key, value, where))
    if recipe.np < 1:
        raise RecipeError(f"{where}: np must be >= 1, got {recipe.np}")
    if recipe.export_shard_size < 0:
        raise RecipeError(f"{where}: export_shard_size must be >= 0, got {recipe.export_shard_size}")

    base_dir = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    recipe.ops = _build_ops(recipe, where)
    _check_paths(recipe, base_dir, where)
    for op in recipe.ops:
        # Ops that write files beside the outputs (frame embeddings) default to the recipe's work_dir.
        if op.work_dir is None:
            op.work_dir = recipe.work_dir
    return recipe


def _build_ops(recipe: Recipe, where: str) -> list:
    if not isinstance(recipe.process, list):
        raise RecipeError(f"{where}: process must be a list of {{op_name: {{params}}}}, got {recipe.process!r}")
    ops = []
    for i, step in enumerate(recipe.process):
        if isinstance(step, str):
            step = {step: {}}
        if not isinstance(step, dict) or len(step) != 1:
            raise RecipeError(f"{where}: process[{i}] must be one {{op_name: {{params}}}}, got {step!r}")
        name, params = next(iter(step.items()))
        if params is not None and not isinstance(params, dict):
            raise RecipeError(f"{where}: process[{i}] {name}: parameters must be a mapping, got {params!r}")
        params = dict(params or {})
        params.setdefault("text_key", recipe.text_key)
        params.setdefault("video_key", recipe.video_key)
        ops.append(build_op(name, params, where=f"{where}: process[{i}]"))
    return ops


def _check_paths(recipe: Recipe, base_dir: str, where: str) -> None:
    if not recipe.dataset_path:
        raise RecipeError(f"{where}: dataset_path is not set; point it at a .jsonl, .json or .parquet file")
    dataset_path = recipe.dataset_path
    if not os.path.isabs(dataset_path) and not os.path.exists(dataset_path):
        # Relative to the recipe's folder when not relative to the working directory.
        candidate = os.path.join(base_dir, dataset_path)
        if os.path.exists(candidate):
            dataset_path = candidate
    if not os.path.exists(dataset_path):
        raise RecipeError(f"{where}: dataset_path {recipe.dataset_path!r} does not exist")
    if os.path.isfile(dataset_path) and not dataset_path.endswith(DATASET_SUFFIXES):
        raise RecipeError(f"{where}: dataset_path {recipe.dataset_path!r} must end in .jsonl, .json or .parquet")
    recipe.dataset_path = os.path.abspath(dataset_path)
    suffix = "." + recipe.export_type if recipe.export_type else os.path.splitext(recipe.export_path)[1]
    from djlite.formats.export import make_layout

    if make_layout(recipe, base_dir) is None and suffix not in EXPORT_SUFFIXES:
        raise RecipeError(
            f"{where}: export_path {recipe.export_path!r} must end in .jsonl, .json or .parquet, or name a training "
            "layout (.tfrecord, .tfrecords, .tar, or export_type mediasequence / video2tfrecord / webdataset)"
        )
    recipe.export_path = os.path.abspath(recipe.export_path)
    if recipe.work_dir is None:
        recipe.work_dir = os.path.dirname(recipe.export_path)
