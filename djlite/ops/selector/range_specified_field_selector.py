import heapq

from djlite.ops.base import Selection, Selector
from djlite.ops.selector.fields import field_values, first_column, stats_to_number
from djlite.registry import register_op


@register_op("range_specified_field_selector")
class RangeSpecifiedFieldSelector(Selector):
    """Keep the samples ranked (ascending by `field_key`) after the lower bound and up to the upper bound.

    As Data-Juicer: the lower bound is the larger of int(lower_percentile * n) and lower_rank, the upper the
    smaller of int(upper_percentile * n) and upper_rank (never below the lower); the kept samples are those of
    ascending rank lower+1 .. upper, in descending order of the value. A string value is parsed as a number, a
    list gives its mean, and a missing value ranks first. Without a lower or an upper bound, without
    field_key, or with at most one sample, every sample stays.
    """

    def __init__(
        self,
        field_key: str = "",
        lower_percentile: float | None = None,
        upper_percentile: float | None = None,
        lower_rank: int | None = None,
        upper_rank: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("lower_percentile", lower_percentile), ("upper_percentile", upper_percentile)):
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name, value in (("lower_rank", lower_rank), ("upper_rank", upper_rank)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive int, got {value}")
        self.field_key = field_key
        self.lower_percentile = lower_percentile
        self.upper_percentile = upper_percentile
        self.lower_rank = lower_rank
        self.upper_rank = upper_rank

    @property
    def input_columns(self) -> list[str]:
        return [first_column(self.field_key)] if self.field_key else []

    def select(self, table, show_num: int = 0) -> Selection:
        n = table.num_rows
        no_lower = self.lower_percentile is None and self.lower_rank is None
        no_upper = self.upper_percentile is None and self.upper_rank is None
        if n <= 1 or not self.field_key or no_lower or no_upper:
            return Selection(list(range(n)))
        lower, upper = 0, n
        if self.lower_percentile is not None:
            lower = int(self.lower_percentile * n)
        if self.lower_rank is not None:
            lower = max(lower, self.lower_rank)
        if self.upper_percentile is not None:
            upper = int(self.upper_percentile * n)
        if self.upper_rank is not None:
            upper = min(upper, self.upper_rank)
        upper = max(lower, upper)
        values = [stats_to_number(v) for v in field_values(table, self.field_key)]
        smallest = heapq.nsmallest(upper, range(n), values.__getitem__)
        return Selection(heapq.nlargest(upper - lower, smallest, values.__getitem__))
