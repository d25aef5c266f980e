"""The op registry: `@register_op("name")` on a class, `get_op("name")` to find it again.

Registration checks the op's declarations against the contract (djlite/ops/base.py), so a mistake in an op
fails when its module is imported, before any recipe or data: a filter without `stats_features`, a stat key
of the wrong kind, a missing hook. `check_requirements` checks an op's optional packages when it is built.
"""

import difflib
import importlib
import importlib.util
import pkgutil

from djlite.errors import OpBugError, RecipeError

OPERATORS: dict[str, type] = {}
_loaded = False


def register_op(name: str):
    def decorate(cls):
        if name in OPERATORS and OPERATORS[name] is not cls:
            raise ValueError(f"op {name!r} is registered twice ({OPERATORS[name].__module__} and {cls.__module__})")
        check_declarations(name, cls)
        cls._name = name
        OPERATORS[name] = cls
        return cls

    return decorate


def load_builtin_ops() -> None:
    """Import every module under djlite.ops so that their decorators run. Idempotent."""
    global _loaded
    if _loaded:
        return
    import djlite.ops

    for info in pkgutil.walk_packages(djlite.ops.__path__, "djlite.ops."):
        importlib.import_module(info.name)
    _loaded = True


def known_ops() -> list[str]:
    load_builtin_ops()
    return sorted(OPERATORS)


def get_op(name: str) -> type:
    load_builtin_ops()
    if name in OPERATORS:
        return OPERATORS[name]
    from djlite.dj_op_names import DATA_JUICER_OPS

    close = difflib.get_close_matches(name, OPERATORS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if name in DATA_JUICER_OPS:
        raise RecipeError(
            f"op {name!r} is a Data-Juicer op that djlite does not implement; {hint}djlite's ops: "
            f"{', '.join(known_ops())}"
        )
    raise RecipeError(f"unknown op {name!r}: {hint}known ops: {', '.join(known_ops())}")


class OpDeclarationError(OpBugError, TypeError):
    """An op class that breaks the contract; raised when it is registered."""


def check_declarations(name: str, cls: type) -> None:
    import datasets

    from djlite.ops.base import OP, Deduplicator, Filter, Mapper, OneToManyMapper, Selector, VideoFilter, overrides

    def missing(*hooks):
        return [hook for hook in hooks if not overrides(cls, hook)]

    if not issubclass(cls, OP):
        raise OpDeclarationError(f"op {name!r}: {cls.__name__} must subclass djlite.ops.base.OP")
    if issubclass(cls, Filter):
        if not cls.stats_features:
            raise OpDeclarationError(
                f"op {name!r}: a Filter must declare the stats it writes, e.g. "
                f"stats_features = {{'my_stat': List(Value('float64'))}}; {cls.__name__}.stats_features is empty"
            )
        for key, feature in cls.stats_features.items():
            try:
                datasets.Features({key: feature}).arrow_schema  # noqa: B018 - builds the Arrow type or fails
            except Exception as e:  # noqa: BLE001 - whatever `datasets` raises for a non-feature
                raise OpDeclarationError(
                    f"op {name!r}: stats_features[{key!r}] is not a `datasets` feature type ({e})"
                ) from None
        for key in cls.stats_bounds:
            if key not in cls.stats_features:
                raise OpDeclarationError(
                    f"op {name!r}: stats_bounds names {key!r}, which stats_features do not declare"
                )
        hooks = ["process"]
        if not (issubclass(cls, VideoFilter) and (overrides(cls, "video_stats") or overrides(cls, "frame_consumer"))):
            hooks.append("compute_stats")
        absent = missing(*hooks)
    elif issubclass(cls, Deduplicator):
        absent = missing("compute_hash") + ([] if overrides(cls, "select") else missing("dedup_key"))
    elif issubclass(cls, Selector):
        absent = missing("select", "input_columns")
    elif issubclass(cls, OneToManyMapper):
        absent = missing("split")
    elif issubclass(cls, Mapper):
        absent = missing("process")
    else:
        raise OpDeclarationError(f"op {name!r}: subclass Filter, Mapper, Deduplicator or Selector, not OP itself")
    if absent:
        raise OpDeclarationError(f"op {name!r}: {cls.__name__} must define {', '.join(absent)}")


def missing_requirements(op) -> dict[str, str]:
    """{import name: extra} of the op's `requires` that are not installed (looks on disk, imports nothing)."""
    absent = {}
    for module, extra in (op.requires or {}).items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent[module] = extra
    return absent


def check_requirements(op, where: str = "recipe") -> None:
    """RecipeError naming the packages and the `pip install 'djlite[extra]'` when an op's packages are missing."""
    absent = missing_requirements(op)
    if absent:
        extras = ",".join(sorted(set(absent.values())))
        raise RecipeError(
            f"{where} {op.name}: needs {', '.join(absent)}, not installed: pip install 'djlite[{extras}]'"
        )
