"""The op registry: `@register_op("name")` on a class, `get_op("name")` to find it again."""

import difflib
import importlib
import pkgutil

OPERATORS: dict[str, type] = {}
_loaded = False


def register_op(name: str):
    def decorate(cls):
        if name in OPERATORS and OPERATORS[name] is not cls:
            raise ValueError(f"op {name!r} is registered twice ({OPERATORS[name].__module__} and {cls.__module__})")
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
    from djlite.errors import RecipeError

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
