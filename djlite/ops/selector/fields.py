"""Reading a selector's `field_key` (Data-Juicer's dotted path) from the narrow table a selector gets."""

import sys

import numpy as np


def first_column(field_key: str) -> str:
    return field_key.split(".")[0]


def field_values(table, field_key: str) -> list:
    """The value of `field_key` for every row: the first part is a column (or a stat key), the rest dict keys."""
    keys = field_key.split(".")
    values = []
    for i, value in enumerate(table.column(keys[0]).to_pylist()):
        for key in keys[1:]:
            if not isinstance(value, dict) or key not in value:
                raise KeyError(f"field_key {field_key!r}: row {i} has no {key!r} (it has {_keys(value)})")
            value = value[key]
        values.append(value)
    return values


def _keys(value) -> str:
    return ", ".join(map(repr, value)) if isinstance(value, dict) else f"a {type(value).__name__}, not a dict"


def stats_to_number(value, reverse: bool = True) -> float:
    """Data-Juicer's stats_to_number: a string parses as a float, a list gives its mean; a missing or unreadable
    value sorts last (-maxsize when sorting descending, +maxsize ascending)."""
    try:
        if isinstance(value, str):
            return float(value)
        if value is None or value == []:
            raise ValueError("empty value")
        return float(np.asarray(value, dtype=np.float64).mean())
    except (TypeError, ValueError):
        return -sys.maxsize if reverse else sys.maxsize
