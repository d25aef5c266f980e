"""YAML recipe + command-line overrides -> a validated Recipe with its ops built, before any data is read.

Recipes are Data-Juicer compatible: the same global keys and a `process:` list of `{op_name: {params}}`.
Configuration is parsed with jsonargparse, as in Data-Juicer: every global key is a typed option, `--config`
may be given more than once (later files override earlier ones), and op parameters are validated against
the ops' signatures and type hints. Every problem is a RecipeError whose one-line message names the step and
the value.

Command-line overrides:
    --np 2  --export_path out/res.jsonl          global keys (also --key=value)
    --video_duration_filter.min_duration 3       a parameter of every step using that op
    --process.1.min_duration 3                   a parameter of step 1 only (0-based)
Values are read as YAML 1.2 (djlite.recipe_yaml), so `3`, `true`, `[1, 2]` and `null` have their usual types
and `4:3` stays a string.
"""

import dataclasses
import difflib
import functools
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from djlite.errors import RecipeError
from djlite.params import describe_type, signature_params
from djlite.recipe_yaml import load_yaml, read_recipe_file, yaml_error_message
from djlite.registry import check_requirements, get_op
from djlite.run_paths import RunPaths

DATASET_SUFFIXES = (".jsonl", ".json", ".parquet")
YAML_MODE = "djlite_yaml"

# Data-Juicer keys that djlite reads but does not act on; a recipe carrying them still runs.
IGNORED_DJ_KEYS = {
    "open_monitor", "op_fusion", "fusion_strategy",
    "adaptive_batch_size", "temp_dir", "cache_compress", "turbo", "skip_op_error",
    "export_in_parallel", "suffixes", "image_key", "audio_key", "image_special_token",
    "audio_special_token", "image_bytes_key", "debug", "open_insight_mining", "op_list_to_mine",
    "percentiles", "export_original_dataset", "save_stats_in_one_file", "auto", "auto_num",
    "custom_operator_paths", "validators", "data_probe_algo", "data_probe_ratio",
}  # fmt: skip

# Keys of Data-Juicer's OP.__init__ that djlite's ops do not take (djlite has no images, audio, per-op
# resources or batching modes). A recipe carrying them still builds; each is named once in the log.
IGNORED_DJ_OP_KEYS = {
    "image_key", "audio_key", "image_bytes_key", "system_key", "instruction_key", "prompt_key", "query_key",
    "response_key", "history_key", "index_key", "image_special_token", "audio_special_token",
    "video_special_token", "eoc_special_token", "num_cpus", "num_gpus", "memory", "runtime_env", "batch_mode",
    "turbo", "stats_export_path", "use_actor", "ray_execution_mode", "min_batch_size", "max_batch_size",
    "auto_op_parallelism", "num_proc_per_gpu",
}  # fmt: skip


# Help lines of the keys every op (or every filter) takes, as Data-Juicer documents them.
COMMON_OP_KEY_HELP = {
    "text_key": "the column of the sample's text (default: the recipe's text_keys)",
    "video_key": "the column of the sample's video paths (default: the recipe's video_key)",
    "num_proc": "accepted for Data-Juicer recipes; djlite's workers are the recipe's np",
    "batch_size": "rows per batch where the op works in batches",
    "skip_op_error": "accepted for Data-Juicer recipes; djlite's error policy is the recipe's on_error",
    "accelerator": "accepted for Data-Juicer recipes",
    "cpu_required": "CPUs per task (Ray executor)",
    "gpu_required": "GPUs per task (Ray executor)",
    "mem_required": "memory per task, bytes or '2GB' (Ray executor)",
    "work_dir": "where the op writes files (default: the run's work_dir)",
    "min_closed_interval": "the minimum bound is inclusive",
    "max_closed_interval": "the maximum bound is inclusive",
    "reversed_range": "keep the samples outside the range instead",
    "any_or_all": "with several videos: keep when any video passes, or only when all do",
}


def _help(text: str):
    return {"help": text}


