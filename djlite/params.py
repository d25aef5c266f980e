"""An op's parameters, read from its signatures: names, type hints and defaults, and how to describe a type.

Values are validated by jsonargparse (see djlite.recipe.op_parser); this module only describes them.
"""

import inspect
import types
import typing
from typing import Literal, Union


def describe_type(annotation) -> str:
    """A type hint in words, for one-line error messages: `float | None` -> 'a number or null'."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return f"a list of {describe_type(args[0])}" if args else "a list"
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string", type(None): "null"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def signature_params(cls) -> dict[str, inspect.Parameter]:
    """Every named parameter the class accepts, from its own __init__ and its bases' (for **kwargs)."""
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        hints = typing.get_type_hints(init)
        for name, p in inspect.signature(init).parameters.items():
            if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or name in params:
                continue
            params[name] = p.replace(annotation=hints.get(name, inspect.Parameter.empty))
    return params
