"""Every odd dataset line is a load error record with its line number; nothing crashes, nothing is rewritten."""

import json

import pytest
from helpers import read_jsonl, video_samples, write_recipe

import djlite
from djlite.fields import Fields

ODD_LINES = {
    "number media": b'{"text": "a", "videos": [123]}',
    "null media": b'{"text": "a", "videos": [null]}',
    "nested media": b'{"text": "a", "videos": [["a.mp4"]]}',
    "scalar media": b'{"text": "a", "videos": 5}',
    "non-utf8 path": b'{"text": "a", "videos": ["\xff\xfe.mp4"]}',
    "stats not an object": b'{"text": "a", "videos": [], "__dj__stats__": 5}',
    "stat of the wrong type": b'{"text": "a", "videos": [], "__dj__stats__": {"video_duration": "abc"}}',
    "stat not a list": b'{"text": "a", "videos": [], "__dj__stats__": {"video_duration": 3}}',
    "internal column": b'{"text": "a", "videos": [], "__dj__dropped_by__": 1}',
    "reserved errors": b'{"text": "a", "videos": [], "__dj__errors__": []}',
    "duplicate key": b'{"text": "a", "text": "b", "videos": []}',
    "mixed type": b'{"text": 5, "videos": []}',
    "nan": b'{"text": "a", "videos": [], "score": NaN}',
    "lone surrogate": b'{"text": "\\udc80", "videos": []}',
    "not an object": b"[1, 2]",
    "not json": b"{broken",
}


def run_with_lines(tmp_path, clip, lines: list[bytes]):
    good = json.dumps(video_samples([clip])[0] | {"id": "first", "score": 0.5}).encode()
    dataset = tmp_path / "data.jsonl"
    dataset.write_bytes(b"\n".join([good, *lines]) + b"\n")
    recipe = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])
    return djlite.run(str(recipe))


@pytest.mark.parametrize("name", sorted(ODD_LINES))
def test_odd_line_is_a_load_error_record_with_its_line_number(tmp_path, clips, name):
    res = run_with_lines(tmp_path, clips["moving"], [ODD_LINES[name]])
    assert res.summary["kept"] == 1 and res.summary["errored"] == 1 and res.summary["balanced"]
    (bad,) = read_jsonl(res.errors_path)
    assert bad[Fields.errors][0]["op"] == "load"
    assert "line 2" in bad[Fields.errors][0]["error"]
    (kept,) = read_jsonl(res.result_paths[0])
    assert kept["text"] == "<__dj__video> clip" and kept["id"] == "first" and kept["score"] == 0.5


def test_file_whose_every_line_is_invalid_runs_to_an_errors_file(tmp_path):
    odd = [line for name, line in ODD_LINES.items() if name != "mixed type"]  # mixed only after another line
    dataset = tmp_path / "data.jsonl"
    dataset.write_bytes(b"\n".join(odd) + b"\n")
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    assert res.summary["kept"] == 0 and res.summary["errored"] == len(odd)
    assert len(read_jsonl(res.errors_path)) == len(odd)


def test_mixed_types_never_rewrite_other_rows(tmp_path, clips):
    rows = [video_samples([clips["moving"]])[0] | {"id": i, "tag": "good"} for i in range(3)]
    lines = [json.dumps(r).encode() for r in rows] + [b'{"id": "x", "tag": 7, "videos": []}']
    dataset = tmp_path / "data.jsonl"
    dataset.write_bytes(b"\n".join(lines) + b"\n")
    res = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {}}])))
    kept = read_jsonl(res.result_paths[0])
    assert [r["id"] for r in kept] == [0, 1, 2] and {r["tag"] for r in kept} == {"good"}
    (bad,) = read_jsonl(res.errors_path)
    assert "line 4" in bad[Fields.errors][0]["error"] and "'id'" in bad[Fields.errors][0]["error"]


def test_export_writes_valid_utf8_json_without_bare_nan(tmp_path):
    from djlite.exporter import write_rows

    path = tmp_path / "o.jsonl"
    write_rows([{"text": "caf\udce9", "s": float("nan"), "t": [float("inf"), 1.5]}], str(path))
    raw = path.read_bytes()
    raw.decode("utf-8")
    assert b"NaN" not in raw and b"Infinity" not in raw
    (row,) = [json.loads(line) for line in raw.splitlines()]
    assert row == {"text": "caf\udce9", "s": None, "t": [None, 1.5]}


def test_hidden_files_and_folders_of_a_folder_dataset_are_not_read(tmp_path, clips):
    folder = tmp_path / "ds"
    (folder / ".djlite_scratch").mkdir(parents=True)
    sample = json.dumps(video_samples([clips["moving"]])[0])
    (folder / "a.jsonl").write_text(sample + "\n")
    (folder / ".djlite_scratch" / "0-a.jsonl").write_text(sample + "\n")
    (folder / ".res.jsonl.tmp123").write_text(sample + "\n")
    from djlite.dataset import dataset_files

    assert dataset_files(str(folder)) == [str(folder / "a.jsonl")]
