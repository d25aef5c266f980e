"""video_deduplicator: Data-Juicer's md5 values and test table, through the op and through a real run."""

import datasets
import pytest
from helpers import read_jsonl, write_jsonl, write_recipe

import djlite
from djlite.errors import VideoError
from djlite.fields import HashKeys
from djlite.ops.deduplicator.video_deduplicator import VideoDeduplicator


def dedup(op, rows: list[dict]) -> list[dict]:
    """Data-Juicer's test procedure: map compute_hash over the dataset, then process it."""
    dataset = datasets.Dataset.from_list(rows).map(op.compute_hash)
    kept, _ = op.process(dataset)
    return kept.select_columns(list(rows[0])).to_list()


@pytest.fixture(scope="module")
def v(dj_videos):
    """v(1) = the path of video1.mp4. v6=v1, v7=v2, v8=v9=v3 are byte-identical copies."""
    return lambda i: str(dj_videos / f"video{i}.mp4")


def test_md5_values_match_data_juicer(v):
    def videohash(*ids):
        return VideoDeduplicator().compute_hash({"videos": [v(i) for i in ids]})[HashKeys.videohash]

    assert videohash(1) == "80ba761f8dcb683028e8c3acd90405dd"
    assert videohash(2) == "d5b9a580bf6ea649ae500c01c501ed1e"
    assert videohash(3) == videohash(3, 3) == "a91e6fa57d4c0e7820f46dd44c55777e"
    assert videohash(1, 2) == "eca753faf9f0f84db8354feeba09ed3a"
    assert videohash(2, 1) == "04c808764174b31351d422b816a3dbaf"
    assert videohash() == ""


def test_data_juicer_table(v):
    def rows(*groups, texts=None):
        return [{"videos": [v(i) for i in group], "text": texts[n] if texts else ""} for n, group in enumerate(groups)]

    def kept(*groups, **kw):
        return [
            [int(p.split("video")[-1][:-4]) for p in row["videos"]]
            for row in dedup(VideoDeduplicator(**kw), rows(*groups))
        ]

    assert kept([1]) == [[1]]
    assert kept([1], [2], [3]) == [[1], [2], [3]]
    assert kept([1], [2], [2]) == [[1], [2]]
    assert kept([1], [2], [3], [6], [7], [8], [9]) == [[1], [2], [3]]
    assert kept([1, 2, 3], [6, 7, 8], [9, 7], [8, 7]) == [[1, 2, 3], [9, 7]]
    assert kept([1, 2], [2, 1], [6, 7], [9, 9], [8, 8]) == [[1, 2], [2, 1], [9, 9]]

    texts = [f"<__dj__video> text{i}" for i in (1, 2, 3, 1, 5, 3, 7)]
    out = dedup(VideoDeduplicator(consider_text=True), rows([1], [2], [3], [6], [7], [8], [9], texts=texts))
    assert [row["text"][-5:] for row in out] == ["text1", "text2", "text3", "text5", "text7"]

    texts = ["<__dj__video> t1 <__dj__video> t2 <__dj__video> t3"] * 2 + [
        "<__dj__video> t3 <__dj__video> t2",
        "<__dj__video> t6 <__dj__video> t2",
    ]
    out = dedup(VideoDeduplicator(consider_text=True), rows([1, 2, 3], [6, 7, 8], [9, 7], [8, 7], texts=texts))
    assert [row["text"] for row in out] == [texts[0], texts[2], texts[3]]


def test_samples_without_videos(v):
    groups = [[], [v(2)], [v(3)], [], [v(7)], [], [v(9)]]
    texts = ["t1", "t2", "t3", "t1", "t5", "t3", "t7"]
    rows = [{"videos": g, "text": t} for g, t in zip(groups, texts)]
    # Without text, every sample with no video is kept.
    assert [r["text"] for r in dedup(VideoDeduplicator(), rows)] == ["t1", "t2", "t3", "t1", "t3"]
    # With text, samples without videos dedupe by text alone, as in Data-Juicer.
    rows[-1]["text"] = "t3"
    assert [(len(r["videos"]), r["text"]) for r in dedup(VideoDeduplicator(consider_text=True), rows)] == [
        (0, "t1"),
        (1, "t2"),
        (1, "t3"),
        (1, "t5"),
        (0, "t3"),
    ]


def test_bad_files_are_errors_naming_the_file(bad_videos, tmp_path):
    op = VideoDeduplicator()
    for name, reason in [
        ("derived__audio_only.mp4", "no video stream"),
        ("found__smallfiles_Mpeg4_no_streams.mp4", "no video stream"),
        ("derived__text_file.mp4", "cannot open"),
        ("derived__zero_bytes.mp4", "empty file"),
        ("found__smallfiles_AudioVideoInterleave_1x1.avi", "holds no packets"),
    ]:
        with pytest.raises(VideoError, match=reason) as info:
            op.compute_hash({"videos": [str(bad_videos / name)]})
        assert name in str(info.value)
    with pytest.raises(VideoError, match="file not found"):
        op.compute_hash({"videos": [str(tmp_path / "missing.mp4")]})


def test_run_on_data_juicer_videos_keeps_the_seven_distinct(dj_videos, bad_videos, tmp_path):
    names = [f"video{i}.mp4" for i in range(1, 12)]
    rows = [{"text": f"<__dj__video> {n}", "videos": [str(dj_videos / n)]} for n in names]
    rows.append({"text": "<__dj__video> broken", "videos": [str(bad_videos / "derived__audio_only.mp4")]})
    dataset = write_jsonl(tmp_path / "data.jsonl", rows)
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_deduplicator": {}}], np=1)
    res = djlite.run(str(recipe))
    kept = [row["videos"][0].rsplit("/", 1)[-1] for row in read_jsonl(res.result_paths[0])]
    assert kept == [f"video{i}.mp4" for i in (1, 2, 3, 4, 5, 10, 11)]
    assert res.summary["filtered"] == 4 and res.summary["errored"] == 1 and res.summary["balanced"]
    assert HashKeys.videohash not in read_jsonl(res.result_paths[0])[0]
