import numbers

from djlite.ops.base import Selection
from djlite.ops.selector.fields import TopFieldSelector, field_values
from djlite.registry import register_op


@register_op("frequency_specified_field_selector")
class FrequencySpecifiedFieldSelector(TopFieldSelector):
    """Keep the samples whose `field_key` value is among the most (`reverse`) or least frequent values.

    As Data-Juicer: samples are grouped by value (a string, a number or None), groups ordered by size (ties in
    order of first appearance), and the first `topk` groups, or int(top_ratio * number of groups) capped by
    topk, are kept, group after group, each in dataset order. With neither count nor field_key, or at most one
    sample, every sample stays.
    """

    def select(self, table, show_num: int = 0) -> Selection:
        n = table.num_rows
        if n <= 1 or not self.field_key:
            return Selection(list(range(n)))
        groups: dict = {}
        for i, value in enumerate(field_values(table, self.field_key)):
            if value is not None and not isinstance(value, (str, numbers.Number)):
                raise ValueError(
                    f"field_key {self.field_key!r}: row {i} holds a {type(value).__name__}; "
                    "frequency_specified_field_selector groups strings, numbers or None"
                )
            groups.setdefault(value, []).append(i)
        if not (self.top_ratio or self.topk):
            return Selection(list(range(n)))
        count = self.top_ratio * len(groups) if self.top_ratio else self.topk
        if self.topk and self.topk < count:
            count = self.topk
        ordered = sorted(groups.values(), key=len, reverse=self.reverse)[: int(count)]
        return Selection([i for group in ordered for i in group])
