"""Checking recipe values against an op's type hints, with messages a user can act on."""

import inspect
import types
import typing
from typing import Any, Literal, Union


class ParamTypeError(ValueError):
    pass


def _describe(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        return f"a list of {_describe(typing.get_args(annotation)[0])}"
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string", type(None): "null"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def coerce(value: Any, annotation) -> Any:
    """Return `value` converted to `annotation`, or raise ParamTypeError."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return coerce(value, option)
            except ParamTypeError:
                continue
        raise ParamTypeError(f"expected {_describe(annotation)}, got {value!r}")
    if origin is Literal:
        if value in typing.get_args(annotation):
            return value
        raise ParamTypeError(f"expected {_describe(annotation)}, got {value!r}")
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise ParamTypeError(f"expected {_describe(annotation)}, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ParamTypeError(f"expected {len(args)} values, got {value!r}")
            return tuple(coerce(v, a) for v, a in zip(value, args))
        items = [coerce(v, args[0]) for v in value] if args else list(value)
        return tuple(items) if origin is tuple else items
    if annotation is type(None):
        if value is None:
            return None
        raise ParamTypeError(f"expected null, got {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ParamTypeError(f"expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ParamTypeError(f"expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if isinstance(value, int) and abs(value) < 2**53 else value
        raise ParamTypeError(f"expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ParamTypeError(f"expected a string, got {value!r}")
    return value


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