@dataclass
class Recipe:
    project_name: str = field(default="hello_world", metadata=_help("name of the run, for the logs"))
    dataset_path: str = field(
        default="",
        metadata=_help(
            "the dataset: a .jsonl, .json or .parquet file, or a folder of them (relative paths are tried "
            "against the working directory, then the recipe's folder)"
        ),
    )
    export_path: str = field(
        default="./outputs/hello_world/hello_world.jsonl",
        metadata=_help("the kept samples (.jsonl, .json or .parquet); _stats.jsonl and _errors.jsonl go beside it"),
    )
    export_type: str | None = field(
        default=None,
        metadata=_help(
            "export format (default: export_path's extension); where the two disagree, the one given later wins "
            "(--export_path on the command line over a recipe's export_type), and the log names both"
        ),
    )
    export_shard_size: int = field(default=0, metadata=_help("bytes per result shard; 0 writes one file"))
    # Options of a training layout (export_type mediasequence / video2tfrecord / webdataset / yt8m): djlite/formats/
    export_extra_args: dict = field(
        default_factory=dict,
        metadata=_help(
            "options of a training layout (fps, jpeg_quality, labels_csv, ...); a later --config or "
            "--export_extra_args '{...}' is merged into the recipe's key by key, --export_extra_args.fps 12 sets one"
        ),
    )
    work_dir: str | None = field(
        default=None,
        metadata=_help(
            "logs and, in a folder of its own, op_summary.json and recipe_resolved.yaml (default: export_path's "
            "folder, where they are <export base>_op_summary.json and <export base>_recipe_resolved.yaml)"
        ),
    )
    np: int = field(default=4, metadata=_help("worker processes, capped at the CPU count as in Data-Juicer"))
    text_keys: str | list[str] = field(default="text", metadata=_help("the text column (the first one if a list)"))
    video_key: str = field(default="videos", metadata=_help("the column holding each sample's video paths"))
    video_special_token: str = field(default="<__dj__video>", metadata=_help("the video placeholder in texts"))
    eoc_special_token: str = field(default="<|__dj__eoc|>", metadata=_help("the end-of-chunk token in texts"))
    keep_stats_in_res_ds: bool = field(default=False, metadata=_help("keep __dj__stats__ in the result file"))
    keep_hashes_in_res_ds: bool = field(default=False, metadata=_help("keep the dedup hash columns in the result"))
    use_cache: bool = field(default=True, metadata=_help("reuse the stats of earlier runs (datasets' cache files)"))
    ds_cache_dir: str | None = field(default=None, metadata=_help("datasets' cache folder (default: HF's)"))
    # The per-video stats cache (djlite.stats_cache). Off with use_cache.
    stats_cache_dir: str | None = field(
        default=None, metadata=_help("per-video stats cache folder (default: $DJLITE_CACHE_DIR or ~/.cache/djlite)")
    )
    on_error: Literal["drop", "keep", "raise"] = field(
        default="drop", metadata=_help("a sample an op fails on: drop it to the errors file, keep it, or stop")
    )
    # Any registered executor (djlite/executors/base.py), checked with what it supports once the ops are built.
    executor_type: str = field(
        default="default", metadata=_help("default (local processes), ray, or another registered executor")
    )
    # Data-Juicer's default is "auto", which fails when no cluster runs.
    ray_address: str | None = field(
        default=None,
        metadata=_help('executor_type ray: none starts a local Ray; "auto" or "host:port" joins a running cluster'),
    )
    use_checkpoint: bool = field(
        default=False,
        metadata=_help(
            "resume: a run killed and started again with the same command continues where it stopped "
            "(finished chunks of every stage are kept under work_dir/ckpt/)"
        ),
    )
    chunk_rows: int = field(
        default=0, metadata=_help("rows per chunk of work (a retry or resume redoes at most one); 0 picks it")
    )
    worker_retries: int = field(
        default=2, metadata=_help("times a sample may crash its worker (OOM, segfault) before it is an error record")
    )
    # Why was it dropped (djlite.trace).
    export_filtered: bool = field(
        default=False, metadata=_help("write every removed sample, whole, to <export base>_filtered.jsonl")
    )
    open_tracer: bool = field(default=False, metadata=_help("Data-Juicer's tracer: files in <work_dir>/trace/"))
    op_list_to_trace: list[str] = field(
        default_factory=list, metadata=_help("ops the tracer follows (every op when empty)")
    )
    trace_num: int = field(default=10, metadata=_help("samples the tracer records per op"))
    process: list = field(default_factory=list, metadata=_help("the ops, in order: a list of {op_name: {params}}"))
    # Filled in by load_recipe, not read from YAML.
    source: str = "<recipe>"
    ops: list = field(default_factory=list, repr=False)

    @property
    def text_key(self) -> str:
        return self.text_keys if isinstance(self.text_keys, str) else self.text_keys[0]

    @property
    def own_work_dir(self) -> str | None:
        """work_dir when it is a folder of its own; None when it is export_path's folder (the default).

        The one rule for what a work_dir that follows the export means: the resolved recipe leaves it null
        (re-run with another export_path, it follows that one), and the run's summary and resolved recipe are
        named after the export (djlite.run_paths.RunPaths.summary), so runs exporting to one folder keep their own.
        """
        return RunPaths(self.export_path, self.work_dir).own_work_dir if self.work_dir is not None else None

    @property
    def paths(self) -> RunPaths:
        """The names of every file this recipe's run writes (djlite/run_paths.py), with the result files' extension
        from the export's writer."""
        from djlite.formats.writer import paths_for, writer_of

        return paths_for(self.export_path, self.work_dir, writer_of(self))

    def resolved(self) -> dict:
        """The recipe with every op parameter filled in, as saved next to the outputs and --print_config shows;
        a work_dir that is only the export's folder stays null, as it was given."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("ops", "source")}
        out["work_dir"] = self.own_work_dir
        out["process"] = [{op.name: op.config} for op in self.ops]
        return _plain(out)


GLOBAL_FIELDS = {f.name: f for f in dataclasses.fields(Recipe) if f.name not in ("ops", "source")}
GLOBAL_KEYS = set(GLOBAL_FIELDS)


def _plain(value):
    """Tuples and other YAML-unfriendly values become lists and strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---- jsonargparse parsers ------------------------------------------------------------------------------


