import numpy as np

from djlite.ops.base import Selection, Selector
from djlite.registry import register_op


@register_op("random_selector")
class RandomSelector(Selector):
    """Keep a seeded random subset of `select_num` samples or a `select_ratio` of them, whichever is fewer.

    Data-Juicer's parameters and counts: with a ratio the count is int(select_ratio * n), capped by select_num;
    with neither, or a dataset of at most one sample, every sample stays. Rows come out in draw order (a
    seeded permutation, numpy PCG64), so the same `seed` gives the same selection in the same order on either
    executor. Data-Juicer samples with `datasets`' shuffle(seed=42); the rows picked differ from its, the
    counts do not.
    """

    def __init__(self, select_ratio: float | None = None, select_num: int | None = None, seed: int = 42, **kwargs):
        super().__init__(**kwargs)
        if select_ratio is not None and not 0 <= select_ratio <= 1:
            raise ValueError(f"select_ratio must be in [0, 1], got {select_ratio}")
        if select_num is not None and select_num < 1:
            raise ValueError(f"select_num must be a positive int, got {select_num}")
        self.select_ratio = select_ratio
        self.select_num = select_num
        self.seed = seed

    @property
    def input_columns(self) -> list[str]:
        return []

    def count(self, n: int) -> int | None:
        if not self.select_ratio:
            return self.select_num
        count = int(self.select_ratio * n)
        return min(count, self.select_num) if self.select_num else count

    def select(self, table, show_num: int = 0) -> Selection:
        n = table.num_rows
        count = self.count(n)
        if n <= 1 or count is None or count >= n:
            return Selection(list(range(n)))
        return Selection(np.random.default_rng(self.seed).permutation(n)[:count].tolist())
