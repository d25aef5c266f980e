"""The executor contract: what every `executor_type` implements, what it declares it can do, and the registry.

djlite/api.py runs every recipe the same way: build the writer, plan the ops (djlite/core/plan.py), then

    executor.prepare(ops)                     # before the dataset loads (the local worker server, Ray's check)
    dataset, load_errors = executor.load()    # the shared loader, on this machine
    with executor.session():                  # what the run holds (a Ray instance), released however it ends
        kept = executor.run(dataset, ops, load_errors)
        outcome, errors_path = executor.export(kept, writer, spool_dir)
    executor.close()                          # always: scratch folders

and then writes the filtered file and the tracer's files from `outcome.filtered` (only where `supports` says so),
the summary and the resolved recipe. An executor schedules rows; it never unpacks the recipe's export keys itself.

`supports` is the set of CAPABILITIES an executor implements. A recipe that uses one it lacks is reported once,
when the recipe is validated (`check_recipe`, from djlite/recipe.py), one message per key: a refusal is a
RecipeError, an ignored key a warning.

A new executor is one file: a subclass that sets `name` and `supports`, implements `run` and `export` (and
`prepare` / `session` / `close` if it holds resources), decorated with `@register_executor`; importing that
file makes `executor_type: <name>` valid (tests/serial_executor.py is such a third executor).
"""

import importlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from loguru import logger

from djlite.errors import RecipeError

# What a recipe may ask of an executor: capability -> (is it asked for by this recipe, what happens without it,
# the message). "error" refuses the recipe; "warning" runs it without the key.
CAPABILITIES: dict[str, tuple] = {
    "use_checkpoint": (
        lambda recipe: recipe.use_checkpoint,
        "warning",
        # Ray retries a killed task itself; resuming a killed driver needs fixed partitions (not yet).
        "use_checkpoint works with the local executor only; this {display} run starts from the beginning",
    ),
    "export_filtered": (
        lambda recipe: recipe.export_filtered,
        "error",
        "{where}: export_filtered is not implemented for executor_type: {name} yet; "
        "run this recipe with the default executor",
    ),
    "open_tracer": (
        lambda recipe: recipe.open_tracer,
        "error",
        "{where}: open_tracer is not implemented for executor_type: {name} yet; "
        "run this recipe with the default executor",
    ),
}

# The built-in executors, imported on first use (Ray's module imports pyarrow).
BUILTIN = {"default": "djlite.executors.local", "ray": "djlite.executors.ray.executor"}
_REGISTRY: dict[str, type["Executor"]] = {}


class Executor(ABC):
    """One run of a recipe's planned ops over its dataset. See the module docstring for the order of the calls."""

    name: ClassVar[str]
    display: ClassVar[str] = ""  # how messages name it ("Ray"); the name by default
    supports: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, recipe, paths, stats_only: bool = False):
        self.recipe = recipe
        self.paths = paths
        self.stats_only = stats_only

    def prepare(self, ops: list) -> None:
        """Before the dataset loads."""
        return None

    def load(self) -> tuple[Any, list[dict]]:
        """The recipe's dataset (a `datasets.Dataset`) and its unparseable lines, by the shared loader."""
        from djlite.dataset import datasets_caching, load_recipe_dataset

        with datasets_caching(self.recipe.use_cache):
            return load_recipe_dataset(self.recipe)

    def session(self) -> AbstractContextManager:
        """Around run and export: what the run holds (a cluster connection)."""
        return nullcontext()

    @abstractmethod
    def run(self, dataset, ops: list, load_errors: list[dict]) -> Any:
        """Run the planned ops; return the kept rows in the executor's own form (export's input)."""

    @abstractmethod
    def export(self, kept, writer, spool_dir: str | None) -> tuple[Any, str]:
        """Write the kept rows through `writer` and the errors file; return (RunOutcome, errors file path)."""

    def close(self) -> None:
        """After the run, however it ended."""
        return None


def register_executor(cls: type[Executor]) -> type[Executor]:
    """Class decorator: `executor_type: cls.name` runs with `cls`."""
    unknown = set(cls.supports) - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"executor {cls.name}: unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")
    _REGISTRY[cls.name] = cls
    return cls


def executor_names() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTRY))


def executor_class(name: str, where: str = "recipe") -> type[Executor]:
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTRY:
        raise RecipeError(f"{where}: executor_type {name!r} is not one of {', '.join(executor_names())}")
    return _REGISTRY[name]


def unsupported(recipe, cls: type[Executor], where: str = "recipe") -> list[tuple[str, str, str]]:
    """(key, level, message) for every capability the recipe asks for that `cls` does not support."""
    found = []
    for key, (asked, level, message) in CAPABILITIES.items():
        if key not in cls.supports and asked(recipe):
            found.append((key, level, message.format(where=where, name=cls.name, display=cls.display or cls.name)))
    return found


def check_recipe(recipe, where: str = "recipe") -> None:
    """Once, when the recipe is validated: its executor exists; each key it cannot honour is a warning or an error
    (all errors in one RecipeError, one line per key)."""
    cls = executor_class(recipe.executor_type, where)
    problems = unsupported(recipe, cls, where)
    errors = [message for _, level, message in problems if level == "error"]
    if errors:
        raise RecipeError("\n".join(errors))
    for _, _, message in problems:
        logger.warning(message)


def make_executor(recipe, paths, stats_only: bool = False) -> Executor:
    return executor_class(recipe.executor_type, recipe.source)(recipe, paths, stats_only)
