"""Reading a selector's `field_key` (Data-Juicer's dotted path) from the narrow table a selector gets."""

import sys

import numpy as np

from djlite.ops.base import Selector


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


class TopFieldSelector(Selector):
    """Data-Juicer's `field_key` / `top_ratio` / `topk` / `reverse` parameters, shared by the top-k and frequency
    selectors: the count is `topk`, or int(top_ratio * n) capped by topk."""

    def __init__(
        self,
        field_key: str = "",
        top_ratio: float | None = None,
        topk: int | None = None,
        reverse: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if top_ratio is not None and not 0 <= top_ratio <= 1:
            raise ValueError(f"top_ratio must be in [0, 1], got {top_ratio}")
        if topk is not None and topk < 1:
            raise ValueError(f"topk must be a positive int, got {topk}")
        self.field_key = field_key
        self.top_ratio = top_ratio
        self.topk = topk
        self.reverse = reverse

    @property
    def input_columns(self) -> list[str]:
        return [first_column(self.field_key)] if self.field_key else []
