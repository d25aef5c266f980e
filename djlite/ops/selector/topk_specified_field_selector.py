import heapq

from djlite.ops.base import Selection
from djlite.ops.selector.fields import TopFieldSelector, field_values, stats_to_number
from djlite.registry import register_op


@register_op("topk_specified_field_selector")
class TopkSpecifiedFieldSelector(TopFieldSelector):
    """Keep the samples with the largest (`reverse`) or smallest values of `field_key`, best first.

    As Data-Juicer: `field_key` is a dotted path (`meta.key1.count`, `__dj__stats__.video_duration`; a bare stat
    key works too); the count is `topk`, or int(top_ratio * n) capped by topk; a string value is parsed as a
    number, a list gives its mean, and a missing value sorts last. Ties keep dataset order. With neither count
    nor field_key, or at most one sample, every sample stays.
    """

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