@functools.cache
def _jsonargparse():
    """jsonargparse, imported on first use (it is not needed to run a recipe from Python), with our YAML."""
    import jsonargparse

    jsonargparse.set_loader(YAML_MODE, load_yaml)
    return jsonargparse


def _global_default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def add_recipe_arguments(parser, skip: set[str] = frozenset()) -> None:
    """Every global recipe key as a typed option with its default and help; Data-Juicer-only keys hidden."""
    import argparse

    hints = typing.get_type_hints(Recipe)
    for name, f in GLOBAL_FIELDS.items():
        if name not in skip:
            parser.add_argument(f"--{name}", type=hints[name], default=_global_default(f), help=f.metadata["help"])
    for name in sorted(IGNORED_DJ_KEYS - set(skip)):
        parser.add_argument(f"--{name}", type=Any, default=None, help=argparse.SUPPRESS)


def cli_parser(prog: str, description: str, epilog: str = "", skip: set[str] = frozenset()):
    """A jsonargparse parser with --config (repeatable) and every global recipe key."""
    jsonargparse = _jsonargparse()
    parser = jsonargparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        exit_on_error=False,
        print_config=None,
        parser_mode=YAML_MODE,
        default_env=False,
        formatter_class=jsonargparse.DefaultHelpFormatter,
    )
    parser.add_argument(
        "--config",
        action=jsonargparse.ActionConfigFile,
        help="recipe YAML; give it more than once to merge recipes (later files override earlier ones)",
    )
    add_recipe_arguments(parser, skip)
    return parser


@functools.cache
def _globals_parser():
    jsonargparse = _jsonargparse()
    parser = jsonargparse.ArgumentParser(exit_on_error=False, print_config=None, parser_mode=YAML_MODE)
    add_recipe_arguments(parser)
    return parser


@functools.cache
def op_parser(cls):
    """The jsonargparse parser of one op: its signature (and its bases'), types, defaults and docstring."""
    jsonargparse = _jsonargparse()
    parser = jsonargparse.ArgumentParser(
        prog=cls._name,
        description=(cls.__doc__ or "").strip(),
        exit_on_error=False,
        print_config=None,
        parser_mode=YAML_MODE,
        formatter_class=jsonargparse.DefaultHelpFormatter,
    )
    added = set(parser.add_class_arguments(cls, fail_untyped=False, sub_configs=False, as_group=False))
    # jsonargparse follows **kwargs into bases' __init__ except through OP, whose __new__ takes *args/**kwargs.
    for name, p in signature_params(cls).items():
        if name not in added:
            annotation = Any if p.annotation is p.empty else p.annotation
            parser.add_argument(f"--{name}", type=annotation, default=p.default)
    for action in parser._actions:  # help for the keys every op shares, where no docstring gave one
        if action.dest in COMMON_OP_KEY_HELP and not action.help:
            action.help = COMMON_OP_KEY_HELP[action.dest]
    return parser


