"""Data-Juicer's four field selectors, on the data and expectations of Data-Juicer's own tests
(tests/ops/selector/ in Data-Juicer): same parameters, same rows kept, in the same order where DJ checks it."""

import pytest
from datasets import Dataset

from djlite.ops.selector.frequency_specified_field_selector import FrequencySpecifiedFieldSelector
from djlite.ops.selector.random_selector import RandomSelector
from djlite.ops.selector.range_specified_field_selector import RangeSpecifiedFieldSelector
from djlite.ops.selector.topk_specified_field_selector import TopkSpecifiedFieldSelector

SUFFIX = [".pdf", ".docx", ".txt", ".html", ".pdf", ".py", ".java", ".html", ".pdf", ".xml"]
KEY1_COUNT = [5, 63, 23, 48, 78, 3, 67, 32, 33, 48]
KEY2_COUNT = [34, 243, None, 18, 551, 89, 354.32, 354.32, 33, 18]


def dataset(key2=KEY2_COUNT, key2_type=None):
    rows = [
        {"text": f"sample {i}", "meta": {"suffix": SUFFIX[i], "key1": {"key2": {"count": c}, "count": KEY1_COUNT[i]}}}
        for i, c in enumerate(key2)
    ]
    return Dataset.from_list(rows)


def kept(op, ds) -> list[int]:
    out, _ = op.process(ds)
    return [int(t.split()[1]) for t in out["text"]]


def test_random_counts():
    assert len(kept(RandomSelector(select_ratio=0.2, select_num=5), dataset())) == 2
    assert len(kept(RandomSelector(select_ratio=0.5, select_num=4), dataset())) == 4
    assert kept(RandomSelector(), dataset()) == list(range(10))
    a = kept(RandomSelector(select_num=4, seed=1), dataset())
    assert a == kept(RandomSelector(select_num=4, seed=1), dataset()) and len(set(a)) == 4


def test_topk():
    op = TopkSpecifiedFieldSelector(field_key="meta.key1.key2.count", top_ratio=0.2, topk=5, reverse=True)
    assert kept(op, dataset()) == [4, 6]
    op = TopkSpecifiedFieldSelector(field_key="meta.key1.key2.count", top_ratio=0.5, topk=4, reverse=True)
    assert kept(op, dataset()) == [4, 6, 7, 1]
    smallest = KEY2_COUNT[:9] + [2]
    op = TopkSpecifiedFieldSelector(field_key="meta.key1.key2.count", top_ratio=0.5, topk=3, reverse=False)
    assert kept(op, dataset(smallest)) == [9, 3, 8]


def test_topk_string_values():
    strings = ["34", "243", "", None, "551", "89", "354.32", "354.32", "33", "2"]
    op = TopkSpecifiedFieldSelector(field_key="meta.key1.key2.count", top_ratio=0.5, topk=3, reverse=False)
    assert kept(op, dataset(strings)) == [9, 8, 0]


def test_frequency():
    op = FrequencySpecifiedFieldSelector(field_key="meta.suffix", top_ratio=0.3, topk=5, reverse=True)
    assert kept(op, dataset()) == [0, 4, 8, 3, 7]
    counts = [34, 243, None, 34, 551, 89, 354.32, 354.32, 34, 18]
    op = FrequencySpecifiedFieldSelector(field_key="meta.key1.key2.count", top_ratio=0.4, topk=2, reverse=True)
    assert kept(op, dataset(counts)) == [0, 3, 8, 6, 7]
    op = FrequencySpecifiedFieldSelector(field_key="meta.key1.key2.count", top_ratio=0.4, topk=2, reverse=False)
    assert kept(op, dataset(counts)) == [1, 2]


def test_range():
    op = RangeSpecifiedFieldSelector(
        field_key="meta.key1.count", lower_percentile=0.78, upper_percentile=0.9, lower_rank=5, upper_rank=10
    )
    assert sorted(kept(op, dataset())) == [1, 6]
    op = RangeSpecifiedFieldSelector(
        field_key="meta.key1.key2.count", lower_percentile=0.3, upper_percentile=1.0, lower_rank=7, upper_rank=9
    )
    assert sorted(kept(op, dataset())) == [6, 7]
    op = RangeSpecifiedFieldSelector(
        field_key="meta.key1.key2.count", lower_percentile=0.7, upper_percentile=1.0, lower_rank=3, upper_rank=9
    )
    assert sorted(kept(op, dataset(KEY2_COUNT[:9] + [2]))) == [6, 7]


def test_range_list_values():
    lists = [[34.0], [243.0], [], None, [551.0], [89.0], [354.32], [354.32], [33.0, 33.0], [2.0, 2.0]]
    op = RangeSpecifiedFieldSelector(
        field_key="meta.key1.key2.count", lower_percentile=0.0, upper_percentile=0.5, lower_rank=2, upper_rank=4
    )
    assert sorted(kept(op, dataset(lists))) == [8, 9]


def test_missing_key_names_the_field():
    op = TopkSpecifiedFieldSelector(field_key="meta.nope", topk=2)
    with pytest.raises(KeyError, match="meta.nope"):
        op.process(dataset())


def test_stat_key_and_recipe_parameters():
    ds = Dataset.from_list([{"text": f"sample {i}", "__dj__stats__": {"video_duration": [float(i)]}} for i in range(6)])
    assert kept(TopkSpecifiedFieldSelector(field_key="video_duration", topk=2), ds) == [5, 4]
    assert kept(TopkSpecifiedFieldSelector(field_key="__dj__stats__.video_duration", topk=2), ds) == [5, 4]
