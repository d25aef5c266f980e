"""Which recipe parameters bound which stat, and their values: what the plots draw and the report explains.

Nothing here is specific to an op, and nothing here decides which parameters are bounds: each filter says so
(`Filter.bound_params` in djlite/ops/base.py: its declared `stats_bounds`, or by default min_X / max_X bound
the stat whose key contains X). The thresholds are for display only: what a sample's fate is, the what-if
counts take from the filter's own `process`.
"""

import math
import sys
from dataclasses import dataclass
from fractions import Fraction

from djlite.ops.base import Filter


@dataclass(frozen=True)
class Bound:
    """One filter step's range on one stat; low/high are None where that side is unbounded."""

    step: int
    op: Filter
    stat: str
    low_param: str | None
    low: float | None
    high_param: str | None
    high: float | None

    @property
    def lines(self) -> list[tuple[str, float]]:
        """(label, value) of each finite threshold, for drawing."""
        out = []
        if self.low is not None:
            out.append((f"{self.low_param}={self.low:g}", self.low))
        if self.high is not None:
            out.append((f"{self.high_param}={self.high:g}", self.high))
        return out

    def describe(self) -> str:
        low = f"{self.low:g}" if self.low is not None else "-inf"
        high = f"{self.high:g}" if self.high is not None else "inf"
        left = "[" if self.op.min_closed_interval else "("
        right = "]" if self.op.max_closed_interval else ")"
        keep = "outside" if self.op.reversed_range else "inside"
        return f"step {self.step} {self.op.name}: keeps {self.stat} {keep} {left}{low}, {high}{right}"

    def inside(self, value: float) -> bool:
        """Whether one value passes this step's range, with the filter's own interval rules."""
        low = self.low if self.low is not None else -math.inf
        high = self.high if self.high is not None else math.inf
        return bool(self.op.in_range(value, low, high))


def _number(value) -> float | None:
    """A threshold as a float; None for unset, unbounded (sys.maxsize, inf) or non-numeric values."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = Fraction(value.replace(":", "/"))
        except (ValueError, ZeroDivisionError):
            return None
    if not isinstance(value, (int, float, Fraction)):
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number) or abs(number) >= sys.maxsize:
        return None
    return number


def bound_params(op: Filter) -> dict[str, tuple[str | None, str | None]]:
    """{stat: (min_param, max_param)} for the stats this filter writes, as the filter declares them."""
    return op.bound_params()


def _param_value(op: Filter, param: str | None) -> float | None:
    if param is None:
        return None
    value = getattr(op, param, None)
    if value is None:
        value = op.config.get(param)
    return _number(value)


def recipe_bounds(steps: list[tuple[int, object]]) -> dict[str, list[Bound]]:
    """{stat: [Bound, ...]} over the recipe's filter steps, in recipe order."""
    out: dict[str, list[Bound]] = {}
    for step, op in steps:
        if not isinstance(op, Filter):
            continue
        for stat, (low_param, high_param) in bound_params(op).items():
            out.setdefault(stat, []).append(
                Bound(
                    step=step,
                    op=op,
                    stat=stat,
                    low_param=low_param,
                    low=_param_value(op, low_param),
                    high_param=high_param,
                    high=_param_value(op, high_param),
                )
            )
    return out


def threshold_text(op) -> str:
    """Every bound a recipe step acts with, as `min_duration=2, max_ratio=21/9`: set in the recipe or left at its
    default alike (a default such as min_score 0.25 drops samples too); only unbounded sides are left out. A
    bound the recipe gave as text (a ratio) is shown as given."""
    if not isinstance(op, Filter):
        return ""
    config = op.config
    shown = {}  # param -> text; a parameter bounding several stats is shown once
    for low_param, high_param in bound_params(op).values():
        for param in (low_param, high_param):
            value = _param_value(op, param)
            if param and value is not None:
                given = config.get(param)
                shown[param] = f"{param}={given if isinstance(given, str) else format(value, 'g')}"
    parts = list(shown.values())
    if op.reversed_range:
        parts.append("reversed_range")
    if op.any_or_all == "all":
        parts.append("any_or_all=all")
    return ", ".join(parts)