def _one_line(error: Exception, where: str, values: dict, types: dict) -> RecipeError:
    """jsonargparse's multi-line message -> one line naming the key, the expected type and the value."""
    message = str(error)
    option = re.search(r"unrecognized arguments: --([^\s=]+)", message)
    if option:
        key = option.group(1)
        return RecipeError(f"{where}: unknown option --{key}{_did_you_mean(key, types)}")
    unknown = re.search(r"(?:Option|Key) '([^']+)' is not accepted|No action for key \"([^\"]+)\"", message)
    if unknown:
        key = unknown.group(1) or unknown.group(2)
        return RecipeError(f"{where}: unknown key {key!r}{_did_you_mean(key, types)}")
    keyed = re.search(r'Parser key "([^"]+)"', message)
    if keyed and keyed.group(1) in types:
        key = keyed.group(1)
        if key in values:
            value = values[key]
        else:
            given = re.search(r"Given value: (.*)|Got value: (.*)", message)
            value = (given.group(1) or given.group(2)).strip() if given else "?"
        return RecipeError(f"{where}: {key}: expected {describe_type(types[key])}, got {value!r}")
    if keyed and keyed.group(1) == "config":
        return RecipeError(f"{where}: {' '.join(message.split(':', 1)[1].split())}")
    return RecipeError(f"{where}: {' '.join(message.split())}")


def _lenient(value, annotation):
    if isinstance(value, bool):
        return value
    if annotation is str and isinstance(value, (int, float)):
        return str(value)
    if annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _lenient_strings(params: dict, hints: dict) -> dict:
    """What YAML users mean: a number where a string is expected (`max_ratio: 2`) is read as its text, and a
    whole float where an integer is expected (`levels: 2.0`) as that integer. Everything else is jsonargparse's."""
    return {k: _lenient(v, hints.get(k)) for k, v in params.items()}


# ---- building ops --------------------------------------------------------------------------------------

_warned_op_keys: set[str] = set()


def _drop_ignored_op_keys(name: str, params: dict, accepted) -> dict:
    kept = {}
    for key, value in params.items():
        if key in IGNORED_DJ_OP_KEYS and key not in accepted:
            if key not in _warned_op_keys:
                from loguru import logger  # not at module level: `dj-process --help` stays fast

                _warned_op_keys.add(key)
                logger.warning(f"{name}: {key} is a Data-Juicer op key djlite does not use; it is ignored")
            continue
        kept[key] = value
    return kept


def build_op(name: str, params: dict | None, where: str = "recipe"):
    """Instantiate op `name` from recipe params, turning every problem into a one-line RecipeError."""
    cls = get_op(name)
    accepted = signature_params(cls)
    params = _drop_ignored_op_keys(name, dict(params or {}), accepted)
    for key in params:
        if key not in accepted:
            raise RecipeError(
                f"{where} {name}: unknown parameter {key!r}{_did_you_mean(key, accepted)}; "
                f"it takes: {', '.join(accepted)}"
            )
    types = {k: (Any if p.annotation is p.empty else p.annotation) for k, p in accepted.items()}
    params = _lenient_strings(params, types)
    try:
        checked = op_parser(cls).parse_object(params)
    except Exception as e:  # noqa: BLE001 - jsonargparse's ArgumentError and its type errors
        raise _one_line(e, f"{where} {name}", params, types) from None
    try:
        op = cls(**{key: checked[key] for key in params})
    except (ValueError, TypeError) as e:
        raise RecipeError(f"{where} {name}: {e}") from None
    check_requirements(op, where)
    return op


def op_help(name: str) -> str:
    """`dj-process --help-op NAME`: every parameter with its type, default and help line."""
    return op_parser(get_op(name)).format_help()


# ---- overrides -----------------------------------------------------------------------------------------


