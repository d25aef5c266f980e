import heapq

from djlite.ops.base import Selection, Selector
from djlite.ops.selector.fields import field_values, first_column, stats_to_number
from djlite.registry import register_op


@register_op("topk_specified_field_selector")
class TopkSpecifiedFieldSelector(Selector):
    """Keep the samples with the largest (`reverse`) or smallest values of `field_key`, best first.

    As Data-Juicer: `field_key` is a dotted path (`meta.key1.count`, `__dj__stats__.video_duration`; a bare stat
    key works too); the count is `topk`, or int(top_ratio * n) capped by topk; a string value is parsed as a
    number, a list gives its mean, and a missing value sorts last. Ties keep dataset order. With neither count
    nor field_key, or at most one sample, every sample stays.
    """

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

    def select(self, table, show_num: int = 0) -> Selection:
        n = table.num_rows
        if n <= 1 or not self.field_key or not (self.top_ratio or self.topk):
            return Selection(list(range(n)))
        count = self.top_ratio * n if self.top_ratio else self.topk
        if self.topk and self.topk < count:
            count = self.topk
        values = [stats_to_number(v, self.reverse) for v in field_values(table, self.field_key)]
        pick = heapq.nlargest if self.reverse else heapq.nsmallest
        return Selection(pick(int(count), range(n), values.__getitem__))