def split_overrides(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Separate op overrides (--op_name.param V, --process.I.param V) from the options jsonargparse parses.

    Op override values are read as YAML; the op's parser types them when the op is built.
    """
    rest: list[str] = []
    ops: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key = arg[2:].split("=", 1)[0] if arg.startswith("--") else ""
        if "." not in key:
            rest.append(arg)
            i += 1
            continue
        if "=" in arg:
            raw = arg.split("=", 1)[1]
            i += 1
        elif i + 1 < len(argv):
            raw = argv[i + 1]
            i += 2
        else:
            raise RecipeError(f"override --{key} needs a value")
        ops[key] = _yaml_value(raw, key)
    return rest, ops


def _yaml_value(raw: str, key: str):
    import yaml

    if raw == "":
        return ""
    try:
        return load_yaml(raw)
    except yaml.YAMLError as e:
        raise RecipeError(f"override --{key}: {yaml_error_message(e)}") from None


def parse_overrides(argv: list[str]) -> dict[str, Any]:
    """['--np', '2', '--a.b=3'] -> {'np': 2, 'a.b': 3}: global keys typed by jsonargparse, op keys as YAML."""
    rest, overrides = split_overrides(argv)
    if rest:
        given = {}
        parser = _globals_parser()
        try:
            namespace = parser.parse_args(rest, defaults=False)
        except Exception as e:  # noqa: BLE001
            raise _one_line(e, "command line", {}, typing.get_type_hints(Recipe)) from None
        for key, value in namespace.as_dict().items():
            if value is not None or any(a.split("=")[0] == f"--{key}" for a in rest):
                given[key] = value
        overrides = {**given, **overrides}
    return overrides


# Global keys holding a mapping: a later recipe file, a command-line value or a Python override is merged into
# them key by key, as op parameters are, instead of replacing the whole mapping.
MERGED_KEYS = ("export_extra_args",)


def merge_layers(layers: list[tuple[str, dict]]) -> dict:
    """Recipe keys from several sources in order (recipe files, the command line, Python overrides), each
    `(where, keys)`: the later value wins, MERGED_KEYS key by key; see _settle_export_type for export_type vs
    export_path."""
    merged: dict = {}
    last = {"export_path": (-1, ""), "export_type": (-1, "")}  # the layer that gave each, and its name
    for i, (where, layer) in enumerate(layers):
        for key, value in layer.items():
            if key in MERGED_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
            if key in last:
                last[key] = (i, where)
    _settle_export_type(merged, last["export_path"], last["export_type"])
    return merged


def _settle_export_type(merged: dict, path_from: tuple[int, str], type_from: tuple[int, str]) -> None:
    """An export_path whose extension names another format than export_type: the later of the two wins, and the
    log names both. Given together (in one recipe file), export_type wins, as it always did."""
    path, export_type = merged.get("export_path"), merged.get("export_type")
    if not isinstance(path, str) or not isinstance(export_type, str):
        return
    from djlite.formats.writer import writer_for

    suffix = os.path.splitext(path)[1]
    by_path, by_type = writer_for(path, None), writer_for(path, export_type)
    named = by_path.name if by_path else None
    if named is None or by_type is None or by_type.suffix == suffix:
        return  # no extension, one djlite does not know, an unknown export_type (refused later), or they agree
    from loguru import logger  # not at module level: `dj-process --help` stays fast

    path_where, type_where = path_from[1], type_from[1]
    if path_from[0] > type_from[0]:
        merged["export_type"] = None
        logger.info(
            f"export_path {path} ({path_where}) comes after export_type {export_type} ({type_where}) and its "
            f"extension names {named}: the later one wins, so this run writes {named}"
        )
    else:
        later = "is given with" if path_from[0] == type_from[0] else "comes after"
        logger.warning(
            f"export_type {export_type} ({type_where}) {later} export_path {path} ({path_where}) and wins over "
            f"its {suffix} extension ({named})"
        )


def _is_op_override(key: str, value) -> bool:
    """`djlite.run(..., video_duration_filter={"min_duration": 2})`: an op's parameters, not a global key."""
    return "." in key or (isinstance(value, dict) and key not in GLOBAL_KEYS and key not in IGNORED_DJ_KEYS)


def _apply_op_overrides(data: dict, overrides: dict, where: str) -> None:
    """Op overrides (`op.param`, `process.I.param`, `op: {params}`) and `export_extra_args.KEY` into `data`."""
    process = data.get("process") or []
    for key, value in overrides.items():
        if "." not in key:  # a mapping of the op's parameters, merged key by key
            _override_steps(process, key, value, key, where)
            continue
        target, param = key.rsplit(".", 1)
        if target in MERGED_KEYS:  # --export_extra_args.fps 12
            current = data.get(target)
            data[target] = {**(current if isinstance(current, dict) else {}), param: value}
        else:
            _override_steps(process, target, {param: value}, f"--{key}", where)


def _override_steps(process: list, target: str, params: dict, given: str, where: str) -> None:
    """Merge `params` into every step using op `target` (or into step I for `process.I`)."""
    if target.startswith("process."):
        index = target.split(".", 1)[1]
        if not index.isdigit() or int(index) >= len(process):
            raise RecipeError(f"{where}: override {given}: the recipe has no step {index} (it has {len(process)})")
        steps = [process[int(index)]]
    else:
        steps = [s for s in process if isinstance(s, dict) and target in s]
        if not steps:
            names = [next(iter(s)) for s in process if isinstance(s, dict) and s]
            raise RecipeError(f"{where}: override {given}: no step uses op {target!r}{_did_you_mean(target, names)}")
    for step in steps:
        name = next(iter(step))
        step[name] = {**(step[name] or {}), **params}


# ---- the recipe ----------------------------------------------------------------------------------------


def _check_globals(data: dict, where: str) -> dict:
    for key in data:
        if key not in GLOBAL_KEYS and key not in IGNORED_DJ_KEYS:
            raise RecipeError(f"{where}: unknown key {key!r}{_did_you_mean(key, GLOBAL_KEYS | IGNORED_DJ_KEYS)}")
    given = {k: v for k, v in data.items() if k in GLOBAL_KEYS}
    types = typing.get_type_hints(Recipe)
    given = _lenient_strings(given, types)
    try:
        namespace = _globals_parser().parse_object(given)
    except Exception as e:  # noqa: BLE001 - jsonargparse's ArgumentError and its type errors
        raise _one_line(e, where, given, types) from None
    return {key: namespace[key] for key in GLOBAL_KEYS}


def recipe_from_data(data: dict, where: str = "recipe", base_dirs: list[str] | None = None) -> Recipe:
    """Validate a recipe dict (global keys and ops); build its ops. Reads no dataset rows."""
    values = _check_globals(data, where)
    recipe = Recipe(source=where, **values)
    if recipe.np < 1:
        raise RecipeError(f"{where}: np must be >= 1, got {recipe.np}")
    if recipe.export_shard_size < 0:
        raise RecipeError(f"{where}: export_shard_size must be >= 0, got {recipe.export_shard_size}")
    if recipe.chunk_rows < 0 or recipe.worker_retries < 0:
        bad = "chunk_rows" if recipe.chunk_rows < 0 else "worker_retries"
        raise RecipeError(f"{where}: {bad} must be >= 0, got {getattr(recipe, bad)}")
    recipe.ops = _build_ops(recipe, where)
    _check_trace(recipe, where)
    # upward: the executor named by the recipe declares what it supports; checked here, once, with the recipe
    from djlite.executors.base import check_recipe

    check_recipe(recipe, where)
    _check_paths(recipe, base_dirs or [os.getcwd()], where)
    for op in recipe.ops:
        # Ops that write files beside the outputs (frame embeddings) default to the recipe's work_dir.
        if op.work_dir is None:
            op.work_dir = recipe.work_dir
    return recipe


def load_recipe(path: str | list[str] | None = None, overrides: dict | None = None, data: dict | None = None) -> Recipe:
    """Read (and merge, for several files), override and validate a recipe; build its ops. Reads no dataset rows."""
    paths = [path] if isinstance(path, str) else list(path or [])
    where = ", ".join(paths) or "recipe"
    layers = [("recipe", dict(data or {}))] + [(p, read_recipe_file(p)) for p in paths]
    overrides = overrides or {}
    op_overrides = {key: value for key, value in overrides.items() if _is_op_override(key, value)}
    layers.append(("overrides", {key: value for key, value in overrides.items() if key not in op_overrides}))
    merged = merge_layers(layers)
    _apply_op_overrides(merged, op_overrides, where)
    base_dirs = [os.path.dirname(os.path.abspath(p)) for p in reversed(paths)] or [os.getcwd()]
    return recipe_from_data(merged, where, base_dirs)


def parse_cli(parser, argv: list[str]):
    """jsonargparse's namespace (--config files merged, global keys typed) and the op overrides of a command line."""
    rest, op_overrides = split_overrides(argv)
    given = [rest[i + 1] for i, arg in enumerate(rest[:-1]) if arg == "--config"]
    given += [arg.split("=", 1)[1] for arg in rest if arg.startswith("--config=")]
    # One-line errors for the files jsonargparse would report in many lines; kept for the layers below.
    configs = {path: read_recipe_file(path) for path in given}
    try:
        namespace = parser.parse_args(rest)
    except Exception as e:  # noqa: BLE001
        raise _one_line(e, ", ".join(given) or "command line", {}, typing.get_type_hints(Recipe)) from None
    # jsonargparse lets a later --export_extra_args (or --config) replace the whole mapping, and knows nothing of
    # export_path vs export_type: the same layers, in command-line order, merged as load_recipe merges them.
    merged = merge_layers(_command_line_layers(rest, configs))
    for key in MERGED_KEYS:
        if key in merged:
            namespace[key] = merged[key]
    if "export_type" in merged and merged["export_type"] is None:
        namespace["export_type"] = None
    return namespace, op_overrides


def _command_line_layers(rest: list[str], configs: dict[str, dict]) -> list[tuple[str, dict]]:
    """(where, keys) in command-line order: each --config file (from `configs`, the files already read), and each
    export key given as an option."""
    options = ("export_path", "export_type", *MERGED_KEYS)
    layers = []
    i = 0
    while i < len(rest):
        key, has_value, value = rest[i][2:].partition("=") if rest[i].startswith("--") else ("", "", "")
        i += 1
        if key not in ("config", *options):
            continue
        if not has_value:
            if i >= len(rest):
                break
            value, i = rest[i], i + 1
        if key == "config":
            layers.append((value, configs[value] if value in configs else read_recipe_file(value)))
        else:
            layers.append(("command line", {key: _yaml_value(value, key)}))
    return layers


def recipe_from_namespace(namespace, op_overrides: dict) -> Recipe:
    configs = [str(c) for c in (namespace.get("config") or [])]
    data = {k: namespace[k] for k in GLOBAL_KEYS if k in namespace}
    data.update({k: namespace[k] for k in IGNORED_DJ_KEYS if namespace.get(k) is not None})
    where = ", ".join(configs) or "command line"
    _apply_op_overrides(data, op_overrides, where)
    base_dirs = [os.path.dirname(os.path.abspath(p)) for p in reversed(configs)] or [os.getcwd()]
    return recipe_from_data(data, where, base_dirs)


def recipe_from_cli(parser, argv: list[str]) -> tuple[Recipe, Any]:
    """Parse a command line (jsonargparse: --config files, global keys) plus op overrides into a Recipe."""
    namespace, op_overrides = parse_cli(parser, argv)
    return recipe_from_namespace(namespace, op_overrides), namespace


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


def _check_trace(recipe: Recipe, where: str) -> None:
    if recipe.trace_num < 1:
        raise RecipeError(f"{where}: trace_num must be >= 1, got {recipe.trace_num}")
    names = [op.name for op in recipe.ops]
    for name in recipe.op_list_to_trace:
        if name not in names:
            raise RecipeError(
                f"{where}: op_list_to_trace names {name!r}, which is not a step of process{_did_you_mean(name, names)}"
            )


def _check_paths(recipe: Recipe, base_dirs: list[str], where: str) -> None:
    if not recipe.dataset_path:
        raise RecipeError(f"{where}: dataset_path is not set; point it at a .jsonl, .json or .parquet file")
    dataset_path = recipe.dataset_path
    if not os.path.isabs(dataset_path) and not os.path.exists(dataset_path):
        # Relative to the recipe's folder when not relative to the working directory.
        for base_dir in base_dirs:
            candidate = os.path.join(base_dir, dataset_path)
            if os.path.exists(candidate):
                dataset_path = candidate
                break
    if not os.path.exists(dataset_path):
        raise RecipeError(f"{where}: dataset_path {recipe.dataset_path!r} does not exist")
    if os.path.isfile(dataset_path) and not dataset_path.endswith(DATASET_SUFFIXES):
        raise RecipeError(f"{where}: dataset_path {recipe.dataset_path!r} must end in .jsonl, .json or .parquet")
    recipe.dataset_path = os.path.abspath(dataset_path)
    from djlite.formats.writer import make_writer

    make_writer(recipe, base_dirs[0], where)  # a format djlite has, its options checked
    recipe.export_path = os.path.abspath(recipe.export_path)
    if recipe.work_dir is None:
        recipe.work_dir = os.path.dirname(recipe.export_path)
    recipe.work_dir = os.path.abspath(recipe.work_dir)
    from djlite.outputs import check_outputs_are_not_inputs

    check_outputs_are_not_inputs(recipe, where)
